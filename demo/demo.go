// Package demo is the built-in demo backend that `ssegw --demo` (make run)
// starts next to the gateway, so a newcomer sees what the gateway is in a
// browser. It is an ordinary backend of the gateway:
//
//   - its connect callback accepts every stream and binds it to the channel
//     "demo";
//   - once a second it sends each open stream a clock event and publishes a
//     stats event to "demo" with the gateway's live numbers (open streams,
//     events written per second, channels), which it reads from the
//     gateway's /metrics on the control port; all of it in one
//     /internal/batch;
//   - its page opens an EventSource to the gateway, shows those numbers and
//     lists the stream's events, and has a box whose text the backend
//     publishes to "demo" (POST /publish): open the page in two tabs and a
//     publish reaches both.
//
// The browser only ever talks to this backend's port and the gateway's
// public port; the control port stays between the backend and the gateway.
//
// It runs an ordinary net/http server plus one ticker goroutine; the set of
// open tokens and the previous metrics reading are guarded by a mutex.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"
)

const (
	// Channel is the channel every demo stream is bound to.
	Channel = "demo"
	// tickEvery is the period of the clock and stats events.
	tickEvery = time.Second
	// controlTimeout bounds one request to the control port.
	controlTimeout = 5 * time.Second
)

// Backend is the demo backend.
type Backend struct {
	GatewayURL string // public URL of the gateway, for the page
	ControlURL string // base URL of the gateway's control port
	Token      string // control bearer token, if any
	Log        *slog.Logger

	mu     sync.Mutex
	tokens map[string]string // token -> request path
	last   reading           // the previous /metrics reading, for rates
	srv    *http.Server
	ln     net.Listener
	stop   chan struct{}
	client *http.Client
}

// Start listens on addr and starts the clock.
func (b *Backend) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	b.ln, b.tokens, b.stop = ln, map[string]string{}, make(chan struct{})
	b.client = &http.Client{Timeout: controlTimeout}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /callback", b.callback)
	mux.HandleFunc("POST /publish", b.publish)
	mux.HandleFunc("GET /{$}", b.page)
	b.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = b.srv.Serve(ln) }()
	go b.clock()
	return nil
}

// URL is the demo backend's base URL.
func (b *Backend) URL() string { return "http://" + b.ln.Addr().String() }

// CallbackURL is where the gateway should send callbacks.
func (b *Backend) CallbackURL() string { return b.URL() + "/callback" }

// Close stops the backend.
func (b *Backend) Close() {
	close(b.stop)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = b.srv.Shutdown(ctx)
}

type callbackBody struct {
	Action  string `json:"action"`
	Reason  string `json:"reason"`
	Token   string `json:"token"`
	Request struct {
		URL string `json:"url"`
	} `json:"request"`
}

func (b *Backend) callback(w http.ResponseWriter, r *http.Request) {
	var cb callbackBody
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&cb); err != nil {
		http.Error(w, "bad callback", http.StatusBadRequest)
		return
	}
	b.mu.Lock()
	switch cb.Action {
	case "connect":
		b.tokens[cb.Token] = cb.Request.URL
	case "disconnect":
		delete(b.tokens, cb.Token)
	}
	n := len(b.tokens)
	b.mu.Unlock()
	b.Log.Info("demo backend callback", "action", cb.Action, "reason", cb.Reason, "token", cb.Token, "url", cb.Request.URL, "open", n)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"bindings":["` + Channel + `"]}`))
}

// clock sends, once a second, every open stream the time and the demo
// channel the gateway's numbers, in one batch.
func (b *Backend) clock() {
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case now := <-t.C:
			if err := b.tick(now); err != nil {
				b.Log.Warn("demo clock", "err", err)
			}
		}
	}
}

func (b *Backend) tick(now time.Time) error {
	stats, statsErr := b.stats(now)
	b.mu.Lock()
	tokens := make([]string, 0, len(b.tokens))
	for t := range b.tokens {
		tokens = append(tokens, t)
	}
	b.mu.Unlock()
	if len(tokens) == 0 {
		return statsErr
	}
	sort.Strings(tokens)
	var body bytes.Buffer
	data, _ := json.Marshal(now.Format("15:04:05"))
	for _, t := range tokens {
		fmt.Fprintf(&body, `{"token":%q,"event":{"name":"clock","data":%s}}`+"\n", t, data)
	}
	if statsErr == nil {
		js, _ := json.Marshal(stats)
		item, _ := json.Marshal(map[string]any{"channel": Channel, "event": map[string]any{"name": "stats", "data": string(js)}})
		body.Write(append(item, '\n'))
	}
	if _, err := b.control(http.MethodPost, "/internal/batch", &body); err != nil {
		return err
	}
	return statsErr
}

// errControl reports an answer of the control port other than 200.
var errControl = errors.New("demo: control port answered")

// maxControlAnswer bounds what the demo reads from the control port (the
// /metrics page of a gateway is tens of kilobytes).
const maxControlAnswer = 4 << 20

// control sends one request to the gateway's control port and returns the
// answer's body.
func (b *Backend) control(method, path string, body io.Reader) ([]byte, error) {
	req, err := http.NewRequest(method, b.ControlURL+path, body)
	if err != nil {
		return nil, err
	}
	if b.Token != "" {
		req.Header.Set("Authorization", "Bearer "+b.Token)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, maxControlAnswer))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w %s: %s", errControl, resp.Status, bytes.TrimSpace(out))
	}
	return out, nil
}

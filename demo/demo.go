// Package demo is the built-in demo backend that `ssegw --demo` (make run)
// starts next to the gateway: it accepts every stream in its connect callback,
// sends each open stream a clock event every second through the control port's
// /internal/batch, and serves a page that opens an EventSource to the gateway
// and shows what arrives, so a newcomer sees the whole loop work in a browser.
//
// It runs an ordinary net/http server plus one ticker goroutine; the set of
// open tokens is guarded by a mutex.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Backend is the demo backend.
type Backend struct {
	GatewayURL string // public URL of the gateway, for the page
	ControlURL string // base URL of the gateway's control port
	Token      string // control bearer token, if any
	Log        *slog.Logger

	mu     sync.Mutex
	tokens map[string]string // token -> request path
	srv    *http.Server
	ln     net.Listener
	stop   chan struct{}
}

// Start listens on addr and starts the clock.
func (b *Backend) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	b.ln, b.tokens, b.stop = ln, map[string]string{}, make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("POST /callback", b.callback)
	mux.HandleFunc("GET /", b.page)
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
	_, _ = w.Write([]byte(`{"bindings":["demo"]}`))
}

// clock sends every open stream the time once a second, in one batch.
func (b *Backend) clock() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		select {
		case <-b.stop:
			return
		case now := <-t.C:
			if err := b.tick(client, now); err != nil {
				b.Log.Warn("demo clock", "err", err)
			}
		}
	}
}

func (b *Backend) tick(client *http.Client, now time.Time) error {
	b.mu.Lock()
	tokens := make([]string, 0, len(b.tokens))
	for t := range b.tokens {
		tokens = append(tokens, t)
	}
	b.mu.Unlock()
	if len(tokens) == 0 {
		return nil
	}
	sort.Strings(tokens)
	var body bytes.Buffer
	data, _ := json.Marshal(now.Format("15:04:05"))
	for _, t := range tokens {
		fmt.Fprintf(&body, `{"token":%q,"event":{"name":"clock","data":%s}}`+"\n", t, data)
	}
	req, err := http.NewRequest(http.MethodPost, b.ControlURL+"/internal/batch", &body)
	if err != nil {
		return err
	}
	if b.Token != "" {
		req.Header.Set("Authorization", "Bearer "+b.Token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return errors.New("control port answered " + resp.Status)
	}
	return nil
}

func (b *Backend) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = pageTmpl.Execute(w, struct{ GatewayURL string }{b.GatewayURL + "/demo"})
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>ssegw demo</title>
<style>body{font:15px system-ui,sans-serif;margin:2em;max-width:50em}#log{font-family:monospace;white-space:pre;background:#f4f4f4;padding:1em;height:20em;overflow:auto}</style>
</head><body>
<h1>ssegw demo</h1>
<p>This page opens <code>new EventSource({{.GatewayURL}})</code>. The demo backend accepts the stream
and sends it a <code>clock</code> event every second through the gateway's control port.</p>
<p>State: <b id="state">connecting</b> &middot; clock: <b id="clock">-</b></p>
<div id="log"></div>
<script>
const log = (s) => { const el = document.getElementById('log'); el.textContent += s + "\n"; el.scrollTop = el.scrollHeight; };
const es = new EventSource({{.GatewayURL}});
es.addEventListener('ready', () => { document.getElementById('state').textContent = 'ready'; log('ready'); });
es.addEventListener('clock', (e) => { document.getElementById('clock').textContent = e.data; log('clock ' + e.data); });
es.onmessage = (e) => log('message ' + e.data);
// A rejected stream ends with a 200, so the browser would reconnect: stop it.
es.addEventListener('rejected', (e) => { es.close(); document.getElementById('state').textContent = 'rejected'; log('rejected ' + e.data); });
es.onerror = () => { document.getElementById('state').textContent = 'reconnecting'; log('error; readyState=' + es.readyState); };
</script></body></html>`))

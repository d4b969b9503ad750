// Package backend is a stub backend for the gateway's connect and disconnect
// callbacks (CONTRACT.md section 5), with knobs for latency, rejection and
// bindings. It counts connects, accepts, rejects and disconnects by reason,
// checks the exactly-once rule (one disconnect per accepted token, none for
// rejected ones), and serves the counts at GET /stats as JSON and the tokens
// of the streams accepted and not yet disconnected at GET /tokens (a JSON
// array, for unicast sends); PUT /latency with a duration body ("50ms")
// changes the connect delay while it runs. Any other path takes callbacks (POST).
// With RequestIDs every accepted connect is answered with a request_id of its
// own (the stream's token) beside the shared bindings, so a gateway in
// RabbitMQ mode gives each stream its own queue bound to those routing keys.
//
// Ownership: net/http runs each callback on its own goroutine; all counters
// and the token table sit behind one mutex in Server.
package backend

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// maxCallbackBytes bounds a callback body (a head of 16 KiB, JSON-escaped).
	maxCallbackBytes = 1 << 20
	// DefaultRejectStatus is the status of a rejection (CONTRACT 4.1: 400, 401 or 403).
	DefaultRejectStatus = http.StatusUnauthorized
	// MaxLatency bounds the connect delay PUT /latency may set (the
	// gateway's callback timeout is of this order; more only tests timeouts).
	MaxLatency = 30 * time.Second
	// maxLatencyBody bounds the PUT /latency body ("250ms").
	maxLatencyBody = 64
	// DefaultRejectReason is the reason phrase of a rejection.
	DefaultRejectReason = "Rejected by bench backend"
)

var (
	// ErrBadCallback reports a body that is not a connect or disconnect callback.
	ErrBadCallback = errors.New("backend: not a connect or disconnect callback")
	// ErrBadReason reports a reason phrase holding CR or LF.
	ErrBadReason = errors.New("backend: reason phrase must not hold CR or LF")
	// ErrBadRatio reports a reject ratio outside 0..1.
	ErrBadRatio = errors.New("backend: reject ratio must be within 0..1")
)

// Config sets the knobs.
type Config struct {
	Latency      time.Duration // delay before answering a connect
	RejectRatio  float64       // share of connects rejected, 0..1, spread evenly
	RejectStatus int           // 0: DefaultRejectStatus
	RejectReason string        // "": DefaultRejectReason
	Bindings     []string      // channels returned as {"bindings":[...]}
	// RequestIDs answers each accepted connect with "request_id": its token
	// (unique per stream): in RabbitMQ mode, one queue per stream.
	RequestIDs bool
}

// Stats is served at GET /stats.
type Stats struct {
	Connects       int64            `json:"connects"`
	Accepted       int64            `json:"accepted"`
	Rejected       int64            `json:"rejected"`
	Disconnects    int64            `json:"disconnects"`
	ByReason       map[string]int64 `json:"disconnects_by_reason"`
	Open           int64            `json:"open"`                  // accepted and not yet disconnected
	DuplicateDisc  int64            `json:"duplicate_disconnects"` // a second disconnect for a token
	UnknownDisc    int64            `json:"unknown_disconnects"`   // disconnect for a token never accepted
	BadCallbacks   int64            `json:"bad_callbacks"`
	ConnectLatency string           `json:"connect_latency"`
}

type tokenState uint8

const (
	tokAccepted tokenState = iota + 1
	tokRejected
	tokDisconnected
)

// Server is the stub backend.
type Server struct {
	cfg     Config
	latency atomic.Int64 // connect delay in nanoseconds (Config.Latency, changed by PUT /latency)
	mu      sync.Mutex
	st      Stats
	tokens  map[string]tokenState
}

// New validates cfg and returns a server.
func New(cfg Config) (*Server, error) {
	if cfg.RejectStatus == 0 {
		cfg.RejectStatus = DefaultRejectStatus
	}
	if cfg.RejectReason == "" {
		cfg.RejectReason = DefaultRejectReason
	}
	if strings.ContainsAny(cfg.RejectReason, "\r\n") {
		return nil, ErrBadReason
	}
	if cfg.RejectRatio < 0 || cfg.RejectRatio > 1 || math.IsNaN(cfg.RejectRatio) {
		return nil, fmt.Errorf("%w: %v", ErrBadRatio, cfg.RejectRatio)
	}
	s := &Server{cfg: cfg, st: Stats{ByReason: map[string]int64{}}, tokens: map[string]tokenState{}}
	s.latency.Store(int64(cfg.Latency))
	return s, nil
}

// Stats returns a copy of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.st
	out.ByReason = make(map[string]int64, len(s.st.ByReason))
	for k, v := range s.st.ByReason {
		out.ByReason[k] = v
	}
	out.ConnectLatency = time.Duration(s.latency.Load()).String()
	return out
}

// OpenTokens lists the tokens accepted and not yet disconnected (any order).
func (s *Server) OpenTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, s.st.Open)
	for t, st := range s.tokens {
		if st == tokAccepted {
			out = append(out, t)
		}
	}
	return out
}

// ServeHTTP serves GET /stats and callbacks on any other path.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/stats" {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.Stats())
		return
	}
	if r.Method == http.MethodGet && r.URL.Path == "/tokens" {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.OpenTokens())
		return
	}
	if r.Method == http.MethodPut && r.URL.Path == "/latency" {
		b, _ := io.ReadAll(io.LimitReader(r.Body, maxLatencyBody))
		d, err := time.ParseDuration(strings.TrimSpace(string(b)))
		if err != nil || d < 0 || d > MaxLatency {
			http.Error(w, fmt.Sprintf("want a duration within 0..%v", MaxLatency), http.StatusBadRequest)
			return
		}
		s.latency.Store(int64(d))
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "POST callbacks, GET /stats, GET /tokens, PUT /latency", http.StatusMethodNotAllowed)
		return
	}
	cb, err := decode(r.Body)
	if err != nil {
		s.count(func(st *Stats) { st.BadCallbacks++ })
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if cb.Action == "connect" {
		s.connect(w, r, cb.Token)
		return
	}
	s.disconnect(cb.Token, cb.Reason)
	w.WriteHeader(http.StatusOK)
}

type callback struct {
	Action string `json:"action"`
	Token  string `json:"token"`
	Reason string `json:"reason"`
}

func decode(body io.Reader) (callback, error) {
	var cb callback
	if err := json.NewDecoder(io.LimitReader(body, maxCallbackBytes)).Decode(&cb); err != nil {
		return cb, err
	}
	if cb.Token == "" || (cb.Action != "connect" && cb.Action != "disconnect") {
		return cb, ErrBadCallback
	}
	return cb, nil
}

func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.st)
	s.mu.Unlock()
}

// rejectNext decides, evenly spread and deterministic, whether the n-th
// connect (1-based) is rejected: floor(n*r) grows at exactly those n.
func rejectNext(n int64, ratio float64) bool {
	return math.Floor(float64(n)*ratio) > math.Floor(float64(n-1)*ratio)
}

func (s *Server) connect(w http.ResponseWriter, r *http.Request, token string) {
	if d := time.Duration(s.latency.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	s.mu.Lock()
	s.st.Connects++
	reject := rejectNext(s.st.Connects, s.cfg.RejectRatio)
	if reject {
		s.st.Rejected++
		s.tokens[token] = tokRejected
	} else {
		s.st.Accepted++
		s.st.Open++
		s.tokens[token] = tokAccepted
	}
	s.mu.Unlock()
	if reject {
		s.writeReject(w)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	answer := map[string]any{"bindings": nonNil(s.cfg.Bindings)}
	if s.cfg.RequestIDs {
		answer["request_id"] = token
	}
	b, _ := json.Marshal(answer)
	w.Write(b)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// writeReject answers with the configured status and reason phrase, which
// net/http cannot set, so the response is written on the hijacked connection.
func (s *Server) writeReject(w http.ResponseWriter) {
	body := fmt.Sprintf(`{"error":%q}`, s.cfg.RejectReason)
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, body, s.cfg.RejectStatus)
		return
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	writeRaw(rw.Writer, s.cfg.RejectStatus, s.cfg.RejectReason, body)
}

func writeRaw(bw *bufio.Writer, status int, reason, body string) {
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, reason, len(body), body)
	bw.Flush()
}

func (s *Server) disconnect(token, reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.tokens[token] {
	case tokAccepted:
		s.tokens[token] = tokDisconnected
		s.st.Open--
	case tokDisconnected:
		s.st.DuplicateDisc++
	default:
		s.st.UnknownDisc++
	}
	s.st.Disconnects++
	s.st.ByReason[reason]++
}

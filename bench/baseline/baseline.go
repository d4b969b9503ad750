// Package baseline is an SSE server written the way a typical Go user would:
// net/http, one goroutine per stream, a channel hub. It exposes the gateway's
// shape so the scenarios can measure it side by side: SSE on any GET path
// (chunked, Content-Type text/event-stream, ": heartbeat\n\n" every
// Heartbeat), and on a second listener POST /internal/publish and GET /stats.
//
// Ownership: each stream's handler goroutine owns its ResponseWriter and its
// heartbeat ticker; the hub (one mutex) owns the channel → subscribers map;
// publish handlers only push encoded frames into subscriber channels.
package baseline

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"ssegw/bench/ssewire"
)

const (
	// DefaultHeartbeat matches the gateway's default HEARTBEAT_INTERVAL_SECONDS.
	DefaultHeartbeat = 15 * time.Second
	// subscriberBuffer is each stream's queue of frames; a full queue drops
	// the frame (counted) rather than stalling the publisher.
	subscriberBuffer = 64
	// shutdownGrace bounds Serve's graceful stop.
	shutdownGrace = 2 * time.Second
	// ReadHeaderTimeout bounds a request head on both listeners, as the
	// gateway's HEADER_TIMEOUT_MS default does.
	ReadHeaderTimeout = 10 * time.Second
)

// Config of the baseline server.
type Config struct {
	Heartbeat time.Duration // 0: DefaultHeartbeat; <0: no heartbeats
}

// Stats is what the server saw, served at GET /stats.
type Stats struct {
	StreamsOpen   int64 `json:"streams_open"`
	StreamsTotal  int64 `json:"streams_total"`
	Publishes     int64 `json:"publishes"`
	Deliveries    int64 `json:"deliveries"` // frames written to streams
	Dropped       int64 `json:"dropped"`    // frames dropped on a full queue
	HeartbeatsOut int64 `json:"heartbeats"`
}

type subscriber struct {
	ch chan []byte
}

// Server is the baseline SSE server.
type Server struct {
	cfg  Config
	mu   sync.Mutex
	subs map[string]map[*subscriber]struct{}

	open, total, publishes, deliveries, dropped, heartbeats atomic.Int64
}

// New returns a server.
func New(cfg Config) *Server {
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	return &Server{cfg: cfg, subs: map[string]map[*subscriber]struct{}{}}
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{StreamsOpen: s.open.Load(), StreamsTotal: s.total.Load(), Publishes: s.publishes.Load(),
		Deliveries: s.deliveries.Load(), Dropped: s.dropped.Load(), HeartbeatsOut: s.heartbeats.Load()}
}

// Serve runs the stream listener and the control listener until ctx ends.
func (s *Server) Serve(ctx context.Context, streams, control net.Listener) error {
	return ServePair(ctx, streams, http.HandlerFunc(s.stream), control, s.ControlHandler())
}

// ControlHandler serves POST /internal/publish and GET /stats.
func (s *Server) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /internal/publish", s.publish)
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) { ssewire.WriteJSON(w, s.Stats()) })
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		ssewire.WriteMetrics(w, s.Stats().StreamsOpen)
	})
	return mux
}

func (s *Server) subscribe(channel string) *subscriber {
	sub := &subscriber{ch: make(chan []byte, subscriberBuffer)}
	s.mu.Lock()
	m := s.subs[channel]
	if m == nil {
		m = map[*subscriber]struct{}{}
		s.subs[channel] = m
	}
	m[sub] = struct{}{}
	s.mu.Unlock()
	return sub
}

func (s *Server) unsubscribe(channel string, sub *subscriber) {
	s.mu.Lock()
	delete(s.subs[channel], sub)
	if len(s.subs[channel]) == 0 {
		delete(s.subs, channel)
	}
	s.mu.Unlock()
}

// stream serves one SSE stream on its own goroutine.
func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", "GET")
		ssewire.WriteError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "Method not allowed")
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		ssewire.WriteError(w, http.StatusInternalServerError, "INTERNAL", "streaming unsupported")
		return
	}
	channel := r.URL.Query().Get("channel")
	if channel == "" {
		channel = ssewire.DefaultChannel
	}
	sub := s.subscribe(channel)
	defer s.unsubscribe(channel, sub)
	s.open.Add(1)
	s.total.Add(1)
	defer s.open.Add(-1)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	s.pump(r.Context(), w, fl, sub)
}

// pump writes frames and heartbeats until the client leaves.
func (s *Server) pump(ctx context.Context, w http.ResponseWriter, fl http.Flusher, sub *subscriber) {
	var tick <-chan time.Time
	if s.cfg.Heartbeat > 0 {
		t := time.NewTicker(s.cfg.Heartbeat)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-sub.ch:
			if _, err := w.Write(f); err != nil {
				return
			}
			fl.Flush()
			s.deliveries.Add(1)
		case <-tick:
			if _, err := w.Write([]byte(ssewire.Heartbeat)); err != nil {
				return
			}
			fl.Flush()
			s.heartbeats.Add(1)
		}
	}
}

// publish encodes the frame once and queues it to every subscriber.
func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	p, err := ssewire.DecodePublish(r.Body)
	if err != nil {
		ssewire.PublishError(w, err)
		return
	}
	frame := ssewire.AppendFrame(nil, p.Event)
	n := 0
	s.mu.Lock()
	for sub := range s.subs[p.Channel] {
		select {
		case sub.ch <- frame:
			n++
		default:
			s.dropped.Add(1)
		}
	}
	s.mu.Unlock()
	s.publishes.Add(1)
	ssewire.WriteJSON(w, ssewire.PublishReply{Status: "ok", Connections: n})
}

// ServePair serves two handlers on two listeners until ctx ends or one fails.
func ServePair(ctx context.Context, aLn net.Listener, a http.Handler, bLn net.Listener, b http.Handler) error {
	sa := &http.Server{Handler: a, ReadHeaderTimeout: ReadHeaderTimeout}
	sb := &http.Server{Handler: b, ReadHeaderTimeout: ReadHeaderTimeout}
	errc := make(chan error, 2)
	go func() { errc <- sa.Serve(aLn) }()
	go func() { errc <- sb.Serve(bLn) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	// Streams never finish on their own: close rather than wait for them.
	sa.Close()
	sb.Shutdown(sctx)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

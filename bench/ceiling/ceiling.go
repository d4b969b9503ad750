// Package ceiling is the "bare write loop": the physical limit of SSE fan-out
// on this machine, measured in the same run as the server under test. It
// accepts connections, skips each request head (no parsing), answers the SSE
// response head, and on each publish or heartbeat writes one pre-encoded
// chunk to every connected socket in a tight loop. No HTTP beyond that, no
// per-connection bookkeeping but the descriptor.
//
// Ownership: one loop goroutine per core (Config.Loops), each with its own
// SO_REUSEPORT listener, epoll instance and descriptor list; nothing else
// touches them. The control handler (net/http on its own listener, same shape
// as the gateway: POST /internal/publish, GET /stats) and the heartbeat ticker
// post commands to the loops and wait for the replies.
package ceiling

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"ssegw/bench/ssewire"
)

const (
	// DefaultHeartbeat matches the gateway's default interval.
	DefaultHeartbeat = 15 * time.Second
	// listenBacklog is the accept queue; the kernel caps it at somaxconn.
	listenBacklog = 4096
	// epollBatch is the most readiness events taken per epoll_wait.
	epollBatch = 512
	// readBufferBytes is the per-loop buffer for request heads and EOF checks.
	readBufferBytes = 64 << 10
	// controlHeaderTimeout bounds a control request head (the gateway's default).
	controlHeaderTimeout = 10 * time.Second
	// controlShutdownTimeout bounds the wait for publishes in flight when
	// the server stops (a broadcast takes milliseconds; after this the
	// control connections are closed under them).
	controlShutdownTimeout = 2 * time.Second
	// fdReserve keeps descriptors free for the control port and the process
	// below the open-file limit; accept pauses at the limit instead of failing.
	fdReserve = 256
)

// ErrBadAddress reports a listen address that is not an IPv4 address:port.
var ErrBadAddress = errors.New("ceiling: listen address must be IPv4 address:port")

// Config of the ceiling server.
type Config struct {
	Loops     int           // 0: one per CPU
	Heartbeat time.Duration // 0: DefaultHeartbeat; <0: none
}

// Stats is what the server saw, served at GET /stats.
type Stats struct {
	StreamsOpen  int64 `json:"streams_open"`
	StreamsTotal int64 `json:"streams_total"`
	Publishes    int64 `json:"publishes"`
	Deliveries   int64 `json:"deliveries"` // frames written whole
	ShortWrites  int64 `json:"short_writes"`
	Heartbeats   int64 `json:"heartbeats"`
	AcceptPaused int64 `json:"accept_paused"`
}

type counters struct {
	fds, open, total, publishes, deliveries, short, heartbeats, paused atomic.Int64
}

// Server is the ceiling server.
type Server struct {
	cfg   Config
	loops []*loop
	c     counters
	addr  netip.AddrPort
}

// New returns a server; Listen binds it.
func New(cfg Config) *Server {
	if cfg.Loops <= 0 {
		cfg.Loops = runtime.NumCPU()
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	return &Server{cfg: cfg}
}

// Listen binds one SO_REUSEPORT listener per loop on addr (port 0 picks one).
func (s *Server) Listen(addr string) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return ErrBadAddress
	}
	limit := fdLimit()
	for i := 0; i < s.cfg.Loops; i++ {
		lfd, bound, err := listenReusePort(ap)
		if err != nil {
			s.closeAll()
			return err
		}
		ap = bound // later loops share the port the first one got
		l, err := newLoop(s, lfd, limit)
		if err != nil {
			unix.Close(lfd)
			s.closeAll()
			return err
		}
		s.loops = append(s.loops, l)
	}
	s.addr = ap
	return nil
}

// Addr is the bound stream address.
func (s *Server) Addr() netip.AddrPort { return s.addr }

// Stats returns the counters.
func (s *Server) Stats() Stats {
	return Stats{StreamsOpen: s.c.open.Load(), StreamsTotal: s.c.total.Load(), Publishes: s.c.publishes.Load(),
		Deliveries: s.c.deliveries.Load(), ShortWrites: s.c.short.Load(), Heartbeats: s.c.heartbeats.Load(),
		AcceptPaused: s.c.paused.Load()}
}

// Serve runs the loops, the heartbeat ticker and the control listener until
// ctx ends. Listen must have been called.
func (s *Server) Serve(ctx context.Context, control net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for _, l := range s.loops {
		go l.run()
	}
	beating := make(chan struct{})
	go func() {
		defer close(beating)
		if s.cfg.Heartbeat > 0 {
			s.heartbeats(ctx)
		}
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /internal/publish", s.publish)
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) { ssewire.WriteJSON(w, s.Stats()) })
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		ssewire.WriteMetrics(w, s.Stats().StreamsOpen)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: controlHeaderTimeout}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(control) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	// Nothing may broadcast once the loops stop: end the heartbeats and the
	// publishes in flight first.
	cancel()
	<-beating
	sctx, scancel := context.WithTimeout(context.Background(), controlShutdownTimeout)
	if srv.Shutdown(sctx) != nil {
		srv.Close()
	}
	scancel()
	s.closeAll()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// broadcast writes frame on every loop and returns the sockets written whole.
func (s *Server) broadcast(frame []byte) int {
	replies := make(chan int, len(s.loops))
	for _, l := range s.loops {
		l.post(command{frame: frame, reply: replies})
	}
	n := 0
	for range s.loops {
		n += <-replies
	}
	return n
}

func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	p, err := ssewire.DecodePublish(r.Body)
	if err != nil {
		ssewire.PublishError(w, err)
		return
	}
	frame := ssewire.AppendChunk(nil, ssewire.AppendFrame(nil, p.Event))
	n := s.broadcast(frame)
	s.c.deliveries.Add(int64(n))
	s.c.publishes.Add(1)
	ssewire.WriteJSON(w, ssewire.PublishReply{Status: "ok", Connections: n})
}

func (s *Server) heartbeats(ctx context.Context) {
	frame := ssewire.AppendChunk(nil, []byte(ssewire.Heartbeat))
	t := time.NewTicker(s.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.c.heartbeats.Add(int64(s.broadcast(frame)))
		}
	}
}

// closeAll stops every loop and waits for it.
func (s *Server) closeAll() {
	for _, l := range s.loops {
		l.stop()
	}
	s.loops = nil
}

// listenReusePort opens a non-blocking SO_REUSEPORT listener.
func listenReusePort(ap netip.AddrPort) (int, netip.AddrPort, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, ap, err
	}
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		unix.Close(fd)
		return -1, ap, fmt.Errorf("ceiling: bind %s: %w", ap, err)
	}
	if err := unix.Listen(fd, listenBacklog); err != nil {
		unix.Close(fd)
		return -1, ap, err
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		unix.Close(fd)
		return -1, ap, err
	}
	in4 := sa.(*unix.SockaddrInet4)
	return fd, netip.AddrPortFrom(netip.AddrFrom4(in4.Addr), uint16(in4.Port)), nil
}

func fdLimit() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return 1024
	}
	return int(rl.Cur)
}

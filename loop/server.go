package loop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"ssegw/callback"
	"ssegw/headstore"
	"ssegw/history"
	"ssegw/sse"
)

// Options configure a Server. Every field is required unless it says otherwise.
type Options struct {
	Addr               string // host:port of the public listener
	EventLoops         int
	CallbackConfigured bool
	Callbacks          *callback.Client // nil when CALLBACK_URL is unset
	HeartbeatInterval  time.Duration
	HeaderTimeout      time.Duration
	WriteTimeout       time.Duration
	WriteBufferLimit   int
	MaxHeaderBytes     int
	MaxConnections     int // open streams
	MaxPendingConnects int
	MaxSockets         int // public sockets; beyond, a connection is shed at accept
	EventFormat        sse.Format
	TCPKeepAlive       time.Duration // 0 disables
	TCPUserTimeout     time.Duration // 0 disables
	Logger             *slog.Logger
	ReadyExtra         func() []string // optional: more /readyz reasons (e.g. a broker)
	// ConnectFailureStatus answers a failed connect callback (timeout,
	// network error, 429, 5xx) with its status, as the Node SSEGateway did;
	// false (CONNECT_FAILURE=retry, the default) answers it like a shed request.
	ConnectFailureStatus bool
	// Queues is the RabbitMQ transport (nil: RabbitMQ mode off).
	Queues Queues
	// History keeps published events for resume (nil: HISTORY_SIZE=0, or
	// cluster mode, where Resumer is the history).
	History *history.History
	// Resumer replays from the cluster's history (nil unless cluster mode
	// with HISTORY_SIZE > 0).
	Resumer Resumer

	// NodeID is carried in every token, so a cluster can route a command to
	// the gateway that holds the stream (0 when running alone).
	NodeID uint16
	// OnChannel, if set, is called on a loop goroutine when a channel gets its
	// first subscriber on that loop (bound true) or loses its last (false). It
	// must not block: hand the news to another goroutine.
	OnChannel func(name string, bound bool)
	// DisconnectRequest is what a stream keeps of its request head for its
	// disconnect callback (DISCONNECT_REQUEST; zero: all of it, see heads.go).
	DisconnectRequest headstore.Mode
}

// Server is the gnet event handler and the entry point for backend commands.
type Server struct {
	gnet.BuiltinEventEngine
	opts  Options
	log   *slog.Logger
	debug bool // per-connection lifecycle lines (LOG_LEVEL=debug); checked before building them
	eng   gnet.Engine

	loopsMu sync.RWMutex
	loops   []*loopState
	byLoop  sync.Map // gnet.EventLoop -> *loopState

	booted     chan struct{}
	stopping   atomic.Bool // draining: shed new streams, /readyz 503
	sockets    atomic.Int64
	streams    atomic.Int64 // open SSE streams, pending connects included
	pendingN   atomic.Int64 // connects waiting for their callback
	registered atomic.Int64 // streams reachable by token
	flushing   atomic.Int64 // connections closing with bytes still queued (fFlushing)
	stopCh     chan struct{}
	runDone    chan struct{} // closed when gnet.Run has returned
	epoch      time.Time

	gaugesOnce    sync.Once
	gauges        *metrics.Set
	slowLog       rateLimiter
	drainWindow   atomic.Int64
	shedLingering atomic.Int64 // shed-at-accept sockets waiting for the client's FIN
}

// New makes a Server; Run starts it.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Server{opts: o, log: o.Logger, debug: o.Logger.Enabled(context.Background(), slog.LevelDebug), booted: make(chan struct{}), stopCh: make(chan struct{}), runDone: make(chan struct{}), epoch: time.Now()}
}

// Run serves until the engine stops. It returns an error if the engine could
// not start, or if it stopped without Stop being called (gnet reports a fatal
// accept error only in its log and returns nil).
func (s *Server) Run() error {
	defer close(s.runDone)
	err := gnet.Run(s, "tcp://"+s.opts.Addr,
		gnet.WithNumEventLoop(s.opts.EventLoops),
		gnet.WithMulticore(true),
		gnet.WithReusePort(true), // each loop accepts for itself: no accept backlog burst past the cap (DESIGN.md 2)
		gnet.WithReuseAddr(true), // quick restarts
		gnet.WithTCPKeepAlive(s.opts.TCPKeepAlive),
		gnet.WithTCPKeepInterval(keepAliveInterval(s.opts.TCPKeepAlive)),
		gnet.WithTCPKeepCount(keepAliveProbes),
		gnet.WithLogger(gnetLogger{s.log}),
	)
	if err == nil && !s.stopping.Load() {
		err = ErrEngineDied
	}
	return err
}

// ErrEngineDied means gnet stopped on its own (for instance after a fatal
// accept error); the process should exit non-zero and be restarted.
var ErrEngineDied = errors.New("loop: event engine stopped unexpectedly")

// keepAliveProbes is how many unanswered keepalive probes end a connection.
const keepAliveProbes = 3

func keepAliveInterval(idle time.Duration) time.Duration {
	if idle <= 0 {
		return 0
	}
	iv := idle / 3
	if iv < time.Second {
		iv = time.Second
	}
	return iv
}

// Booted is closed once the listener is up.
func (s *Server) Booted() <-chan struct{} { return s.booted }

// OnBoot keeps the engine handle.
func (s *Server) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	close(s.booted)
	return gnet.None
}

// OnOpen admits a connection: a slot in its loop, a parser and a head deadline.
func (s *Server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	ls := s.loopOf(c.EventLoop())
	cs := &conn{c: c}
	c.SetContext(cs)
	cs.slot = ls.alloc(cs)
	if n := s.sockets.Add(1); int(n) > s.opts.MaxSockets || s.stopping.Load() {
		return ls.shedAtAccept(cs)
	}
	connsAccepted.Inc()
	if s.opts.TCPUserTimeout > 0 {
		_ = unix.SetsockoptInt(c.Fd(), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(s.opts.TCPUserTimeout/time.Millisecond))
	}
	ls.startHead(cs, ls.now())
	return nil, gnet.None
}

// OnTraffic reads what the client sent.
func (s *Server) OnTraffic(c gnet.Conn) gnet.Action {
	cs := c.Context().(*conn)
	switch cs.state {
	case stHead:
		s.loopOf(c.EventLoop()).readHeads(cs)
	case stPending, stStream:
		s.loopOf(c.EventLoop()).discardAfterHead(cs)
	default:
		_, _ = c.Discard(-1)
	}
	return gnet.None
}

// OnClose ends a connection: whatever ended it, this is the last word.
func (s *Server) OnClose(c gnet.Conn, err error) gnet.Action {
	cs, _ := c.Context().(*conn)
	if cs == nil {
		return gnet.None
	}
	s.sockets.Add(-1)
	if cs.has(fShedLinger) {
		s.shedLingering.Add(-1)
	}
	if cs.has(fFlushing) {
		s.flushing.Add(-1)
	}
	s.loopOf(c.EventLoop()).closed(cs, err)
	return gnet.None
}

// peerGone reports whether a close error means the client went away (as
// opposed to a failure of ours).
func peerGone(err error) bool {
	return err == nil || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ETIMEDOUT) || errors.Is(err, syscall.EHOSTUNREACH)
}

// loopOf finds (or, the first time a loop is seen, makes) a loop's state. It
// runs on that loop's goroutine.
func (s *Server) loopOf(el gnet.EventLoop) *loopState {
	if v, ok := s.byLoop.Load(el); ok {
		return v.(*loopState)
	}
	s.loopsMu.Lock()
	ls := newLoopState(s, el, len(s.loops))
	s.loops = append(s.loops, ls)
	s.loopsMu.Unlock()
	s.byLoop.Store(el, ls)
	go ls.dispatch()
	return ls
}

func (s *Server) allLoops() []*loopState {
	s.loopsMu.RLock()
	defer s.loopsMu.RUnlock()
	return s.loops
}

// Streams is the number of open SSE streams (pending connects included).
func (s *Server) Streams() int64 { return s.streams.Load() }

// Registered is the number of streams a command can reach by token (open or
// pending).
func (s *Server) Registered() int { return int(s.registered.Load()) }

// Sockets is the number of open public sockets.
func (s *Server) Sockets() int64 { return s.sockets.Load() }

// TimersLive sums the live wheel timers of every loop (approximate while the
// loops run: each loop publishes its count after every step).
func (s *Server) TimersLive() int64 {
	var n int64
	for _, ls := range s.allLoops() {
		n += ls.timersGauge.Load()
	}
	return n
}

// Ready reports whether the gateway takes new streams, with the reasons if not.
func (s *Server) Ready() (bool, []string) {
	var reasons []string
	if !s.opts.CallbackConfigured {
		reasons = append(reasons, "CALLBACK_URL not configured")
	}
	if s.stopping.Load() {
		reasons = append(reasons, "shutting down")
	}
	if s.opts.ReadyExtra != nil {
		reasons = append(reasons, s.opts.ReadyExtra()...)
	}
	return len(reasons) == 0, reasons
}

// Configured reports whether CALLBACK_URL is set.
func (s *Server) Configured() bool { return s.opts.CallbackConfigured }

// Stop stops the engine at once (connections are closed by gnet without a
// drain; call Drain first for a graceful shutdown).
func (s *Server) Stop(ctx context.Context) error {
	s.stopping.Store(true)
	select {
	case <-s.stopCh:
	default:
		close(s.stopCh)
	}
	select {
	case <-s.booted:
	default:
		return nil
	}
	return s.eng.Stop(ctx)
}

// gnetLogger sends gnet's own log lines to slog.
type gnetLogger struct{ l *slog.Logger }

func sprintf(f string, a ...any) string { return fmt.Sprintf(f, a...) }

func (g gnetLogger) Debugf(f string, a ...any) {}
func (g gnetLogger) Infof(f string, a ...any)  {}
func (g gnetLogger) Warnf(f string, a ...any)  { g.l.Warn("gnet: " + sprintf(f, a...)) }
func (g gnetLogger) Errorf(f string, a ...any) { g.l.Error("gnet: " + sprintf(f, a...)) }
func (g gnetLogger) Fatalf(f string, a ...any) { g.l.Error("gnet: " + sprintf(f, a...)) }

// now is the server's clock for the history: nanoseconds since it started
// (the loops' clock too).
func (s *Server) now() int64 { return int64(time.Since(s.epoch)) }

// Now is the clock the history's times are on (for its Expire ticker).
func (s *Server) Now() int64 { return s.now() }

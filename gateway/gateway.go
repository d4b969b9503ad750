// Package gateway assembles one gateway process from its parts: the callback
// client (package callback), the event loops (package loop) on the public
// listener, and the control server (package control) on the loopback control
// listener. It owns their start order and their shutdown order (CONTRACT.md
// section 8): drain the streams, flush the disconnect callbacks, stop the
// control port, stop the engine.
//
// Start is called once, from the main goroutine (or a test); the parts run
// their own goroutines as their packages describe.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"ssegw/callback"
	"ssegw/cluster"
	"ssegw/config"
	"ssegw/control"
	"ssegw/history"
	"ssegw/loop"
	"ssegw/rabbitmq"
)

// Capacity derivation (CONTRACT.md section 2: MAX_CONNECTIONS defaults to what
// the open-file limit allows).
const (
	// fdReserve is kept free for the control listener and its clients, log
	// files, epoll and event fds; callback sockets come on top of it.
	fdReserve = 128
	// headroomDiv leaves 1/20 of the public sockets above MAX_CONNECTIONS for
	// connections that are not streams (heads in flight, health checks, shed
	// answers), so shedding itself never runs out of descriptors.
	headroomDiv = 20
)

// cutGrace is how long, after the shutdown deadline cut the streams left,
// the callback client may still send the disconnects that cut queued: the
// exit is non-zero anyway, but the backend should still learn of them.
const cutGrace = 500 * time.Millisecond

// Gateway is one running gateway.
type Gateway struct {
	cfg       *config.Config
	log       *slog.Logger
	Loop      *loop.Server
	Control   *control.Server
	Callbacks *callback.Client
	Cluster   *cluster.Cluster    // nil unless NATS_URL is set
	Rabbit    *rabbitmq.Transport // nil unless RABBITMQ_URL is set
	History   *history.History    // nil unless HISTORY_SIZE > 0
	channels  channelCount
	ctrlLn    net.Listener
	port      *loop.Reservation // the public port, held from before the engine binds it until it has stopped
	engineErr chan error
	stats     chan struct{}

	shutdownOnce sync.Once
	shutdownErr  error
}

// Capacity is what the open-file limit allows.
type Capacity struct {
	FDLimit        uint64
	MaxSockets     int
	MaxConnections int
}

// RaiseFDLimit raises the soft open-file limit to the hard one and derives the
// socket and stream capacity from it.
func RaiseFDLimit(cfg *config.Config) (Capacity, error) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		return Capacity{}, err
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
			return Capacity{}, err
		}
	}
	return deriveCapacity(rl.Cur, cfg), nil
}

func deriveCapacity(limit uint64, cfg *config.Config) Capacity {
	reserve := uint64(fdReserve + 2*cfg.CallbackConcurrency)
	c := Capacity{FDLimit: limit}
	if limit > reserve {
		c.MaxSockets = int(min(limit-reserve, 1<<30))
	} else {
		c.MaxSockets = 1
	}
	c.MaxConnections = cfg.MaxConnections
	if c.MaxConnections == 0 {
		c.MaxConnections = max(1, c.MaxSockets-c.MaxSockets/headroomDiv)
	}
	return c
}

// Start brings a gateway up and returns once both listeners accept.
func Start(cfg *config.Config, capacity Capacity, log *slog.Logger) (*Gateway, error) {
	port, err := loop.ReservePort(cfg.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("public listener %s: %w", cfg.ListenAddr, err)
	}
	g, err := start(cfg, capacity, log, port)
	if err != nil {
		port.Close()
		return nil, err
	}
	return g, nil
}

func start(cfg *config.Config, capacity Capacity, log *slog.Logger, port *loop.Reservation) (*Gateway, error) {
	g := &Gateway{cfg: cfg, log: log, engineErr: make(chan error, 1), stats: make(chan struct{}), port: port}
	addr := port.Addr
	var err error
	if cfg.NATSURL != "" {
		copts := cluster.Options{URL: cfg.NATSURL, Prefix: cfg.NATSSubjectPrefix,
			NodeID: cfg.NodeID, Name: "ssegw " + addr + " control " + cfg.ControlAddr, Logger: log}
		if cfg.HistorySize > 0 { // the cluster's history lives in JetStream
			copts.History = &cluster.HistoryOptions{Size: cfg.HistorySize, TTL: cfg.HistoryTTL, MaxBytes: cfg.HistoryMaxBytes, Format: cfg.EventFormat}
		}
		g.Cluster, err = cluster.Connect(copts)
		if err != nil {
			return nil, err
		}
	}
	if cfg.CallbackURL != "" {
		if g.Callbacks, err = callback.New(callback.Options{URL: cfg.CallbackURL, Timeout: cfg.CallbackTimeout,
			Concurrency: cfg.CallbackConcurrency, Pipeline: cfg.CallbackPipeline, MaxPending: cfg.MaxPendingConnects, Logger: log,
			DisconnectRetry: cfg.DisconnectRetry}); err != nil {
			return nil, fmt.Errorf("CALLBACK_URL: %w", err)
		}
		g.Callbacks.Start()
	}
	lopts := loop.Options{
		Addr: addr, EventLoops: cfg.EventLoops, CallbackConfigured: cfg.CallbackURL != "", Callbacks: g.Callbacks,
		HeartbeatInterval: cfg.HeartbeatInterval, HeaderTimeout: cfg.HeaderTimeout, WriteTimeout: cfg.WriteTimeout,
		WriteBufferLimit: cfg.WriteBufferLimit, MaxHeaderBytes: cfg.MaxHeaderBytes,
		MaxConnections: capacity.MaxConnections, MaxPendingConnects: cfg.MaxPendingConnects, MaxSockets: capacity.MaxSockets,
		EventFormat: cfg.EventFormat, DisconnectRequest: cfg.DisconnectRequest, TCPKeepAlive: cfg.TCPKeepAlive, TCPUserTimeout: cfg.TCPUserTimeout, Logger: log,
		ConnectFailureStatus: cfg.ConnectFailure == config.ConnectFailureStatus,
	}
	var commands control.Gateway
	var ready []func() []string
	if g.Cluster != nil {
		lopts.NodeID, g.channels.next = g.Cluster.NodeID(), g.Cluster.OnChannel
		ready = append(ready, g.Cluster.ReadyReasons)
	}
	if cfg.RabbitMQURL != "" {
		if g.Rabbit, err = rabbitmq.New(rabbitmq.Options{URL: cfg.RabbitMQURL, QueueTTL: cfg.RabbitMQQueueTTL,
			EnvPrefix: cfg.RabbitMQEnvPrefix, AutoDelete: cfg.RabbitMQAutoDelete, Format: cfg.EventFormat,
			Name: "ssegw " + addr, Logger: log}); err != nil {
			g.stopCallbacks()
			return nil, fmt.Errorf("RABBITMQ_URL: %w", err)
		}
		lopts.Queues = g.Rabbit
		ready = append(ready, g.Rabbit.ReadyReasons)
	}
	lopts.ReadyExtra = func() []string {
		var reasons []string
		for _, f := range ready {
			reasons = append(reasons, f()...)
		}
		return reasons
	}
	if cfg.HistorySize > 0 && g.Cluster != nil {
		lopts.Resumer = g.Cluster
	} else if cfg.HistorySize > 0 {
		if g.History, err = history.New(history.Options{Size: cfg.HistorySize, TTL: cfg.HistoryTTL, MaxBytes: cfg.HistoryMaxBytes}); err != nil {
			g.stopCallbacks()
			return nil, fmt.Errorf("HISTORY_SIZE: %w", err)
		}
		lopts.History = g.History
	}
	lopts.OnChannel = g.channels.onChannel
	g.Loop = loop.New(lopts)
	if g.Rabbit != nil {
		g.Rabbit.Start(g.Loop)
	}
	commands = g.Loop
	if g.Cluster != nil {
		g.Cluster.Attach(g.Loop)
		commands = g.Cluster
	}
	if g.ctrlLn, err = net.Listen("tcp", cfg.ControlAddr); err != nil {
		g.stopCallbacks()
		return nil, fmt.Errorf("control listener: %w", err)
	}
	g.Control = control.New(control.Options{Token: cfg.ControlToken, Gateway: g.gatewayMetrics(commands), Format: cfg.EventFormat, Logger: log,
		History: cfg.HistorySize > 0})
	go func() { g.engineErr <- g.Loop.Run() }()
	select {
	case <-g.Loop.Booted():
	case err := <-g.engineErr:
		g.ctrlLn.Close()
		g.stopCallbacks()
		return nil, fmt.Errorf("public listener %s: %w", addr, err)
	}
	go func() {
		if err := g.Control.HTTP.Serve(g.ctrlLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("control server stopped", "err", err)
		}
	}()
	go g.logStats()
	if g.History != nil {
		go g.expireHistory()
	}
	return g, nil
}

// historyExpireEvery is how often kept messages past HISTORY_TTL_SECONDS are
// dropped when no publish does it (entries' times are whole seconds).
const historyExpireEvery = time.Second

// historyExpireStep bounds the messages one Expire call drops (it holds the
// history's lock; the loops' replays read under it).
const historyExpireStep = 4096

func (g *Gateway) expireHistory() {
	t := time.NewTicker(historyExpireEvery)
	defer t.Stop()
	for {
		select {
		case <-g.stats:
			return
		case <-t.C:
			for g.History.Expire(g.Loop.Now(), historyExpireStep) {
			}
		}
	}
}

// PublicAddr is the public listener's host:port.
func (g *Gateway) PublicAddr() string { return g.port.Addr }

// ControlAddr is the control listener's host:port.
func (g *Gateway) ControlAddr() string { return g.ctrlLn.Addr().String() }

// EngineDone delivers the event engine's end: nil after Shutdown, an error if
// it stopped on its own.
func (g *Gateway) EngineDone() <-chan error { return g.engineErr }

// Shutdown drains and stops everything within ctx (CONTRACT.md section 8). It
// returns an error if the drain or the disconnect callbacks did not finish in time.
// A second call waits for the first and returns its result.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.shutdownOnce.Do(func() { g.shutdownErr = g.shutdown(ctx) })
	return g.shutdownErr
}

func (g *Gateway) shutdown(ctx context.Context) error {
	close(g.stats)
	drainErr := g.Loop.Drain(ctx, g.cfg.DrainWindow)
	var cbOK = true
	if g.Callbacks != nil {
		cbCtx := ctx
		if drainErr != nil { // the deadline passed: the disconnects of the cut streams get a short grace
			var cancel context.CancelFunc
			cbCtx, cancel = context.WithTimeout(context.Background(), cutGrace)
			defer cancel()
		}
		cbOK = g.Callbacks.Stop(cbCtx)
	}
	g.stopRabbit(ctx)
	ctrlCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = g.Control.HTTP.Shutdown(ctrlCtx)
	cancel()
	g.closeCluster()
	stopCtx, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	_ = g.Loop.Stop(stopCtx)
	g.port.Close()
	switch {
	case drainErr != nil:
		return fmt.Errorf("drain: %w", drainErr)
	case !cbOK:
		return errors.New("drain: disconnect callbacks still queued at the deadline")
	}
	return nil
}

// Kill stops at once, without a drain (a second signal).
func (g *Gateway) Kill() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = g.Control.HTTP.Close()
	g.closeCluster()
	g.stopRabbit(ctx)
	_ = g.Loop.Stop(ctx)
	g.port.Close()
}

// stopRabbit stops the RabbitMQ transport after the drain: consumers
// cancelled, written deliveries acked, the rest requeued by the broker. It
// gets what is left of ctx, at least rabbitStopMin.
func (g *Gateway) stopRabbit(ctx context.Context) {
	if g.Rabbit == nil {
		return
	}
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) < rabbitStopMin {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), rabbitStopMin)
		defer cancel()
	}
	if err := g.Rabbit.Stop(ctx); err != nil {
		g.log.Warn("RabbitMQ transport did not stop in time", "err", err)
	}
}

// rabbitStopMin is the least time the RabbitMQ transport gets to stop (its
// connection.close handshake), even after a drain that used up the deadline.
const rabbitStopMin = time.Second

// closeCluster leaves the cluster (after the streams are gone).
func (g *Gateway) closeCluster() {
	if g.Cluster != nil {
		g.Cluster.Close()
	}
}

func (g *Gateway) stopCallbacks() {
	g.closeCluster()
	if g.Callbacks != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		g.Callbacks.Stop(ctx)
	}
}

// statsEvery is the period of the info line with the headline numbers.
const statsEvery = time.Minute

func (g *Gateway) logStats() {
	t := time.NewTicker(statsEvery)
	defer t.Stop()
	for {
		select {
		case <-g.stats:
			return
		case <-t.C:
			g.log.Info("stats", "streams", g.Loop.Streams(), "sockets", g.Loop.Sockets(),
				"registered", g.Loop.Registered(), "timers", g.Loop.TimersLive())
		}
	}
}

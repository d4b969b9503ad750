// Command ssegw is the SSE gateway: browsers hold Server-Sent Events streams on
// the public port, the backend decides by callback whether to accept each one
// and sends events through the loopback control port. See README.md and
// CONTRACT.md for the wire contract; `ssegw --help` lists every setting.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"

	"ssegw/config"
	"ssegw/demo"
	"ssegw/gateway"
)

// defaultGCPercent is the garbage collector's target when GOGC is not set.
// The gateway's steady state allocates almost nothing (heartbeats and fan-out
// are allocation-free), so collections are rare and cheap, while the heap's
// headroom is paid per idle stream: at Go's default of 100 the process keeps
// about twice its live heap resident. 25 halves the RSS per idle stream
// (BENCHMARKS.md) for a few percent of CPU during connect storms, when the
// callback path makes garbage. Set GOGC to override.
const defaultGCPercent = 25

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	os.Exit(run())
}

func run() int {
	cfg, err := config.Load(os.Args[1:], os.Getenv, runtime.NumCPU(), os.Stderr)
	if errors.Is(err, config.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ssegw:", err)
		return 2
	}
	log := newLogger(cfg)
	capacity, err := gateway.RaiseFDLimit(cfg)
	if err != nil {
		log.Error("open-file limit", "err", err)
		return 1
	}
	var backend *demo.Backend
	if cfg.Demo {
		if backend, err = startDemo(cfg, log); err != nil {
			log.Error("demo backend", "err", err)
			return 1
		}
		defer backend.Close()
	}
	logConfig(log, cfg, capacity)
	// Catch signals before anything is announced: a supervisor that reads the
	// "listening" line may signal at once, and the default action would kill
	// the process without a drain.
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	g, err := gateway.Start(cfg, capacity, log)
	if err != nil {
		log.Error("start", "err", err)
		return 1
	}
	log.Info("listening", "public", g.PublicAddr(), "control", g.ControlAddr())
	if backend != nil {
		log.Info("demo ready: open the page in a browser", "url", backend.URL())
	}
	return waitAndShutdown(g, cfg, log, sig)
}

func startDemo(cfg *config.Config, log *slog.Logger) (*demo.Backend, error) {
	host, port, _ := net.SplitHostPort(cfg.ListenAddr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	b := &demo.Backend{GatewayURL: "http://" + net.JoinHostPort(host, port), ControlURL: "http://" + cfg.ControlAddr,
		Token: cfg.ControlToken, Log: log}
	if err := b.Start(cfg.DemoAddr); err != nil {
		return nil, err
	}
	if cfg.CallbackURL == "" {
		cfg.CallbackURL = b.CallbackURL()
	}
	return b, nil
}

func waitAndShutdown(g *gateway.Gateway, cfg *config.Config, log *slog.Logger, sig <-chan os.Signal) int {
	select {
	case err := <-g.EngineDone():
		log.Error("event engine stopped", "err", err)
		return 1
	case s := <-sig:
		log.Info("shutdown signal: draining", "signal", s.String(), "timeout", cfg.ShutdownTimeout, "window", cfg.DrainWindow)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- g.Shutdown(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			log.Error("shutdown incomplete", "err", err)
			return 1
		}
		log.Info("shutdown complete")
		return 0
	case s := <-sig:
		log.Warn("second signal: stopping now", "signal", s.String())
		g.Kill()
		return 1
	}
}

func newLogger(cfg *config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogJSON {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func logConfig(log *slog.Logger, cfg *config.Config, c gateway.Capacity) {
	token := "unset"
	if cfg.ControlToken != "" {
		token = "set"
	}
	log.Info("configuration",
		"listen", cfg.ListenAddr, "control", cfg.ControlAddr, "control_token", token,
		"callback_url", cfg.RedactedCallbackURL(), "callback_timeout", cfg.CallbackTimeout,
		"callback_concurrency", cfg.CallbackConcurrency, "max_pending_connects", cfg.MaxPendingConnects,
		"heartbeat", cfg.HeartbeatInterval, "write_buffer_limit", cfg.WriteBufferLimit,
		"write_timeout", cfg.WriteTimeout, "header_timeout", cfg.HeaderTimeout, "max_header_bytes", cfg.MaxHeaderBytes,
		"event_format", map[bool]string{true: "envelope", false: "sse"}[cfg.EventFormat != 0],
		"event_loops", cfg.EventLoops, "shutdown_timeout", cfg.ShutdownTimeout, "drain_window", cfg.DrainWindow,
		"tcp_keepalive", cfg.TCPKeepAlive, "tcp_user_timeout", cfg.TCPUserTimeout)
	log.Info("capacity", "open_file_limit", c.FDLimit, "max_sockets", c.MaxSockets, "max_connections", c.MaxConnections)
}

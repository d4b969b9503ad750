package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"ssegw/bench/backend"
	"ssegw/bench/baseline"
	"ssegw/bench/ceiling"
	"ssegw/bench/fleet"
)

// serverFlags are shared by the server subcommands.
type serverFlags struct {
	listen, control string
	heartbeat       time.Duration
	maxDur          time.Duration
	allowRemote     bool
}

func (s *serverFlags) register(fs *flag.FlagSet, control bool) {
	fs.StringVar(&s.listen, "listen", "127.0.0.1:3000", "SSE stream `address:port` (port 0 picks one)")
	if control {
		fs.StringVar(&s.control, "control", "127.0.0.1:3001", "control `address:port` (POST /internal/publish, GET /stats)")
	}
	fs.DurationVar(&s.heartbeat, "heartbeat", baseline.DefaultHeartbeat, "heartbeat interval (0 disables)")
	fs.DurationVar(&s.maxDur, "max-duration", defaultMaxDuration, "stop by itself after this long")
	fs.BoolVar(&s.allowRemote, "allow-remote", false, "permit non-loopback listen addresses")
}

// announce prints where a server listens: one JSON line on stdout (for
// scripts and tests) and a human line on stderr.
func announce(sio stdio, name string, addrs map[string]string) {
	m := map[string]any{"server": name, "pid": os.Getpid()}
	var human []string
	for k, v := range addrs {
		m[k] = v
		human = append(human, k+" "+v)
	}
	b, _ := json.Marshal(m)
	fmt.Fprintln(sio.out, string(b))
	fmt.Fprintf(sio.err, "%s: pid %d, %s\n", name, os.Getpid(), strings.Join(human, ", "))
}

func listenTCP(addr string, allowRemote bool) (net.Listener, error) {
	if err := checkListen(addr, allowRemote); err != nil {
		return nil, err
	}
	return net.Listen("tcp4", addr)
}

// listenTCPBacklog is listenTCP with an explicit listen backlog (0: Go's
// default, the kernel's somaxconn).
func listenTCPBacklog(addr string, allowRemote bool, backlog int) (net.Listener, error) {
	if backlog <= 0 {
		return listenTCP(addr, allowRemote)
	}
	if err := checkListen(addr, allowRemote); err != nil {
		return nil, err
	}
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("%w: --listen %q must be IPv4 address:port with --backlog", errUsage, addr)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "backend-listener")
	defer f.Close() // FileListener dups it
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		return nil, err
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return nil, err
	}
	return net.FileListener(f)
}

// heartbeatFlag maps the CLI's "0 disables" onto the packages' "<0 disables".
func heartbeatFlag(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

func runBaseline(ctx context.Context, args []string, sio stdio) error {
	fs := newFlagSet("baseline", sio.err)
	var sf serverFlags
	sf.register(fs, true)
	if err := parse(fs, args); err != nil {
		return err
	}
	sl, err := listenTCP(sf.listen, sf.allowRemote)
	if err != nil {
		return err
	}
	cl, err := listenTCP(sf.control, sf.allowRemote)
	if err != nil {
		sl.Close()
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, sf.maxDur)
	defer cancel()
	srv := baseline.New(baseline.Config{Heartbeat: heartbeatFlag(sf.heartbeat)})
	announce(sio, "baseline", map[string]string{"listen": sl.Addr().String(), "control": cl.Addr().String()})
	return srv.Serve(ctx, sl, cl)
}

func runCeiling(ctx context.Context, args []string, sio stdio) error {
	fs := newFlagSet("ceiling", sio.err)
	var sf serverFlags
	sf.register(fs, true)
	loops := fs.Int("loops", 0, "write loops (0: one per CPU)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := checkListen(sf.listen, sf.allowRemote); err != nil {
		return err
	}
	cl, err := listenTCP(sf.control, sf.allowRemote)
	if err != nil {
		return err
	}
	srv := ceiling.New(ceiling.Config{Loops: *loops, Heartbeat: heartbeatFlag(sf.heartbeat)})
	if err := srv.Listen(sf.listen); err != nil {
		cl.Close()
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, sf.maxDur)
	defer cancel()
	announce(sio, "ceiling", map[string]string{"listen": srv.Addr().String(), "control": cl.Addr().String()})
	return srv.Serve(ctx, cl)
}

func runBackend(ctx context.Context, args []string, sio stdio) error {
	fs := newFlagSet("backend", sio.err)
	listen := fs.String("listen", "127.0.0.1:4000", "callback `address:port` (POST any path; GET /stats)")
	latency := fs.Duration("latency", 0, "delay before answering a connect")
	ratio := fs.Float64("reject-ratio", 0, "share of connects rejected (0..1, spread evenly)")
	status := fs.Int("reject-status", backend.DefaultRejectStatus, "status of a rejection (400, 401 or 403)")
	reason := fs.String("reject-reason", backend.DefaultRejectReason, "reason phrase of a rejection")
	bindings := fs.String("bindings", "", "comma-separated channels returned as {\"bindings\":[...]}")
	requestIDs := fs.Bool("request-ids", false, "answer each accepted connect with its own request_id (its token): in RabbitMQ mode each stream gets its own queue, bound to --bindings as routing keys")
	maxDur := fs.Duration("max-duration", defaultMaxDuration, "stop by itself after this long")
	allowRemote := fs.Bool("allow-remote", false, "permit a non-loopback listen address")
	backlog := fs.Int("backlog", 0, "listen backlog (0: the kernel's somaxconn); a small one makes connects fail under a storm, as a backend that is restarting or overloaded")
	if err := parse(fs, args); err != nil {
		return err
	}
	cfg := backend.Config{Latency: *latency, RejectRatio: *ratio, RejectStatus: *status, RejectReason: *reason,
		RequestIDs: *requestIDs}
	if *bindings != "" {
		cfg.Bindings = strings.Split(*bindings, ",")
	}
	srv, err := backend.New(cfg)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	ln, err := listenTCPBacklog(*listen, *allowRemote, *backlog)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *maxDur)
	defer cancel()
	announce(sio, "backend", map[string]string{"listen": ln.Addr().String()})
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: baseline.ReadHeaderTimeout}
	go func() { <-ctx.Done(); hs.Close() }()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// runWorker is the child side of a multi-process run.
func runWorker(_ context.Context, _ []string, sio stdio) error {
	return fleet.RunWorker(sio.in, sio.out)
}

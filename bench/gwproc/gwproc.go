// Package gwproc runs what a scenario that restarts gateways needs to own:
// gateway processes (started, stopped with SIGTERM and started again on the
// same addresses), an embedded NATS server with JetStream for cluster mode,
// and the bench backend in this process.
//
// Decisions:
//   - The broker is nats-server embedded in the bench process (the module's
//     own v2.15 dependency, as the cluster and jetstore tests run it), with
//     JetStream on and its store in a directory the caller owns (a temporary
//     one, removed by the caller): no nats-server binary is needed and it
//     ends with the bench.
//   - The backend runs in this process too: the client load is in worker
//     processes, so this process only answers callbacks and publishes.
//   - A gateway is stopped only through its own PID (SIGTERM, then SIGKILL
//     after StopTimeout), and dies with the bench (Pdeathsig).
//
// Ownership: a Gateway belongs to the goroutine that started it; PID may be
// read from others. Broker and Backend are safe for concurrent use.
package gwproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"ssegw/bench/backend"
)

const (
	// StartTimeout bounds a gateway's start (/readyz 200) and the broker's.
	StartTimeout = 30 * time.Second
	// StopTimeout bounds a gateway's exit after SIGTERM before SIGKILL (its
	// drain is SHUTDOWN_TIMEOUT_SECONDS, which callers set below this).
	StopTimeout = 30 * time.Second
	// logTail is how much of a gateway's output is kept.
	logTail = 16 << 10
	// pollInterval is how often a start re-checks /readyz.
	pollInterval = 50 * time.Millisecond
)

// ErrStart reports a gateway or broker that did not come up.
var ErrStart = errors.New("gwproc: did not start")

// FreePort is a free loopback address (closed again: the child binds it).
func FreePort() (string, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// Gateway is one gateway process and the addresses it keeps across restarts.
type Gateway struct {
	Exe             string
	Listen, Control string
	Env             []string // added to this process's environment
	mu              sync.Mutex
	cmd             *exec.Cmd
	waited          chan struct{}
	exitErr         error
	log             *Tail
}

// StartGateway starts exe with LISTEN_ADDR=listen, CONTROL_ADDR=control and
// env, and waits for its control /readyz.
func StartGateway(ctx context.Context, exe, listen, control string, env []string) (*Gateway, error) {
	g := &Gateway{Exe: exe, Listen: listen, Control: control,
		Env: append([]string{"LISTEN_ADDR=" + listen, "CONTROL_ADDR=" + control}, env...)}
	return g, g.start(ctx)
}

func (g *Gateway) start(ctx context.Context) error {
	cmd := exec.Command(g.Exe)
	cmd.Env = append(os.Environ(), g.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	lg := &Tail{Max: logTail}
	cmd.Stdout, cmd.Stderr = lg, lg
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrStart, g.Exe, err)
	}
	waited := make(chan struct{})
	g.mu.Lock()
	g.cmd, g.waited, g.log, g.exitErr = cmd, waited, lg, nil
	g.mu.Unlock()
	go func() {
		err := cmd.Wait()
		g.mu.Lock()
		g.exitErr = err
		g.mu.Unlock()
		close(waited)
	}()
	if err := WaitReady(ctx, g.ControlURL()+"/readyz", waited); err != nil {
		g.Stop()
		return fmt.Errorf("%w: gateway %s: %v: %s", ErrStart, g.Control, err, lg)
	}
	return nil
}

// ControlURL is the control port's base URL.
func (g *Gateway) ControlURL() string { return "http://" + g.Control }

// PID is the running process's id.
func (g *Gateway) PID() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.cmd.Process.Pid
}

// Log is the tail of the process's output.
func (g *Gateway) Log() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.log.String()
}

// Stop sends SIGTERM to the process (by its PID) and waits for it to exit,
// killing it after StopTimeout. It returns the exit error (nil: exit 0).
func (g *Gateway) Stop() error {
	g.mu.Lock()
	cmd, waited := g.cmd, g.waited
	g.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-waited:
	default:
		_ = cmd.Process.Signal(syscall.SIGTERM)
		t := time.NewTimer(StopTimeout)
		select {
		case <-waited:
			t.Stop()
		case <-t.C:
			_ = cmd.Process.Kill()
			<-waited
			return fmt.Errorf("gwproc: gateway pid %d did not exit within %v of SIGTERM", cmd.Process.Pid, StopTimeout)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.exitErr
}

// Restart stops the gateway (SIGTERM, wait for its exit) and starts it
// again on the same addresses; it returns how long the gateway took to exit.
func (g *Gateway) Restart(ctx context.Context) (time.Duration, error) {
	t0 := time.Now()
	err := g.Stop()
	took := time.Since(t0)
	if err != nil {
		return took, fmt.Errorf("gwproc: stopping %s: %v", g.Control, err)
	}
	return took, g.start(ctx)
}

// WaitReady polls url until it answers 200, the process's exit (exited
// closed), ctx or StartTimeout.
func WaitReady(ctx context.Context, url string, exited <-chan struct{}) error {
	deadline := time.Now().Add(StartTimeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready in %v (last: %v)", url, StartTimeout, err)
		}
		t := time.NewTimer(pollInterval)
		select {
		case <-exited:
			t.Stop()
			return errors.New("exited")
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Tail keeps the last Max bytes written to it (a child process's output, for
// error messages); its methods are safe for concurrent use.
type Tail struct {
	Max int
	mu  sync.Mutex
	b   []byte
}

func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.Max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.Max:]...)
	}
	return len(p), nil
}

// String is what is kept, surrounding white space trimmed.
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}

// Broker is an embedded NATS server with JetStream on.
type Broker struct {
	srv *server.Server
}

// StartBroker starts it on a free loopback port with its JetStream store in dir.
func StartBroker(dir string) (*Broker, error) {
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: dir})
	if err != nil {
		return nil, err
	}
	go srv.Start()
	if !srv.ReadyForConnections(StartTimeout) {
		srv.Shutdown()
		return nil, fmt.Errorf("%w: nats-server", ErrStart)
	}
	return &Broker{srv: srv}, nil
}

// URL is the broker's client URL.
func (b *Broker) URL() string { return b.srv.ClientURL() }

// Close shuts the broker down and waits for it.
func (b *Broker) Close() {
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
}

// Backend is the bench backend served from this process.
type Backend struct {
	*backend.Server
	ln net.Listener
	hs *http.Server
}

// StartBackend serves a bench backend binding every stream to bindings on a
// free loopback port.
func StartBackend(bindings []string) (*Backend, error) {
	srv, err := backend.New(backend.Config{Bindings: bindings})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	b := &Backend{Server: srv, ln: ln, hs: &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = b.hs.Serve(ln) }()
	return b, nil
}

// URL is the backend's base URL (callbacks go to URL()+"/cb").
func (b *Backend) URL() string { return "http://" + b.ln.Addr().String() }

// Close stops serving.
func (b *Backend) Close() { b.hs.Close() }

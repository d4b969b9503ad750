package suite

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"ssegw/bench/gwproc"
)

const (
	// startTimeout bounds a child server's start (announce line or /readyz).
	startTimeout = 30 * time.Second
	// stopTimeout bounds a child's exit after SIGTERM before it is killed
	// (the gateway drains for SHUTDOWN_TIMEOUT_SECONDS, set below this).
	stopTimeout = 15 * time.Second
	// gatewayShutdownSeconds is the gateway's drain bound in the suite.
	gatewayShutdownSeconds = "2"
	// logTail is how much of a child's stderr is kept for error messages.
	logTail = 8 << 10
)

// ErrStart reports a child server that did not come up.
var ErrStart = errors.New("suite: server did not start")

// proc is a child server started by the suite; stopped by its own PID.
type proc struct {
	name     string
	cmd      *exec.Cmd
	announce map[string]any
	log      *gwproc.Tail
	waited   chan struct{}
	waitErr  error
}

func newProc(name, exe string, args, env []string) *proc {
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), env...)
	// The child dies with the suite even if the suite is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	p := &proc{name: name, cmd: cmd, log: &gwproc.Tail{Max: logTail}, waited: make(chan struct{})}
	cmd.Stderr = p.log
	return p
}

func (p *proc) start() error {
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrStart, p.name, err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.waited) }()
	return nil
}

// PID is the child's process id.
func (p *proc) PID() int { return p.cmd.Process.Pid }

// stop sends SIGTERM to this child (by its PID), then SIGKILL after stopTimeout.
func (p *proc) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.waited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.waited:
	case <-time.After(stopTimeout):
		p.cmd.Process.Kill()
		<-p.waited
	}
}

// startBenchServer runs "ssegw-bench <sub> args..." and reads its announce line.
func startBenchServer(exe, sub string, args ...string) (*proc, error) {
	p := newProc(sub, exe, append([]string{sub}, args...), nil)
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := p.start(); err != nil {
		return nil, err
	}
	lines := make(chan []byte, 1)
	go func() {
		br := bufio.NewReader(out)
		line, _ := br.ReadBytes('\n')
		lines <- line
		io.Copy(io.Discard, br)
	}()
	select {
	case line := <-lines:
		if err := json.Unmarshal(line, &p.announce); err != nil {
			p.stop()
			return nil, fmt.Errorf("%w: %s: bad announce %q: %s", ErrStart, sub, line, p.log)
		}
	case <-time.After(startTimeout):
		p.stop()
		return nil, fmt.Errorf("%w: %s: no announce line in %v", ErrStart, sub, startTimeout)
	}
	return p, nil
}

func (p *proc) addr(key string) string {
	s, _ := p.announce[key].(string)
	return s
}

// freePort finds a free loopback port (closed again; the child binds it).
func freePort() (string, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// gateway is the gateway child with its addresses.
type gateway struct {
	*proc
	listen, control string
	env             []string
}

// startGateway runs the gateway binary on free loopback ports with the
// bench backend as its callback and waits for its /readyz.
func startGateway(ctx context.Context, exe, callbackURL string, heartbeatSeconds int, extraEnv ...string) (*gateway, error) {
	listen, err := freePort()
	if err != nil {
		return nil, err
	}
	control, err := freePort()
	if err != nil {
		return nil, err
	}
	env := []string{"LISTEN_ADDR=" + listen, "CONTROL_ADDR=" + control, "CALLBACK_URL=" + callbackURL,
		fmt.Sprintf("HEARTBEAT_INTERVAL_SECONDS=%d", heartbeatSeconds), "LOG_LEVEL=warn",
		"SHUTDOWN_TIMEOUT_SECONDS=" + gatewayShutdownSeconds}
	env = append(env, extraEnv...)
	g := &gateway{proc: newProc("gateway", exe, nil, env), listen: listen, control: control, env: env}
	g.cmd.Stdout = g.log
	if err := g.start(); err != nil {
		return nil, err
	}
	if err := gwproc.WaitReady(ctx, "http://"+control+"/readyz", g.waited); err != nil {
		g.stop()
		return nil, fmt.Errorf("%w: gateway: %v: %s", ErrStart, err, g.log)
	}
	return g, nil
}

// pollInterval is how often start waits re-check.
const pollInterval = 50 * time.Millisecond

// quoteArgs renders a command line for the record.
func quoteArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'$&|;<>(){}*?") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// runOutput runs a short command (nginx -v) and returns its combined output.
func runOutput(exe string, args ...string) (string, error) {
	out, err := exec.Command(exe, args...).CombinedOutput()
	return string(out), err
}

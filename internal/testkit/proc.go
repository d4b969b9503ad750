package testkit

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is an external program a test runs (the gateway binary, nginx,
// Prometheus): started with its own arguments and environment, its stdout
// and stderr kept, and stopped by its PID when the test ends (SIGTERM, then
// SIGKILL after stopWait). Never by name: other engineers run the same
// programs on the machine.
type Proc struct {
	Name   string
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	exited chan struct{}
}

// stopWait bounds how long Stop waits after SIGTERM before SIGKILL.
const stopWait = 15 * time.Second

// StartProc starts path with args; env is added to the test's environment.
// When the test fails, the program's output is logged.
func StartProc(t testing.TB, name string, env []string, path string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Name: name, cmd: exec.Command(path, args...), exited: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	r, w := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = w, w
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s (%s): %v", name, path, err)
	}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out.Write(sc.Bytes())
			p.out.WriteByte('\n')
			p.mu.Unlock()
		}
	}()
	go func() {
		_ = p.cmd.Wait()
		_ = w.Close()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s (pid %d) output:\n%s", name, p.PID(), p.Output())
		}
	})
	return p
}

// PID is the program's process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Output is what the program printed so far.
func (p *Proc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Signal sends a signal to the program (by its PID).
func (p *Proc) Signal(s syscall.Signal) { _ = p.cmd.Process.Signal(s) }

// Exited is closed when the program has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// ExitCode is the program's exit status (-1 while it runs or if killed).
func (p *Proc) ExitCode() int {
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}

// Stop ends the program: SIGTERM, then SIGKILL if it is still there after
// stopWait. It returns once the program has exited.
func (p *Proc) Stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	p.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(stopWait):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// WaitOutput waits until the program's output matches re and returns the
// submatches of the first match. It fails the test past d or if the program
// exits first.
func (p *Proc) WaitOutput(t testing.TB, re *regexp.Regexp, d time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if m := re.FindStringSubmatch(p.Output()); m != nil {
			return m
		}
		select {
		case <-p.exited:
			if m := re.FindStringSubmatch(p.Output()); m != nil {
				return m
			}
			t.Fatalf("%s exited (%v) before printing %s:\n%s", p.Name, p.cmd.ProcessState, re, p.Output())
		case <-time.After(pollEvery):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not print %s within %v:\n%s", p.Name, re, d, p.Output())
		}
	}
}

// FreeAddr returns a loopback host:port that was free a moment ago, for a
// program that must be told its port in advance (nginx, Prometheus).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Child is the real gateway binary running as a child process.
type Child struct {
	*Proc
	Public, Control string // the addresses it listens on
}

// listening is the gateway's start line (cmd/ssegw).
var listening = regexp.MustCompile(`msg=listening public=(\S+) control=(\S+)`)

// childStart bounds a gateway child's start (the binary is built already).
const childStart = 20 * time.Second

// StartChild runs the gateway binary (GatewayBinary) with args on loopback,
// with env on top of LISTEN_ADDR=127.0.0.1:0, CONTROL_ADDR=127.0.0.1:0 and
// EVENT_LOOPS=2, and waits for its "listening" line. It is stopped by SIGTERM
// (a drain) when the test ends.
func StartChild(t testing.TB, env map[string]string, args ...string) *Child {
	t.Helper()
	merged := map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "CONTROL_ADDR": "127.0.0.1:0", "EVENT_LOOPS": "2"}
	for k, v := range env {
		merged[k] = v
	}
	var list []string
	for k, v := range merged {
		list = append(list, k+"="+v)
	}
	p := StartProc(t, "gateway", list, GatewayBinary(t), args...)
	m := p.WaitOutput(t, listening, childStart)
	return &Child{Proc: p, Public: m[1], Control: m[2]}
}

// Metrics fetches the child's /metrics page.
func (c *Child) Metrics(t testing.TB) []byte {
	t.Helper()
	code, body := Get(c.Control + "/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	return []byte(body)
}

// String names the child in messages.
func (c *Child) String() string { return fmt.Sprintf("gateway pid %d on %s", c.PID(), c.Public) }

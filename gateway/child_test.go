package gateway_test

import (
	"ssegw/internal/testkit"

	"bufio"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// gatewayBinary builds cmd/ssegw once per test run.
func gatewayBinary(t *testing.T) string { return testkit.GatewayBinary(t) }

func TestMain(m *testing.M) {
	code := m.Run()
	testkit.Cleanup()
	closeRabbit()
	os.Exit(code)
}

// childGateway is the real binary running as a separate process.
type childGateway struct {
	cmd     *exec.Cmd
	public  string
	control string
	exited  chan error
	logMu   sync.Mutex
	log     strings.Builder
}

var listenLine = regexp.MustCompile(`msg=listening public=(\S+) control=(\S+)`)

// startChild runs the gateway binary (optionally under prlimit) and waits for
// its "listening" line.
func startChild(t *testing.T, nofile int, env map[string]string) *childGateway {
	t.Helper()
	args := []string{gatewayBinary(t)}
	if nofile > 0 {
		args = append([]string{"prlimit", fmt.Sprintf("--nofile=%d:%d", nofile, nofile), "--"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "LISTEN_ADDR="+freeAddr(t), "CONTROL_ADDR=127.0.0.1:0", "EVENT_LOOPS=2")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &childGateway{cmd: cmd, exited: make(chan error, 1)}
	addrs := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			c.logMu.Lock()
			c.log.WriteString(line + "\n")
			c.logMu.Unlock()
			if m := listenLine.FindStringSubmatch(line); m != nil {
				addrs <- m[1:]
			}
		}
		c.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("child gateway log:\n%s", c.logText())
		}
	})
	select {
	case a := <-addrs:
		c.public, c.control = a[0], a[1]
	case err := <-c.exited:
		t.Fatalf("gateway exited at start: %v\n%s", err, c.logText())
	case <-time.After(20 * time.Second):
		t.Fatalf("gateway did not start:\n%s", c.logText())
	}
	return c
}

func (c *childGateway) logText() string {
	c.logMu.Lock()
	defer c.logMu.Unlock()
	return c.log.String()
}

func (c *childGateway) signal(s syscall.Signal) { _ = c.cmd.Process.Signal(s) }

// wait returns the exit code, or fails after d.
func (c *childGateway) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-c.exited:
		return c.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		t.Fatalf("gateway still running after %v", d)
		return -1
	}
}

// freeAddr finds a free loopback port for a child's public listener.
func freeAddr(t *testing.T) string {
	t.Helper()
	c := dialListen(t)
	return c
}

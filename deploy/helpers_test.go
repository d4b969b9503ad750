package deploy_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"ssegw/internal/testkit"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testkit.Cleanup()
	os.Exit(code)
}

// tool runs a program from Debian (promtool, systemd-analyze, sysctl) and
// returns its combined output and exit code; a program that is missing
// fails the test with how to install it.
func tool(t *testing.T, stdin []byte, name string, args ...string) (string, int) {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: run .ci/install-deps (it installs the Debian packages the tests use)", name)
	}
	cmd := exec.Command(path, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	return "", -1
}

// readFile reads a file of this folder.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// replaceOnce replaces old by new in s and fails the test unless old occurs
// exactly once (a shipped file that changed shape must fail loudly here,
// not be tested half-rewritten).
func replaceOnce(t *testing.T, s, old, new string) string {
	t.Helper()
	if n := strings.Count(s, old); n != 1 {
		t.Fatalf("%q occurs %d times in the shipped file, want once", old, n)
	}
	return strings.Replace(s, old, new, 1)
}

// ---- a real backend ---------------------------------------------------------

// backend answers the gateway's callbacks after a delay drawn from
// [minDelay, maxDelay) (the backend's own latency, which the callback
// histogram measures), accepting every stream.
type backend struct {
	srv                *http.Server
	ln                 net.Listener
	minDelay, maxDelay time.Duration
}

func startBackend(t *testing.T, minDelay, maxDelay time.Duration) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{ln: ln, minDelay: minDelay, maxDelay: maxDelay}
	b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var cb struct{ Action string }
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&cb); err != nil {
			http.Error(w, "bad callback", http.StatusBadRequest)
			return
		}
		if b.maxDelay > b.minDelay {
			time.Sleep(b.minDelay + rand.N(b.maxDelay-b.minDelay))
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"bindings":["demo"]}`)
	})}
	go func() { _ = b.srv.Serve(ln) }()
	t.Cleanup(func() { b.srv.Close() })
	return b
}

func (b *backend) url() string { return "http://" + b.ln.Addr().String() + "/cb" }

// openStream opens one SSE stream on a gateway's public address and waits
// for its ready event; the connection closes when the test ends.
func openStream(t *testing.T, public string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", public, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /s HTTP/1.1\r\nHost: %s\r\n\r\n", public)
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream on %s: %v", public, err)
		}
		if strings.TrimSpace(line) == "event: ready" {
			_ = c.SetDeadline(time.Time{})
			return c
		}
	}
}

// startBroker runs an embedded NATS server on a free loopback port.
func startBroker(t *testing.T) string {
	t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(func() {
		srv.Shutdown()
		srv.WaitForShutdown()
	})
	return "nats://" + srv.Addr().String()
}

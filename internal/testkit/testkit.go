// Package testkit holds what the end-to-end test packages (gateway, clients,
// cluster, deploy) share: bounded waiting, building the real gateway binary
// once per test process, starting a real gateway in-process, and running
// external programs (the gateway binary, nginx, Prometheus) as child
// processes stopped by their PID (proc.go). It is imported only by _test.go
// files; nothing here runs in the gateway itself.
package testkit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"ssegw/config"
	"ssegw/gateway"
)

// pollEvery is how often WaitFor re-checks its condition.
const pollEvery = 5 * time.Millisecond

// WaitFor polls cond until it holds; past d the test fails, naming what it
// waited for. Tests wait on conditions, never on fixed sleeps.
func WaitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(pollEvery)
	}
}

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

// GatewayBinary builds cmd/ssegw once per test process and returns its path.
// Call Cleanup from TestMain to remove it.
func GatewayBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "ssegw-test-bin"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "ssegw")
		if out, err := exec.Command("go", "build", "-o", binPath, "ssegw/cmd/ssegw").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ssegw/cmd/ssegw: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Cleanup removes what GatewayBinary built (call it from TestMain after m.Run).
func Cleanup() {
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
}

// shutdownWait bounds a test gateway's shutdown.
const shutdownWait = 5 * time.Second

// StartGateway runs a real gateway in-process on loopback ports with env on
// top of defaults, and shuts it down when the test ends. SSEGW_TEST_LOG=1
// shows its debug log; otherwise it logs at minLevel and above.
func StartGateway(t testing.TB, defaults, env map[string]string, minLevel slog.Level) *gateway.Gateway {
	t.Helper()
	merged := map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "CONTROL_ADDR": "127.0.0.1:0"}
	for _, m := range []map[string]string{defaults, env} {
		for k, v := range m {
			merged[k] = v
		}
	}
	cfg, err := config.Load(nil, func(k string) string { return merged[k] }, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	capacity, err := gateway.RaiseFDLimit(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getenv("SSEGW_TEST_LOG") != "" {
		minLevel = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: minLevel}))
	g, err := gateway.Start(cfg, capacity, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
		defer cancel()
		if err := g.Shutdown(ctx); err != nil {
			t.Errorf("gateway shutdown: %v", err)
		}
	})
	return g
}

// Get fetches http://addrPath and returns the status and body; a transport
// error comes back as status 0 and its text.
func Get(addrPath string) (int, string) {
	resp, err := http.Get("http://" + addrPath)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

package gateway_test

import (
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"ssegw/config"
	"ssegw/gateway"
)

// TestNoGoroutinePerStreamAndNoLeak: streams cost no goroutines, and a
// gateway that shut down leaves none behind.
func TestNoGoroutinePerStreamAndNoLeak(t *testing.T) {
	baseline := runtime.NumGoroutine()
	b := startBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url(), "CALLBACK_CONCURRENCY": "4"})
	first, _ := openStream(t, g, b, 1, "/g0")
	withOne := runtime.NumGoroutine()
	clients := make([]*client, 200)
	for i := range clients {
		clients[i], _ = openStream(t, g, b, i+2, "/g")
	}
	// The test's own backend runs a goroutine per callback connection; allow for it.
	if grew := runtime.NumGoroutine() - withOne; grew > 20 {
		t.Fatalf("goroutines grew by %d for 200 streams", grew)
	}
	for _, c := range append(clients, first) {
		c.conn.Close()
	}
	assertIdle(t, g)
	if err := g.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	b.srv.Close()
	waitFor(t, "goroutines back to baseline", 10*time.Second, func() bool { return runtime.NumGoroutine() <= baseline+5 })
}

func TestSecondSignalStopsAtOnce(t *testing.T) {
	b := startBackend(t)
	gw := startChild(t, 0, map[string]string{"CALLBACK_URL": b.url(), "SHUTDOWN_TIMEOUT_SECONDS": "60", "DRAIN_WINDOW_MS": "50000"})
	s := openRaw(gw.public, "/held", 5*time.Second)
	if !s.ready {
		t.Fatal(s.err)
	}
	defer s.conn.Close()
	gw.signal(syscall.SIGTERM)
	waitFor(t, "draining", 5*time.Second, func() bool {
		code, _ := controlGet(gw.control + "/readyz")
		return code == 503
	})
	start := time.Now()
	gw.signal(syscall.SIGTERM)
	if code := gw.wait(t, 5*time.Second); code == 0 {
		t.Fatalf("a forced stop exited 0")
	}
	if el := time.Since(start); el > 4*time.Second {
		t.Fatalf("second signal took %v", el)
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDebugLogsTheLifecycle: LOG_LEVEL=debug shows each stream's life.
func TestDebugLogsTheLifecycle(t *testing.T) {
	b := startBackend(t)
	cfg, err := config.Load(nil, func(k string) string {
		return map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "CONTROL_ADDR": "127.0.0.1:0", "CALLBACK_URL": b.url(), "LOG_LEVEL": "debug"}[k]
	}, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	g, err := gateway.Start(cfg, gateway.Capacity{MaxSockets: 100, MaxConnections: 90}, slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: cfg.LogLevel})))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(t.Context())
	c := dial(t, g.PublicAddr())
	c.get("/dbg?x=1")
	c.head()
	c.chunk()
	tok := b.nthConnect(t, 1).Token
	c.conn.Close()
	waitFor(t, "close logged", 5*time.Second, func() bool { return strings.Contains(logs.String(), "connection closed") })
	for _, want := range []string{`msg="stream requested" token=` + tok, `url="/dbg?x=1"`, `msg="stream accepted" token=` + tok,
		`msg="connection closed" token=` + tok, "reason=client_closed"} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("debug log lacks %q:\n%s", want, logs.String())
		}
	}
}

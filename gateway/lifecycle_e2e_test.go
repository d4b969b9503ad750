package gateway_test

import (
	"runtime"
	"syscall"
	"testing"
	"time"
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

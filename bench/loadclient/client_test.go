package loadclient_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"ssegw/bench/baseline"
	"ssegw/bench/loadclient"
	"ssegw/bench/sseparse"
	"ssegw/bench/stats"
)

const testWait = 10 * time.Second

// startBaseline runs a real baseline server on loopback ephemeral ports.
func startBaseline(t *testing.T, hb time.Duration) (*baseline.Server, netip.AddrPort, string) {
	t.Helper()
	sl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := baseline.New(baseline.Config{Heartbeat: hb})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, sl, cl); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return srv, netip.MustParseAddrPort(sl.Addr().String()), "http://" + cl.Addr().String()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(testWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func publish(t *testing.T, control string, seq int) {
	t.Helper()
	data := sseparse.AppendTimestamp(nil, time.Now().UnixNano())
	body := fmt.Sprintf(`{"channel":"bench","event":{"name":"tick","data":%q,"id":"%d"}}`, data, seq)
	resp, err := http.Post(control+"/internal/publish", "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("publish status %d", resp.StatusCode)
	}
}

func TestStreamsEventsHeartbeats(t *testing.T) {
	const n, pubs = 40, 3
	srv, target, control := startBaseline(t, 30*time.Millisecond)
	c, err := loadclient.New(loadclient.Config{Target: target, Pollers: 2, Rate: 2000, MaxDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Open(0, n); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "streams open", func() bool { return c.Counters(0).Opened == n && srv.Stats().StreamsOpen == n })
	for i := 0; i < pubs; i++ {
		publish(t, control, i)
	}
	waitFor(t, "events", func() bool { return c.Counters(0).Events == n*pubs })
	waitFor(t, "heartbeats", func() bool { return c.Counters(0).Heartbeats >= 2*n })
	if err := c.Open(1, 5); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "late streams", func() bool { return c.Counters(1).Opened == 5 })
	r, err := c.Result()
	if err != nil {
		t.Fatal(err)
	}
	g := r.Groups[0]
	if g.Counters.Timestamped != n*pubs || g.Latency.Count != n*pubs || g.Open.Count != n {
		t.Fatalf("counters %+v latency %d open %d", g.Counters, g.Latency.Count, g.Open.Count)
	}
	if g.Counters.Failed != 0 || g.HeartbeatGap.Count == 0 {
		t.Fatalf("failed %d heartbeat gaps %d", g.Counters.Failed, g.HeartbeatGap.Count)
	}
	gap, _ := stats.FromSnapshot(g.HeartbeatGap)
	// Reads that coalesce heartbeats on a busy machine record near-zero gaps,
	// so only the upper bound is firm: no stream may go quiet.
	if mean := time.Duration(gap.Mean()); mean <= 0 || mean > time.Second {
		t.Fatalf("heartbeat gap mean %v, server interval 30ms", mean)
	}
	c.Close()
	waitFor(t, "server sees streams close", func() bool { return srv.Stats().StreamsOpen == 0 })
	if got := c.Counters(0).Active; got != 0 {
		t.Fatalf("active after close %d", got)
	}
}

func TestRefusesRemoteAndOverLimit(t *testing.T) {
	_, err := loadclient.New(loadclient.Config{Target: netip.MustParseAddrPort("10.1.2.3:80")})
	if err != loadclient.ErrNotLoopback {
		t.Fatalf("want ErrNotLoopback, got %v", err)
	}
	c, err := loadclient.New(loadclient.Config{Target: netip.MustParseAddrPort("127.0.0.1:9")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Open(0, loadclient.MaxStreamsPerProcess+1); err != loadclient.ErrTooManyStreams {
		t.Fatalf("want ErrTooManyStreams, got %v", err)
	}
}

func TestConnectRefusedCounted(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close() // nothing listens there now
	c, err := loadclient.New(loadclient.Config{Target: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Open(0, 10)
	waitFor(t, "failures", func() bool { return c.Counters(0).Failed == 10 })
}

func TestHandshakeTimeout(t *testing.T) {
	// A listener that accepts but never answers.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns []net.Conn
	go func() {
		for {
			cn, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, cn)
		}
	}()
	c, err := loadclient.New(loadclient.Config{Target: netip.MustParseAddrPort(ln.Addr().String()),
		HandshakeTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Open(0, 5)
	waitFor(t, "timeouts", func() bool { return c.Counters(0).Timeouts == 5 })
}

func TestBadStatusAndNotEventStream(t *testing.T) {
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("hello"))
	})}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	target := netip.MustParseAddrPort(ln.Addr().String())
	for _, c := range []struct {
		path  string
		check func(loadclient.Counters) bool
	}{
		{"/missing", func(c loadclient.Counters) bool { return c.BadStatus == 3 }},
		{"/plain", func(c loadclient.Counters) bool { return c.ProtocolErr == 3 }},
	} {
		cl, err := loadclient.New(loadclient.Config{Target: target, Path: c.path})
		if err != nil {
			t.Fatal(err)
		}
		cl.Open(0, 3)
		waitFor(t, c.path, func() bool { return c.check(cl.Counters(0)) && cl.Counters(0).Failed == 3 })
		if cl.Counters(0).Opened != 0 {
			t.Fatalf("%s: counted as opened", c.path)
		}
		cl.Close()
	}
}

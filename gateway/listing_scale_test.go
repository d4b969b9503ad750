package gateway_test

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	benchbackend "ssegw/bench/backend"
	"ssegw/bench/loadclient"
)

// TestScaleStreamsListing: with 15,000 streams (2,000 under -race) on a real
// gateway process, /internal/streams lists every stream exactly once — the
// same set of tokens as the backend's own record of accepted, not yet
// disconnected streams — and while it runs (three times back to back) the
// streams' heartbeats (every 1 s) keep their cadence: the loops hand the
// listing out in bounded steps and never stall.
func TestScaleStreamsListing(t *testing.T) {
	n := 15000
	if raceEnabled {
		n = 2000
	}
	bk, err := benchbackend.New(benchbackend.Config{Bindings: []string{"all"}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: bk}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	gw := startChild(t, 0, map[string]string{"CALLBACK_URL": "http://" + ln.Addr().String() + "/cb", "HEARTBEAT_INTERVAL_SECONDS": "1"})
	lc, err := loadclient.New(loadclient.Config{Target: netip.MustParseAddrPort(gw.public), Path: "/scale", MaxDuration: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer lc.Close()
	if err := lc.Open(0, n); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every stream ready", 2*time.Minute, func() bool { return lc.Counters(0).Ready == int64(n) })
	waitFor(t, "three heartbeats a stream", 10*time.Second, func() bool { return lc.Counters(0).Heartbeats >= int64(3*n) })
	beforeRes, err := lc.Result()
	if err != nil {
		t.Fatal(err)
	}
	var took []time.Duration
	for round := 0; round < 3; round++ {
		start := time.Now()
		seen := map[string]int{}
		resp, err := http.Get("http://" + gw.control + "/internal/streams")
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var l streamLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("line %q: %v", sc.Text(), err)
			}
			if l.State != "ready" || len(l.Bindings) != 1 || l.Bindings[0] != "all" {
				t.Fatalf("line %+v", l)
			}
			seen[l.Token]++
		}
		resp.Body.Close()
		took = append(took, time.Since(start))
		want := bk.OpenTokens()
		if len(seen) != n || len(want) != n {
			t.Fatalf("round %d: %d tokens listed, backend knows %d open, want %d", round, len(seen), len(want), n)
		}
		for _, tok := range want {
			if seen[tok] != 1 {
				t.Fatalf("round %d: token %s listed %d times", round, tok, seen[tok])
			}
		}
	}
	// Heartbeats go on through the listings.
	before := beforeRes.Groups[0].Counters.Heartbeats
	waitFor(t, "another heartbeat a stream", 10*time.Second, func() bool { return lc.Counters(0).Heartbeats >= before+int64(n) })
	res, err := lc.Result()
	if err != nil {
		t.Fatal(err)
	}
	gapBefore, gap := time.Duration(beforeRes.Groups[0].HeartbeatGap.Max), time.Duration(res.Groups[0].HeartbeatGap.Max)
	t.Logf("%d streams listed 3 times in %v; heartbeat gap max %v before the listings, %v through them", n, took, gapBefore, gap)
	limit := 1500 * time.Millisecond // the 1 s interval, plus scheduling on a busy 2-core machine
	if raceEnabled {
		limit = 2500 * time.Millisecond
	}
	if gap > max(limit, gapBefore+250*time.Millisecond) {
		t.Fatalf("heartbeat gap reached %v during the listings (before them: %v)", gap, gapBefore)
	}
}

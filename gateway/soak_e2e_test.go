package gateway_test

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// soakClients is how many client goroutines churn at once.
const soakClients = 48

// TestScaleFaultSoak: clients churn — leave during the connect callback,
// read slowly, never read, leave in the middle of an event, or stay a while
// and close — against a real gateway process whose backend fails at random
// (refuses nothing but resets, hangs past the callback timeout, answers 500,
// 503 or 429) while events are published and sent, for a bounded time
// (soakDuration: 60 s in `make test`'s scale pass, 15 s under -race, longer
// with -tags stress). Then the backend recovers and the ledger must
// reconcile exactly: every accepted connect has its disconnect (at least
// once; every repeat with the same reason), no disconnect for a connect that
// failed, /internal/streams empty, and streams, tokens, timers and
// goroutines back to their baseline, RSS near it.
func TestScaleFaultSoak(t *testing.T) {
	t.Parallel()
	b := startBackend(t)
	b.faults.randomOK = 70
	gw := startChild(t, 0, map[string]string{"CALLBACK_URL": b.url(), "CALLBACK_TIMEOUT_MS": "1000",
		"HEARTBEAT_INTERVAL_SECONDS": "1", "WRITE_BUFFER_LIMIT_BYTES": "65536", "WRITE_TIMEOUT_MS": "2000",
		"DISCONNECT_RETRY_SECONDS": "300", "CALLBACK_CONCURRENCY": "64"})
	b.onConnect(func(callbackRec) reply { return reply{statusLine: "200 OK", body: `{"bindings":["soak"]}`} })
	metric := func(name string) float64 {
		resp, err := http.Get("http://" + gw.control + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return parseMetrics(resp.Body)[name]
	}
	baseGoroutines, baseRSS := metric("go_goroutines"), metric("process_resident_memory_bytes")

	b.setFault(faultRandom, onBoth)
	deadline := time.Now().Add(soakDuration)
	var (
		wg      sync.WaitGroup
		kinds   [soakKinds]atomic.Int64
		retryAn atomic.Int64 // failed connects answered with a retry hint, as the clients saw them
	)
	for i := 0; i < soakClients; i++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 7))
			for time.Now().Before(deadline) {
				k := soakKind(r.IntN(int(soakKinds)))
				kinds[k].Add(1)
				if soakOnce(gw.public, k, r) {
					retryAn.Add(1)
				}
			}
		}(uint64(i))
	}
	// The backend's side: publishes to every stream and sends to some, all along.
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(99, 1))
		for i := 0; time.Now().Before(deadline); i++ {
			size := 16
			if i%25 == 0 {
				// Now and then a big one: past the kernel's send buffer (4 MB
				// here), a client that does not read becomes a slow consumer.
				size = 900 << 10
			}
			post(gw.control, "/internal/publish", fmt.Sprintf(`{"channel":"soak","event":{"name":"n","data":"%s"}}`, strings.Repeat("z", size)))
			if recs := b.snapshot(); len(recs) > 0 {
				tok := recs[r.IntN(len(recs))].Token
				post(gw.control, "/internal/send", fmt.Sprintf(`{"token":%q,"event":{"data":"hi"},"close":%v}`, tok, i%7 == 0))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	// Now and then the backend is gone altogether: connections refused for 1 s in every 4.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for time.Now().Add(4 * time.Second).Before(deadline) {
			time.Sleep(3 * time.Second)
			b.setFault(faultRefuse, onBoth)
			time.Sleep(time.Second)
			b.setFault(faultRandom, onBoth)
		}
	}()
	wg.Wait()
	failedCallbacks := b.faults.failed.Load()
	b.setFault(faultNone, onBoth)

	// Reconcile.
	var accepted map[string]bool
	waitFor(t, "every accepted stream's disconnect", 60*time.Second, func() bool {
		accepted = map[string]bool{}
		disc := map[string]bool{}
		for _, c := range b.snapshot() {
			if c.Action == "connect" {
				accepted[c.Token] = true
			} else {
				disc[c.Token] = true
			}
		}
		for tok := range accepted {
			if !disc[tok] {
				return false
			}
		}
		return true
	})
	reasons := map[string]string{}
	repeats := 0
	byReason := map[string]int{}
	for _, c := range b.snapshot() {
		if c.Action != "disconnect" {
			continue
		}
		if !accepted[c.Token] {
			t.Fatalf("disconnect for token %s whose connect never succeeded", c.Token)
		}
		if prev, ok := reasons[c.Token]; ok {
			repeats++
			if prev != c.Reason {
				t.Fatalf("token %s: disconnect reasons %q then %q", c.Token, prev, c.Reason)
			}
			continue
		}
		reasons[c.Token] = c.Reason
		byReason[c.Reason]++
	}
	_, raw, lines := listStreams(t, gw.control, "")
	if len(lines) != 0 {
		t.Fatalf("/internal/streams after the soak:\n%s", raw)
	}
	waitFor(t, "streams, tokens, timers and goroutines back to the baseline", 20*time.Second, func() bool {
		return metric("ssegw_streams_open") == 0 && metric("ssegw_registered_tokens") == 0 && metric("ssegw_wheel_timers") == 0 &&
			metric("ssegw_pending_connects") == 0 && metric("ssegw_disconnect_retries_pending") == 0 &&
			metric("go_goroutines") <= baseGoroutines+2
	})
	rss := metric("process_resident_memory_bytes")
	m := func(n string) int64 { return int64(metric(n)) }
	t.Logf("soak %v: client runs by kind %v (%d saw a retry answer); backend failed %d callbacks on purpose",
		soakDuration, loadKinds(&kinds), retryAn.Load(), failedCallbacks)
	t.Logf("ledger: %d accepted streams, each with its disconnect %v; %d repeated disconnects (same token and reason)",
		len(accepted), byReason, repeats)
	t.Logf("gateway: connects accepted %d, timeout %d, unavailable %d, server_error %d; retry answers %d; slow-consumer closes %d, write timeouts %d",
		m(`ssegw_connects_total{outcome="accepted"}`), m(`ssegw_connects_total{outcome="timeout"}`), m(`ssegw_connects_total{outcome="unavailable"}`),
		m(`ssegw_connects_total{outcome="server_error"}`), m(`ssegw_connect_failures_answered_total{answer="retry"}`),
		m("ssegw_slow_consumer_closes_total"), m("ssegw_write_timeout_closes_total"))
	t.Logf("disconnect retries: retried %d, delivered after retry %d, given up %d, dropped %d; goroutines %v -> %v, RSS %.1f -> %.1f MB",
		m(`ssegw_disconnect_retries_total{outcome="retried"}`), m(`ssegw_disconnect_retries_total{outcome="delivered"}`),
		m(`ssegw_disconnect_retries_total{outcome="given_up"}`), m(`ssegw_disconnect_retries_total{outcome="dropped"}`),
		baseGoroutines, metric("go_goroutines"), baseRSS/1e6, rss/1e6)
	if m(`ssegw_disconnect_retries_total{outcome="given_up"}`) != 0 || m(`ssegw_disconnect_retries_total{outcome="dropped"}`) != 0 {
		t.Fatal("disconnects were given up or dropped")
	}
	if len(accepted) < 100 || failedCallbacks < 50 {
		t.Fatalf("the soak did too little: %d accepted, %d failed callbacks", len(accepted), failedCallbacks)
	}
	if rss > baseRSS+64<<20 {
		t.Fatalf("RSS %.1f MB after the soak, baseline %.1f MB", rss/1e6, baseRSS/1e6)
	}
}

// soakKind is what one client run does.
type soakKind int

const (
	leaveDuringCallback soakKind = iota // close right after the request
	readSlowly                          // read a few bytes at a time, with pauses
	neverRead                           // small receive buffer, never read: slow-consumer close
	leaveMidEvent                       // read part of an event, then close
	stayAndClose                        // read ready and some events, then close
	soakKinds
)

var soakKindNames = [...]string{"leave_during_callback", "read_slowly", "never_read", "leave_mid_event", "stay_and_close"}

func loadKinds(k *[soakKinds]atomic.Int64) map[string]int64 {
	out := map[string]int64{}
	for i := range k {
		out[soakKindNames[i]] = k[i].Load()
	}
	return out
}

// soakOnce runs one client; it reports whether the gateway answered with a
// retry hint before ready (a failed connect).
func soakOnce(addr string, k soakKind, r *rand.Rand) bool {
	d := net.Dialer{Timeout: 2 * time.Second}
	if k == neverRead {
		d.Control = smallRcvBuf
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return false
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /soak?k=%d HTTP/1.1\r\nHost: x\r\n\r\n", k)
	switch k {
	case leaveDuringCallback:
		time.Sleep(time.Duration(r.IntN(20)) * time.Millisecond)
		return false
	case neverRead:
		time.Sleep(time.Duration(6000+r.IntN(6000)) * time.Millisecond)
		return false
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	var got strings.Builder
	for !strings.Contains(got.String(), "\r\n\r\n") {
		line, err := br.ReadString('\n')
		if err != nil {
			return false
		}
		got.WriteString(line)
	}
	buf := make([]byte, 64)
	n, _ := io.ReadAtLeast(br, buf, 12)
	if strings.Contains(string(buf[:n]), "retry: ") {
		return true
	}
	switch k {
	case readSlowly:
		for end := time.Now().Add(time.Duration(500+r.IntN(1500)) * time.Millisecond); time.Now().Before(end); {
			if _, err := br.Read(buf[:8]); err != nil {
				return false
			}
			time.Sleep(10 * time.Millisecond)
		}
	case leaveMidEvent:
		_, _ = br.Read(buf[:1+r.IntN(10)])
	case stayAndClose:
		_ = c.SetReadDeadline(time.Now().Add(time.Duration(200+r.IntN(800)) * time.Millisecond))
		_, _ = io.Copy(io.Discard, br)
	}
	if r.IntN(2) == 0 {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // some leave with a reset
		}
	}
	return false
}

// post sends a control command, ignoring the answer (from the soak's
// goroutines: a failed request is not a test failure there).
func post(addr, path, body string) {
	resp, err := http.Post("http://"+addr+path, "application/json", strings.NewReader(body))
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

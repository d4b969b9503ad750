package callback

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// flakyBackend is a real HTTP callback server whose answer to each
// disconnect is decided by fail (true: failStatus, 503 unless set), and which
// records every attempt it answered.
type flakyBackend struct {
	mu         sync.Mutex
	failStatus int
	fail       func(token string, attempt int) bool
	attempts   map[string]int
	okAt       map[string]time.Time
}

func startFlaky(t *testing.T, fail func(token string, attempt int) bool) (*flakyBackend, string) {
	t.Helper()
	fb := &flakyBackend{fail: fail, attempts: map[string]int{}, okAt: map[string]time.Time{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var p struct{ Token, Reason string }
		_ = json.Unmarshal(raw, &p)
		fb.mu.Lock()
		fb.attempts[p.Token]++
		n := fb.attempts[p.Token]
		failing := fb.fail(p.Token, n)
		if !failing {
			fb.okAt[p.Token] = time.Now()
		}
		status := fb.failStatus
		fb.mu.Unlock()
		if failing {
			w.WriteHeader(cmp.Or(status, 503))
			return
		}
		w.WriteHeader(200)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return fb, "http://" + ln.Addr().String() + "/cb"
}

func (fb *flakyBackend) count(token string) (attempts int, delivered bool) {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	_, ok := fb.okAt[token]
	return fb.attempts[token], ok
}

func retryCounter(outcome string) float64 {
	return float64(metrics.GetOrCreateCounter(`ssegw_disconnect_retries_total{outcome="` + outcome + `"}`).Get())
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func startClient(t *testing.T, url string, window time.Duration, bound int, base ...time.Duration) *Client {
	t.Helper()
	o := Options{URL: url, Timeout: time.Second, Concurrency: 4, MaxPending: 16, DisconnectRetry: window, MaxPendingRetries: bound}
	if len(base) > 0 {
		o.retryBase = base[0]
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	return c
}

// TestDisconnectRetriedUntilAnswered: a disconnect that gets 503 twice is
// attempted again with backoff and delivered once; one that is answered at
// once is sent once; counters say so.
func TestDisconnectRetriedUntilAnswered(t *testing.T) {
	fb, url := startFlaky(t, func(tok string, n int) bool { return tok == "flaky" && n <= 2 })
	c := startClient(t, url, time.Minute, 0)
	retried, delivered := retryCounter("retried"), retryCounter("delivered")
	start := time.Now()
	c.Disconnect(&Job{Action: ActionDisconnect, Reason: "client_closed", Token: "flaky", Head: []byte("GET / HTTP/1.1\r\n\r\n")})
	c.Disconnect(&Job{Action: ActionDisconnect, Reason: "client_closed", Token: "steady", Head: []byte("GET / HTTP/1.1\r\n\r\n")})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !c.Flush(ctx) {
		t.Fatal("Flush did not see the retried disconnect through")
	}
	if n, ok := fb.count("flaky"); n != 3 || !ok {
		t.Fatalf("flaky: %d attempts, delivered %v; want 3, true", n, ok)
	}
	if n, _ := fb.count("steady"); n != 1 {
		t.Fatalf("steady: %d attempts, want 1", n)
	}
	// Backoff: the second attempt no sooner than Base/2, the third Base later.
	if took := fb.okAt["flaky"].Sub(start); took < 500*time.Millisecond {
		t.Fatalf("three attempts within %v: no backoff", took)
	}
	if d := retryCounter("retried") - retried; d != 2 {
		t.Fatalf("retried counter +%v, want +2", d)
	}
	if d := retryCounter("delivered") - delivered; d != 1 {
		t.Fatalf("delivered counter +%v, want +1", d)
	}
	if c.PendingRetries() != 0 {
		t.Fatalf("%d retries pending", c.PendingRetries())
	}
	c.Stop(ctx)
}

// TestDisconnectGivenUpAfterTheWindow: a backend that keeps failing gets a
// few attempts within DISCONNECT_RETRY_SECONDS, then the disconnect is given
// up and counted; a 4xx answer is an answer and is never retried.
func TestDisconnectGivenUpAfterTheWindow(t *testing.T) {
	fb, url := startFlaky(t, func(tok string, n int) bool { return tok == "down" })
	c := startClient(t, url, 2*time.Second, 0)
	givenUp := retryCounter("given_up")
	c.Disconnect(&Job{Action: ActionDisconnect, Reason: "error", Token: "down", Head: []byte("GET / HTTP/1.1\r\n\r\n")})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if !c.Flush(ctx) {
		t.Fatal("Flush never returned")
	}
	took := time.Since(start)
	n, ok := fb.count("down")
	if ok || n < 3 || took > 3*time.Second {
		t.Fatalf("%d attempts over %v (delivered %v); want >= 3 within the 2 s window", n, took, ok)
	}
	if d := retryCounter("given_up") - givenUp; d != 1 {
		t.Fatalf("given_up +%v, want +1", d)
	}
	c.Stop(ctx)
}

// TestDisconnect4xxIsAnAnswer: a disconnect answered 429 or 404 is settled
// (CONTRACT.md section 5 retries no answer, network errors and 5xx only).
func TestDisconnect4xxIsAnAnswer(t *testing.T) {
	for _, status := range []int{429, 404} {
		fb, url := startFlaky(t, func(string, int) bool { return true })
		fb.mu.Lock()
		fb.failStatus = status
		fb.mu.Unlock()
		c := startClient(t, url, time.Minute, 0, 10*time.Millisecond)
		retried := retryCounter("retried")
		c.Disconnect(&Job{Action: ActionDisconnect, Reason: "error", Token: "x", Head: []byte("GET / HTTP/1.1\r\n\r\n")})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if !c.Flush(ctx) {
			t.Fatalf("%d: Flush did not return", status)
		}
		if n, _ := fb.count("x"); n != 1 || c.PendingRetries() != 0 || retryCounter("retried") != retried {
			t.Fatalf("%d: %d attempts, %d pending, retried +%v; want 1, 0, +0", status, n, c.PendingRetries(), retryCounter("retried")-retried)
		}
		c.Stop(ctx)
		cancel()
	}
}

func TestDisconnectNotRetriedWhenOff(t *testing.T) {
	fb, url := startFlaky(t, func(string, int) bool { return true })
	c := startClient(t, url, 0, 0)
	c.Disconnect(&Job{Action: ActionDisconnect, Reason: "error", Token: "x", Head: []byte("GET / HTTP/1.1\r\n\r\n")})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c.Flush(ctx)
	if n, _ := fb.count("x"); n != 1 {
		t.Fatalf("%d attempts with retries off, want 1", n)
	}
	c.Stop(ctx)
}

// TestRetryQueueOverflowDropsTheOldest: with the queue bounded at 8, 20
// disconnects failing during an outage keep the 8 newest; 12 are dropped
// and counted; once the backend is back the kept ones arrive.
func TestRetryQueueOverflowDropsTheOldest(t *testing.T) {
	var down sync.Mutex
	outage := true
	fb, url := startFlaky(t, func(string, int) bool { down.Lock(); defer down.Unlock(); return outage })
	c := startClient(t, url, time.Minute, 8, 5*time.Second) // nothing falls due while the 20 are added
	dropped := retryCounter("dropped")
	for i := 0; i < 20; i++ {
		c.Disconnect(&Job{Action: ActionDisconnect, Reason: "client_closed", Token: fmt.Sprint("t", i), Head: []byte("GET / HTTP/1.1\r\n\r\n")})
		// One at a time, so first failures come in order.
		waitUntil(t, "first attempt", 5*time.Second, func() bool { n, _ := fb.count(fmt.Sprint("t", i)); return n >= 1 })
	}
	waitUntil(t, "12 dropped", 5*time.Second, func() bool { return retryCounter("dropped")-dropped == 12 })
	down.Lock()
	outage = false
	down.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if !c.Flush(ctx) {
		t.Fatal("kept retries not delivered")
	}
	kept := 0
	for i := 0; i < 20; i++ {
		if _, ok := fb.count(fmt.Sprint("t", i)); ok {
			kept++
			if i < 12 {
				t.Errorf("t%d delivered, but it was among the oldest and should have been dropped", i)
			}
		}
	}
	if kept != 8 {
		t.Fatalf("%d delivered after the outage, want 8", kept)
	}
	c.Stop(ctx)
}

// TestStopGivesUpPendingRetries: at shutdown the retries still waiting get
// until the deadline; then they are given up, counted, and Stop returns.
func TestStopGivesUpPendingRetries(t *testing.T) {
	_, url := startFlaky(t, func(string, int) bool { return true })
	c := startClient(t, url, time.Minute, 0)
	givenUp := retryCounter("given_up")
	for i := 0; i < 5; i++ {
		c.Disconnect(&Job{Action: ActionDisconnect, Reason: "server_closed", Token: fmt.Sprint("s", i), Head: []byte("GET / HTTP/1.1\r\n\r\n")})
	}
	waitUntil(t, "retries queued", 5*time.Second, func() bool { return c.PendingRetries() == 5 })
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if c.Stop(ctx) {
		t.Fatal("Stop reported every disconnect sent")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Stop took %v", took)
	}
	if d := retryCounter("given_up") - givenUp; d != 5 {
		t.Fatalf("given_up +%v, want +5", d)
	}
}

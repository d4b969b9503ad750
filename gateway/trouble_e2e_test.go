package gateway_test

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// readRetryAnswer reads the answer a shed or failed-connect stream gets on
// HTTP/1.1 (SSE head, one "retry: N" chunk, the last chunk, then the close)
// and returns N.
func readRetryAnswer(t *testing.T, c *client) int {
	t.Helper()
	if h := c.head(); h != sseHead {
		t.Fatalf("head %q, want the SSE head", h)
	}
	msg := c.chunk()
	v, ok := strings.CutPrefix(msg, "retry: ")
	n, err := strconv.Atoi(strings.TrimSuffix(v, "\n\n"))
	if !ok || !strings.HasSuffix(v, "\n\n") || err != nil {
		t.Fatalf("first chunk %q, want retry: <ms>", msg)
	}
	if last := c.chunk(); last != "" {
		t.Fatalf("after the retry hint got %q, want the last chunk", last)
	}
	c.expectEOF()
	return n
}

// TestConnectFailureRetry: with CONNECT_FAILURE=retry (the default) every way
// a backend can fail a connect — refused connections, no answer within
// CALLBACK_TIMEOUT_MS, a reset, 503, 500, 429 — is answered like a shed
// request (200, SSE headers, a randomised retry hint, the end of the stream),
// so a browser comes back by itself; nothing is owed to the backend; and once
// the backend has recovered the next request streams. Other statuses are
// still passed through.
func TestConnectFailureRetry(t *testing.T) {
	b := startBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url(), "CALLBACK_TIMEOUT_MS": "300"})
	before := scrapeControl(t, g)
	outcomes := map[fault]string{faultRefuse: "unavailable", faultHang: "timeout", faultReset: "unavailable",
		fault503: "server_error", fault500: "server_error", fault429: "server_error"}
	hints := map[int]bool{}
	for _, f := range []fault{faultRefuse, faultHang, faultReset, fault503, fault500, fault429} {
		b.setFault(f, onConnect)
		for i := 0; i < 3; i++ {
			c := dial(t, g.PublicAddr())
			c.get("/trouble?f=" + f.String())
			n := readRetryAnswer(t, c)
			if n < 1000 || n > 10000 {
				t.Fatalf("%v: retry hint %d ms, want 1000-10000", f, n)
			}
			hints[n] = true
		}
		// HTTP/1.0: a close-delimited body.
		c := dial(t, g.PublicAddr())
		c.send("GET /trouble10 HTTP/1.0\r\nHost: gw\r\n\r\n")
		h := c.head()
		if !strings.HasPrefix(h, "HTTP/1.1 200 OK\r\n") || !strings.Contains(h, "Content-Type: text/event-stream\r\n") ||
			strings.Contains(h, "Transfer-Encoding") {
			t.Fatalf("%v over HTTP/1.0: head %q", f, h)
		}
		c.deadline(5e9)
		line, err := c.r.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "retry: ") {
			t.Fatalf("%v over HTTP/1.0: %q %v", f, line, err)
		}
	}
	if len(hints) < 2 {
		t.Fatalf("retry hints %v are not randomised", hints)
	}
	b.setFault(faultNone, onBoth)
	// Any other non-2xx is the backend's decision, passed through as before.
	b.onConnect(func(callbackRec) reply { return reply{statusLine: "302 Found"} })
	c := dial(t, g.PublicAddr())
	c.get("/redirect")
	if h := c.head(); !strings.HasPrefix(h, "HTTP/1.1 302 Found\r\n") {
		t.Fatalf("302: head %q", h)
	}
	b.onConnect(func(callbackRec) reply { return reply{statusLine: "200 OK", body: `{}`} })
	cs, tok := openStream(t, g, b, 2, "/back") // the 302 above was connect #1 the backend recorded
	_ = cs
	if n := b.count("disconnect"); n != 0 {
		t.Fatalf("%d disconnects for failed connects", n)
	}
	after := scrapeControl(t, g)
	want := map[string]float64{}
	for _, o := range outcomes {
		want[`ssegw_connects_total{outcome="`+o+`"}`] += 4
	}
	for k, v := range want {
		if d := after[k] - before[k]; d != v {
			t.Errorf("%s grew by %v, want %v", k, d, v)
		}
	}
	if d := after[`ssegw_connect_failures_answered_total{answer="retry"}`] - before[`ssegw_connect_failures_answered_total{answer="retry"}`]; d != 24 {
		t.Errorf("failed connects answered with a retry hint: %v, want 24", d)
	}
	if code, _ := g.control("/internal/send", `{"token":"`+tok+`","close":true}`); code != 200 {
		t.Fatalf("close: %d", code)
	}
	waitFor(t, "the stream's disconnect", 5e9, func() bool { return b.count("disconnect") == 1 })
}

// TestDisconnectSurvivesABackendOutage: streams on the gateway binary that
// end while the backend refuses connections for 30 s (a restart, a network
// cut) get their
// disconnect once it is back — each once, with its token and reason — and
// the retry counters say so.
// outageFor is how long the backend refuses connections.
const outageFor = 30 * time.Second

func TestDisconnectSurvivesABackendOutage(t *testing.T) {
	t.Parallel()
	b := startBackend(t)
	g := startChild(t, 0, map[string]string{"CALLBACK_URL": b.url(), "CALLBACK_TIMEOUT_MS": "500"})
	before := scrapeAddr(t, g.control)
	const n = 5
	streams := make([]*rawStream, n)
	tokens := make([]string, n)
	for i := range streams {
		streams[i] = openRaw(g.public, "/outage", 10*time.Second)
		if !streams[i].ready {
			t.Fatalf("stream %d: %v", i, streams[i].err)
		}
		tokens[i] = b.nthConnect(t, i+1).Token
	}
	b.setFault(faultRefuse, onBoth)
	outageStart := time.Now()
	streams[0].conn.Close() // client_closed
	// server_closed:
	if code, body := controlReq(t, g.control, "/internal/send", `{"token":"`+tokens[1]+`","close":true}`, ""); code != 200 {
		t.Fatalf("close: %d %s", code, body)
	}
	for _, s := range streams[2:] {
		s.conn.Close()
	}
	waitFor(t, "disconnects failing and queued for retry", 10*time.Second, func() bool {
		return scrapeAddr(t, g.control)[`ssegw_disconnect_retries_pending`] == n
	})
	// The outage lasts 30 s; the retries keep knocking meanwhile.
	waitFor(t, "the outage to last 30 s", outageFor+time.Second, func() bool {
		return time.Since(outageStart) >= outageFor
	})
	if got := b.count("disconnect"); got != 0 {
		t.Fatalf("%d disconnects reached a backend that refuses connections", got)
	}
	b.setFault(faultNone, onBoth)
	back := time.Now()
	waitFor(t, "every disconnect after the outage", 15*time.Second, func() bool { return b.count("disconnect") == n })
	t.Logf("all %d disconnects delivered %v after the backend came back", n, time.Since(back).Round(time.Millisecond))
	for i, tok := range tokens {
		recs := b.byToken(tok)
		if len(recs) != 2 || recs[1].Action != "disconnect" {
			t.Fatalf("stream %d: callbacks %+v metrics %v", i, recs, scrapeAddr(t, g.control))
		}
		want := "client_closed"
		if i == 1 {
			want = "server_closed"
		}
		if recs[1].Reason != want {
			t.Fatalf("stream %d: reason %q, want %q", i, recs[1].Reason, want)
		}
	}
	after := scrapeAddr(t, g.control)
	if d := after[`ssegw_disconnect_retries_total{outcome="delivered"}`] - before[`ssegw_disconnect_retries_total{outcome="delivered"}`]; d != n {
		t.Errorf("delivered after retry +%v, want +%d", d, n)
	}
	if d := after[`ssegw_disconnect_retries_total{outcome="retried"}`] - before[`ssegw_disconnect_retries_total{outcome="retried"}`]; d < 4*n {
		t.Errorf("retried +%v over a 30 s outage, want at least %d", d, 4*n)
	}
	if after[`ssegw_disconnect_retries_pending`] != 0 {
		t.Errorf("pending retries %v after delivery", after[`ssegw_disconnect_retries_pending`])
	}
}

// TestDisconnectGivenUpPastTheRetryWindow (the gateway binary): a backend that keeps answering
// 503 past DISCONNECT_RETRY_SECONDS gets a few attempts; then the disconnect
// is counted as given up.
func TestDisconnectGivenUpPastTheRetryWindow(t *testing.T) {
	t.Parallel()
	b := startBackend(t)
	g := startChild(t, 0, map[string]string{"CALLBACK_URL": b.url(), "DISCONNECT_RETRY_SECONDS": "2"})
	before := scrapeAddr(t, g.control)
	s := openRaw(g.public, "/doomed", 10*time.Second)
	if !s.ready {
		t.Fatalf("stream: %v", s.err)
	}
	b.setFault(fault503, onDisconnect)
	s.conn.Close()
	waitFor(t, "the disconnect given up", 10*time.Second, func() bool {
		m := scrapeAddr(t, g.control)
		return m[`ssegw_disconnect_retries_total{outcome="given_up"}`]-before[`ssegw_disconnect_retries_total{outcome="given_up"}`] == 1
	})
	if failed := b.faults.failed.Load(); failed < 3 {
		t.Fatalf("%d attempts in the 2 s window, want >= 3", failed)
	}
	if got := b.count("disconnect"); got != 0 {
		t.Fatalf("%d disconnects recorded", got)
	}
}

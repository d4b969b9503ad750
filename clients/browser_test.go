package clients

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestChromium drives headless Chromium (Debian's /usr/bin/chromium through
// playwright-core). The page comes from the backend's origin, so every
// EventSource on the gateway is cross-origin. One browser serves the subtests.
func TestChromium(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	b := startBackend(t, k)
	c := startNode(t, k, "chromium.mjs", b.pageURL())
	t.Logf("client: Chromium %s (%s)", c.version(), c.start.UserAgent)

	// Each subtest stops the whole test on failure: they share the browser,
	// and the screenshot is taken once, at the end.
	t.Run("events", func(t *testing.T) {
		g := startGateway(t, k, b, nil)
		checkEventsAndReconnect(t, c, g, b, scenarioOpts{origin: b.origin()})
	})
	if t.Failed() {
		return
	}
	t.Run("rejection", func(t *testing.T) { checkRejection(t, k, b, c) })
	if t.Failed() {
		return
	}
	t.Run("shed", func(t *testing.T) { checkShed(t, k, b, c) })
	if t.Failed() {
		return
	}
	t.Run("unsafe-id", func(t *testing.T) { checkPreflightReconnect(t, k, b, c) })
	if t.Failed() {
		return
	}
	t.Run("envelope", func(t *testing.T) { checkEnvelope(t, k, b, c) })
	if t.Failed() {
		return
	}
	t.Run("outage", func(t *testing.T) { checkBackendOutage(t, k, b, c) })
	if t.Failed() {
		return
	}
	t.Run("resume", func(t *testing.T) { checkResume(t, c, k, b) })
	if t.Failed() {
		return
	}
	// Last: it leaves the browser on another origin's page.
	t.Run("head", func(t *testing.T) { checkChromiumHead(t, k, b, c) })
}

// checkBackendOutage: while the backend answers connects with 503 (a restart),
// a page's EventSource under CONNECT_FAILURE=retry (the default) gets a 200
// with a retry hint, stays CONNECTING and comes back by itself once the
// backend is up again; under CONNECT_FAILURE=status (the Node SSEGateway's
// behaviour) it gets the 503, turns CLOSED and never comes back.
func checkBackendOutage(t *testing.T, k *kit, b *backend, c *nodeClient) {
	retry := startGateway(t, k, b, nil)
	status := startGateway(t, k, b, map[string]string{"CONNECT_FAILURE": "status"})
	b.setOutage(true)
	defer b.setOutage(false)
	c.open(t, "outage-retry", retry.url("/outage?c=outage-retry"))
	c.open(t, "outage-status", status.url("/outage?c=outage-status"))
	errRetry := c.records().waitRecord(t, "outage-retry", "error", "", 1, 15*time.Second)
	errStatus := c.records().waitRecord(t, "outage-status", "error", "", 1, 15*time.Second)
	if errRetry.ReadyState == nil || *errRetry.ReadyState != 0 {
		t.Fatalf("retry mode: readyState after the failed connect = %v, want 0 (CONNECTING)", errRetry.ReadyState)
	}
	if errStatus.ReadyState == nil || *errStatus.ReadyState != 2 {
		t.Fatalf("status mode: readyState after the 503 = %v, want 2 (CLOSED: the browser gives up)", errStatus.ReadyState)
	}
	if n := retry.metric(t, `ssegw_connect_failures_answered_total{answer="retry"}`); n < 1 {
		t.Fatalf("retry answers counted %v, want >= 1", n)
	}
	b.setOutage(false)
	up := time.Now()
	ready := c.records().waitRecord(t, "outage-retry", "event", "ready", 1, 15*time.Second)
	conns := b.connects("outage-retry")
	t.Logf("retry mode: %d connect attempts; ready %v after the backend came back", len(conns), ready.At.Sub(up).Round(time.Millisecond))
	if last := conns[len(conns)-1]; last.Failed {
		t.Fatalf("the browser's last connect %+v failed, yet it got ready", last)
	}
	n := len(b.connects("outage-status"))
	holdsFor(t, "the status-mode EventSource staying gone", rejectionWindow, func() bool {
		return len(b.connects("outage-status")) == n
	})
	if evs := c.records().events("outage-status"); len(evs) != 0 {
		t.Fatalf("status mode surfaced events %+v", evs)
	}
	c.close(t, "outage-retry")
	c.close(t, "outage-status")
}

// checkEnvelope: with EVENT_FORMAT=envelope (the Node SSEGateway's format,
// which existing pages parse), a named event reaches onmessage as
// {"type":<name>,"payload":<data>} that JSON.parse accepts even when the data
// spans lines, an unnamed one as its plain data, and ready is still the ready
// event.
func checkEnvelope(t *testing.T, k *kit, b *backend, c *nodeClient) {
	g := startGateway(t, k, b, map[string]string{"EVENT_FORMAT": "envelope"})
	c.open(t, "envelope", g.url("/envelope?c=envelope"))
	c.records().waitRecord(t, "envelope", "event", "ready", 1, 15*time.Second)
	tok := b.nthConnect(t, "envelope", 1, 5*time.Second).Token
	g.send(t, tok, map[string]any{"name": "task_event", "data": "{\n\"a\": 1,\r\n\"b\": \"x\"\n}", "id": "5"}, false)
	g.send(t, tok, map[string]any{"data": "Hello"}, false)
	c.records().waitRecord(t, "envelope", "event", "message", 2, 10*time.Second)
	evs := c.records().events("envelope")
	if len(evs) != 3 {
		t.Fatalf("events %+v, want ready and two messages", evs)
	}
	var env struct {
		Type    string         `json:"type"`
		Payload map[string]any `json:"payload"`
	}
	if err := json.Unmarshal([]byte(evs[1].Data), &env); err != nil {
		t.Fatalf("envelope %q is not JSON: %v", evs[1].Data, err)
	}
	if env.Type != "task_event" || env.Payload["a"] != 1.0 || env.Payload["b"] != "x" || evs[1].LastEventID != "5" {
		t.Errorf("envelope event %q (lastEventId %q), want type task_event, payload {a:1,b:x}, id 5", evs[1].Data, evs[1].LastEventID)
	}
	if evs[2].Data != "Hello" || evs[2].LastEventID != "5" {
		t.Errorf("unnamed event %q lastEventId %q, want \"Hello\" \"5\"", evs[2].Data, evs[2].LastEventID)
	}
	c.close(t, "envelope")
	b.disconnect(t, tok, 10*time.Second)
}

// checkPreflightReconnect: an id holding a CORS-unsafe byte (":" as in
// urn:uuid ids) still comes back as Last-Event-ID on a cross-origin
// reconnect. By the Fetch rules such a header value would need an OPTIONS
// preflight (which the gateway answers without a callback); a relay in front
// of the gateway records whether the browser sent one (Chromium 156 does not:
// it treats the EventSource's Last-Event-ID as exempt), and either way the
// reconnect must arrive with the id.
func checkPreflightReconnect(t *testing.T, k *kit, b *backend, c *nodeClient) {
	g := startGateway(t, k, b, nil)
	const id = "urn:ev:42"
	tap := startTap(t, g.public)
	c.open(t, "preflight", "http://"+tap.addr+"/preflight?c=preflight")
	c.records().waitRecord(t, "preflight", "event", "ready", 1, 15*time.Second)
	first := b.nthConnect(t, "preflight", 1, 5*time.Second)
	g.send(t, first.Token, map[string]any{"name": "bye", "data": "x", "id": id, "retry": retryHint.Milliseconds()}, true)
	second := b.nthConnect(t, "preflight", 2, reconnectWithin)
	if got := second.header("last-event-id"); got != id {
		t.Errorf("reconnect carries last-event-id %q, want %q", got, id)
	}
	ready := c.records().waitRecord(t, "preflight", "event", "ready", 2, 10*time.Second)
	if ready.LastEventID != id {
		t.Errorf("ready after the reconnect: lastEventId %q, want %q", ready.LastEventID, id)
	}
	c.close(t, "preflight")
	b.disconnect(t, second.Token, 10*time.Second)
	const get, options = "GET /preflight?c=preflight", "OPTIONS /preflight?c=preflight"
	got := tap.requests()
	switch {
	case slices.Equal(got, []string{get, get}):
		t.Logf("Chromium %s sent no preflight for a cross-origin reconnect with Last-Event-ID %q", c.version(), id)
	case slices.Equal(got, []string{get, options, get}):
		t.Logf("Chromium %s preflighted the reconnect with Last-Event-ID %q; the gateway's OPTIONS answer let it through", c.version(), id)
	default:
		t.Errorf("requests through the tap %q, want the first GET and the reconnect's GET (with or without a preflight)", got)
	}
}

// rejectionWindow is how long connect callbacks are counted after a rejection:
// longer than Chromium's default reconnection time (3 s), so a page that keeps
// reconnecting shows up.
const rejectionWindow = 4 * time.Second

// checkRejection: a 400, 401 or 403 from the connect callback reaches the page
// as the rejected event with {"status","message"} (the backend's reason
// phrase), never as ready; a page that closes its EventSource on rejected (the
// documented pattern) causes no further connect. A page that ignores rejected
// is watched alongside and what it does is logged: the stream ends cleanly
// after a 200, so the browser reconnects on its own timer.
func checkRejection(t *testing.T, k *kit, b *backend, c *nodeClient) {
	g := startGateway(t, k, b, nil)
	want := map[string]string{
		"400": `{"status":400,"message":"Bad Request"}`,
		"401": `{"status":401,"message":"Token Expired"}`,
		"403": `{"status":403,"message":"Forbidden"}`,
	}
	for status := range want {
		c.open(t, "r"+status, g.url("/rejected?c=r"+status+"&reject="+status), "rejected")
	}
	c.open(t, "ignoring", g.url("/rejected?c=ignoring&reject=401"))
	for status, data := range want {
		es := "r" + status
		rec := c.records().waitRecord(t, es, "event", "rejected", 1, 15*time.Second)
		if rec.Data != data {
			t.Errorf("%s: rejected data %q, want %q", es, rec.Data, data)
		}
		if cl := c.records().waitRecord(t, es, "closed", "", 1, 5*time.Second); cl.ReadyState == nil || *cl.ReadyState != 2 {
			t.Errorf("%s: readyState after close() = %v, want 2", es, cl.ReadyState)
		}
	}
	c.records().waitRecord(t, "ignoring", "event", "rejected", 1, 15*time.Second)
	holdsFor(t, "one connect callback per closed rejected EventSource", rejectionWindow, func() bool {
		for status := range want {
			if n := len(b.connects("r" + status)); n != 1 {
				t.Errorf("r%s: %d connect callbacks, want 1 (the browser reconnected after a rejection)", status, n)
				return false
			}
		}
		return true
	})
	for status := range want {
		es := "r" + status
		if evs := c.records().events(es); len(evs) != 1 {
			t.Errorf("%s: events %+v, want only rejected", es, evs)
		}
	}
	ign := b.connects("ignoring")
	var gaps []string
	for i := 1; i < len(ign); i++ {
		gaps = append(gaps, ign[i].At.Sub(ign[i-1].At).Round(10*time.Millisecond).String())
	}
	t.Logf("a page that does not close on rejected: %d connect callbacks in ~%v (gaps %v); rejected events seen: %d",
		len(ign), rejectionWindow, gaps, countType(c.records().events("ignoring"), "rejected"))
	c.close(t, "ignoring")
}

func countType(recs []record, typ string) int {
	n := 0
	for _, r := range recs {
		if r.Type == typ {
			n++
		}
	}
	return n
}

// checkShed: with MAX_CONNECTIONS=1 and the slot held by another client, the
// browser's request is shed (200, SSE headers, retry: 1000-10000 ms, end of
// stream, no callback). The browser does not give up: its EventSource goes
// back to CONNECTING, and once the slot is released it comes back on its own,
// no sooner than the hint's lower bound, and gets ready.
func checkShed(t *testing.T, k *kit, b *backend, c *nodeClient) {
	g := startGateway(t, k, b, map[string]string{"MAX_CONNECTIONS": "1"})
	held, heldToken := holdStream(t, g, b)

	c.open(t, "shed", g.url("/shed?c=shed"))
	errRec := c.records().waitRecord(t, "shed", "error", "", 1, 15*time.Second)
	if errRec.ReadyState == nil || *errRec.ReadyState != 0 {
		t.Fatalf("after the shed answer readyState = %v, want 0 (CONNECTING: the browser will retry)", errRec.ReadyState)
	}
	if n := g.metric(t, `ssegw_shed_total{cause="too_many_connections"}`); n < 1 {
		t.Fatalf("shed counter %v, want >= 1", n)
	}
	if n := len(b.connects("shed")); n != 0 {
		t.Fatalf("shed request made %d connect callbacks, want 0", n)
	}
	if evs := c.records().events("shed"); len(evs) != 0 {
		t.Fatalf("shed answer surfaced events %+v", evs)
	}

	// Free the slot; the browser comes back by itself within the hint.
	g.send(t, heldToken, nil, true)
	b.disconnect(t, heldToken, 10*time.Second)
	held()
	ready := c.records().waitRecord(t, "shed", "event", "ready", 1, 15*time.Second)
	conn := b.nthConnect(t, "shed", 1, 5*time.Second)
	back := conn.At.Sub(errRec.At)
	sheds := g.metric(t, `ssegw_shed_total{cause="too_many_connections"}`)
	t.Logf("browser came back %v after the shed answer (hint 1000-10000 ms), %v shed answer(s) in all",
		back.Round(time.Millisecond), sheds)
	if back < 900*time.Millisecond {
		t.Errorf("browser came back %v after the shed answer, before the smallest retry hint (1000 ms)", back)
	}
	if ready.Data != "" {
		t.Errorf("ready data %q", ready.Data)
	}
	c.close(t, "shed")
	if d := b.disconnect(t, conn.Token, 10*time.Second); d.Reason != "client_closed" {
		t.Errorf("disconnect reason %q, want client_closed", d.Reason)
	}
}

// holdStream opens a stream with a plain Go HTTP client, waits for its ready
// event and returns a release function and the stream's token.
func holdStream(t *testing.T, g *gateway, b *backend) (release func(), token string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g.url("/held?c=held"), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("holding a stream: %v", err)
	}
	release = func() { cancel(); resp.Body.Close() }
	t.Cleanup(release)
	got := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == "event: ready" {
				got <- true
				return
			}
		}
		got <- false
	}()
	select {
	case ok := <-got:
		if !ok {
			t.Fatal("held stream ended before ready")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("held stream: no ready within 15s")
	}
	return release, b.nthConnect(t, "held", 1, 5*time.Second).Token
}

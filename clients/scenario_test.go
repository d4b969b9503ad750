package clients

import (
	"fmt"
	"testing"
	"time"
)

// scenarioOpts are what differs between clients.
type scenarioOpts struct {
	// origin, if set, is the Origin the client's request must carry (a
	// browser page on another origin than the gateway).
	origin string
	// ownIDOnly: the client reports an event's own id as lastEventId, ""
	// for an event without id:, instead of the stored last event ID the spec
	// asks for (eventsource 4.1.1: `lastEventId: event.id || ""`; it still
	// sends the stored id as Last-Event-ID on reconnect).
	ownIDOnly bool
}

// want is an event a client must report: its listener (type), data and
// lastEventId.
type want struct{ typ, data, lastID string }

func (w want) String() string { return fmt.Sprintf("%s %q lastEventId=%q", w.typ, w.data, w.lastID) }

// assertEvents compares what an EventSource saw with the expected events,
// exactly: nothing missing, nothing extra (a heartbeat surfacing as an event
// would be extra), in order.
func assertEvents(t *testing.T, c sseClient, es string, wants []want) {
	t.Helper()
	got := c.records().events(es)
	ok := len(got) == len(wants)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].Type == wants[i].typ && got[i].Data == wants[i].data && got[i].LastEventID == wants[i].lastID
	}
	if !ok {
		msg := ""
		for i := 0; i < max(len(got), len(wants)); i++ {
			g, w := "-", "-"
			if i < len(got) {
				g = want{got[i].Type, got[i].Data, got[i].LastEventID}.String()
			}
			if i < len(wants) {
				w = wants[i].String()
			}
			mark := "  "
			if g != w {
				mark = "!!"
			}
			msg += fmt.Sprintf("%s #%d got  %s\n      want %s\n", mark, i+1, g, w)
		}
		t.Fatalf("%s %s: events on %q differ:\n%s", c.name(), c.version(), es, msg)
	}
}

// waitHeartbeat waits until the gateway has written one more heartbeat than
// it had at the call (one stream is open, so it went to that stream).
func waitHeartbeat(t *testing.T, g *gateway) {
	t.Helper()
	before := g.metric(t, "ssegw_heartbeats_total")
	waitFor(t, "a heartbeat on the stream", 10*time.Second, func() bool {
		return g.metric(t, "ssegw_heartbeats_total") > before
	})
}

// Bounds for the reconnect after a server close with retry: 300. Chromium and
// eventsource wait exactly the hint (their default is 3 s); go-sse jitters it
// by up to ±50% (its default here is 10 s). The upper bound leaves room for a
// loaded CI machine while staying clear of every default.
const (
	retryHint       = 300 * time.Millisecond
	reconnectMin    = 140 * time.Millisecond
	reconnectMax    = 2500 * time.Millisecond
	reconnectWithin = 10 * time.Second
)

// checkEventsAndReconnect is the scenario every client goes through, on a
// gateway of its own (so the heartbeat counter is this stream's):
//
//  1. open an EventSource; the ready listener fires (empty data, no id);
//  2. after a heartbeat: a named event with an id, an unnamed one (onmessage)
//     with an id, multi-line data with LF, CRLF and CR breaks (arrives joined
//     with "\n", lastEventId kept from the previous id), a named event with
//     empty data, and a UTF-8 event through /internal/publish to the channel
//     the connect callback bound;
//  3. after another heartbeat: a named event with id 7 and retry 300, then a
//     close command. The events seen are exactly the ones sent (heartbeats
//     invisible), with lastEventId following id:;
//  4. the client reconnects after about 300 ms, its request carries
//     Last-Event-ID: 7 (seen in the connect callback), it gets ready again
//     and an event with id 8 on the new stream;
//  5. the client closes; the gateway reports client_closed for it.
func checkEventsAndReconnect(t *testing.T, c sseClient, g *gateway, b *backend, o scenarioOpts) {
	const es, tag = "events", "events"
	// lastID is the lastEventId expected on an event without id: while the
	// stored id is stored.
	lastID := func(stored string) string {
		if o.ownIDOnly {
			return ""
		}
		return stored
	}
	c.open(t, es, g.url("/stream/"+es+"?c="+tag+"&bind=room"))
	c.records().waitRecord(t, es, "event", "ready", 1, 15*time.Second)
	first := b.nthConnect(t, tag, 1, 5*time.Second)
	if got := first.header("last-event-id"); got != "" {
		t.Errorf("first connect carries last-event-id %q", got)
	}
	if o.origin != "" {
		if got := first.header("origin"); got != o.origin {
			t.Errorf("connect callback header origin = %q, want %q (a cross-origin request)", got, o.origin)
		}
	}
	t.Logf("%s %s: first request headers %v", c.name(), c.version(), first.Request.Headers)

	waitHeartbeat(t, g)
	g.send(t, first.Token, map[string]any{"name": "greeting", "data": "hello", "id": "1"}, false)
	g.send(t, first.Token, map[string]any{"data": "plain message", "id": "2"}, false)
	g.send(t, first.Token, map[string]any{"name": "multi", "data": "line one\nline two\r\nline three\rline four"}, false)
	g.send(t, first.Token, map[string]any{"name": "empty", "data": ""}, false)
	pub := g.command(t, "/internal/publish", map[string]any{"channel": "room", "event": map[string]any{"name": "utf8", "data": "héllo wörld ✓ 😀"}})
	if n, _ := pub["connections"].(float64); n != 1 {
		t.Fatalf("publish to room reached %v connections, want 1", pub["connections"])
	}
	c.records().waitRecord(t, es, "event", "utf8", 1, 10*time.Second)
	waitHeartbeat(t, g)
	g.send(t, first.Token, map[string]any{"name": "bye", "data": "see you", "id": "7", "retry": retryHint.Milliseconds()}, false)
	c.records().waitRecord(t, es, "event", "bye", 1, 10*time.Second)
	closedAt := time.Now()
	g.send(t, first.Token, nil, true)

	assertEvents(t, c, es, []want{
		{"ready", "", ""},
		{"greeting", "hello", "1"},
		{"message", "plain message", "2"},
		{"multi", "line one\nline two\nline three\nline four", lastID("2")},
		{"empty", "", lastID("2")},
		{"utf8", "héllo wörld ✓ 😀", lastID("2")},
		{"bye", "see you", "7"},
	})
	if d := b.disconnect(t, first.Token, 10*time.Second); d.Reason != "server_closed" {
		t.Errorf("disconnect reason after the close command = %q, want server_closed", d.Reason)
	}

	second := b.nthConnect(t, tag, 2, reconnectWithin)
	delay := second.At.Sub(closedAt)
	t.Logf("%s %s: reconnected %v after the close (retry hint %v)", c.name(), c.version(), delay.Round(time.Millisecond), retryHint)
	if delay < reconnectMin || delay > reconnectMax {
		t.Errorf("reconnect came %v after the close; with retry: %d it should be about %v (between %v and %v)",
			delay, retryHint.Milliseconds(), retryHint, reconnectMin, reconnectMax)
	}
	if got := second.header("last-event-id"); got != "7" {
		t.Errorf("reconnect carries last-event-id %q, want \"7\" (headers %v)", got, second.Request.Headers)
	}
	ready2 := c.records().waitRecord(t, es, "event", "ready", 2, 10*time.Second)
	if ready2.LastEventID != lastID("7") {
		t.Errorf("ready after the reconnect reports lastEventId %q, want %q", ready2.LastEventID, lastID("7"))
	}
	g.send(t, second.Token, map[string]any{"name": "after", "data": "resumed", "id": "8"}, false)
	after := c.records().waitRecord(t, es, "event", "after", 1, 10*time.Second)
	if after.Data != "resumed" || after.LastEventID != "8" {
		t.Errorf("event after the reconnect: data %q lastEventId %q, want \"resumed\" \"8\"", after.Data, after.LastEventID)
	}
	if n := len(c.records().events(es)); n != 9 {
		t.Errorf("%d events in all, want 9 (7 before the reconnect, ready and after)", n)
	}

	c.close(t, es)
	if d := b.disconnect(t, second.Token, 10*time.Second); d.Reason != "client_closed" {
		t.Errorf("disconnect reason after the client closed = %q, want client_closed", d.Reason)
	}
	if n := len(b.connects(tag)); n != 2 {
		t.Errorf("%d connects for the stream, want 2", n)
	}
}

// checkResume: with history on (HISTORY_SIZE), a client that the server
// closes and that comes back by itself with its stored Last-Event-ID gets
// exactly the events published while it was away — each once, none it had
// already — replayed before its ready or, if it came back before they were
// published, live after it.
func checkResume(t *testing.T, c sseClient, k *kit, b *backend) {
	const es, tag = "resume", "resume"
	g := startGateway(t, k, b, map[string]string{"HISTORY_SIZE": "100"})
	c.open(t, es, g.url("/stream/"+es+"?c="+tag+"&bind=news"))
	c.records().waitRecord(t, es, "event", "ready", 1, 15*time.Second)
	first := b.nthConnect(t, tag, 1, 5*time.Second)
	pub := func(data string) string {
		r := g.command(t, "/internal/publish", map[string]any{"channel": "news", "event": map[string]any{"name": "news", "data": data}})
		id, _ := r["id"].(string)
		if id == "" {
			t.Fatalf("publish answer without id: %v", r)
		}
		return id
	}
	id1, id2 := pub("one"), pub("two")
	c.records().waitRecord(t, es, "event", "news", 2, 10*time.Second)
	// A retry hint (no id: the stored one stays id2), then the server closes.
	g.send(t, first.Token, map[string]any{"name": "bye", "data": "", "retry": retryHint.Milliseconds()}, false)
	c.records().waitRecord(t, es, "event", "bye", 1, 10*time.Second)
	g.send(t, first.Token, nil, true)
	ids := []string{pub("three"), pub("four"), pub("five")}
	second := b.nthConnect(t, tag, 2, reconnectWithin)
	if got := second.header("last-event-id"); got != id2 {
		t.Fatalf("reconnect carries last-event-id %q, want %q", got, id2)
	}
	c.records().waitRecord(t, es, "event", "ready", 2, 10*time.Second)
	c.records().waitRecord(t, es, "event", "news", 5, 10*time.Second)
	var news []string
	for _, r := range c.records().events(es) {
		if r.Type == "news" {
			news = append(news, r.Data)
		}
	}
	if fmt.Sprint(news) != "[one two three four five]" {
		t.Fatalf("%s %s: news events %v, want each once: one two (before the close) three four five (missed)", c.name(), c.version(), news)
	}
	t.Logf("%s %s: resumed from %s (ids %s %s %v)", c.name(), c.version(), id2, id1, id2, ids)
	c.close(t, es)
}

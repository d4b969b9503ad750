package gateway_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// bindByQuery makes the backend bind each stream to the channels in its ?ch=a,b query.
func bindByQuery(b *backend) {
	b.onConnect(func(rec callbackRec) reply {
		u, _ := url.Parse(rec.Request.URL)
		var chs []string
		if v := u.Query().Get("ch"); v != "" {
			chs = strings.Split(v, ",")
		}
		body, _ := json.Marshal(map[string]any{"bindings": chs, "request_id": "r1"})
		return reply{statusLine: "200 OK", body: string(body)}
	})
}

func TestPublishReachesExactlyTheBoundStreams(t *testing.T) {
	b := startBackend(t)
	bindByQuery(b)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url()})
	ca, ta := openStream(t, g, b, 1, "/s?ch=a")
	cb, tb := openStream(t, g, b, 2, "/s?ch=b")
	cab, _ := openStream(t, g, b, 3, "/s?ch=a,b,a")
	cn, _ := openStream(t, g, b, 4, "/s")
	pub := func(body string, want int) {
		t.Helper()
		code, resp := g.control("/internal/publish", body)
		if code != 200 || resp != fmt.Sprintf(`{"status":"ok","connections":%d}`, want) {
			t.Fatalf("publish %s: %d %s, want %d connections", body, code, resp, want)
		}
	}
	pub(`{"channel":"a","event":{"name":"x","data":"1"}}`, 2)
	g.control("/internal/send", `{"token":"`+ta+`","event":{"data":"unicast-a"}}`)
	pub(`{"channel":"b","event":{"data":"2"}}`, 2)
	g.control("/internal/send", `{"token":"`+tb+`","event":{"data":"unicast-b"}}`)
	pub(`{"channel":"nobody","event":{"data":"3"}}`, 0)
	pub(`{"channel":"a","event":{"data":"4"}}`, 2)
	expect := func(c *client, want ...string) {
		t.Helper()
		for _, w := range want {
			if ev := c.event(); ev != w {
				t.Fatalf("got %q, want %q", ev, w)
			}
		}
	}
	expect(ca, "event: x\ndata: 1\n\n", "data: unicast-a\n\n", "data: 4\n\n")
	expect(cb, "data: 2\n\n", "data: unicast-b\n\n")
	expect(cab, "event: x\ndata: 1\n\n", "data: 2\n\n", "data: 4\n\n")
	// The unbound stream got nothing: the next thing it sees is a heartbeat.
	if ch := cn.chunk(); ch != ": heartbeat\n\n" {
		t.Fatalf("unbound stream got %q", ch)
	}
	// Publish with close ends every bound stream, each with server_closed.
	pub(`{"channel":"b","event":{"data":"bye"},"close":true}`, 2)
	expect(cb, "data: bye\n\n", "")
	expect(cab, "data: bye\n\n", "")
	pub(`{"channel":"b","event":{"data":"after"}}`, 0)
	pub(`{"channel":"a","event":{"data":"5"}}`, 1)
	expect(ca, "data: 5\n\n")
	waitFor(t, "two server_closed", 5*time.Second, func() bool { return b.count("disconnect") == 2 })
	for _, c := range b.snapshot() {
		if c.Action == "disconnect" && c.Reason != "server_closed" {
			t.Fatalf("reason %q", c.Reason)
		}
	}
}

func TestPublishValidation(t *testing.T) {
	b := startBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url()})
	f := func(body string, status int, code string) {
		t.Helper()
		got, resp := g.control("/internal/publish", body)
		if got != status || !strings.Contains(resp, code) {
			t.Fatalf("publish %s: %d %s, want %d %s", body, got, resp, status, code)
		}
	}
	f(`{}`, 400, "INVALID_CHANNEL_MISSING")
	f(`{"channel":7}`, 400, "INVALID_CHANNEL_MISSING")
	f(`{"channel":"c","event":null}`, 400, "INVALID_EVENT_TYPE")
	f(`{"channel":"c","event":{"name":"x"}}`, 400, "INVALID_EVENT_DATA_MISSING")
	f(`{"channel":"c","close":"yes"}`, 400, "INVALID_CLOSE_TYPE")
	f(`{"channel":"c","event":{"data":"x","retry":-5}}`, 400, "INVALID_EVENT_RETRY")
	f(`{"channel":"c","event":{"data":"x"}}`, 200, `"connections":0`)
}

func TestBatchResultsInOrder(t *testing.T) {
	b := startBackend(t)
	bindByQuery(b)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url()})
	c, tok := openStream(t, g, b, 1, "/s?ch=room")
	body := `[
		{"token":"` + tok + `","event":{"data":"1"}},
		{"token":5},
		{"channel":"room","event":{"data":"2"}},
		{"token":"00000000-0000-4000-8000-000000000000","event":{"data":"x"}},
		{"channel":"room","event":{"data":"3"}},
		{"token":"` + tok + `","event":{"data":"4"},"close":true}
	]`
	code, resp := g.control("/internal/batch", body)
	want := `{"results":[{"status":"ok"},` +
		`{"error":{"message":"Invalid request: token is required and must be a string","code":"INVALID_TOKEN_MISSING"}},` +
		`{"status":"ok","connections":1},` +
		`{"error":{"message":"Token not found","code":"TOKEN_NOT_FOUND"}},` +
		`{"status":"ok","connections":1},{"status":"ok"}]}`
	if code != 200 || resp != want {
		t.Fatalf("batch: %d\n got %s\nwant %s", code, resp, want)
	}
	for _, w := range []string{"data: 1\n\n", "data: 2\n\n", "data: 3\n\n", "data: 4\n\n", ""} {
		if ev := c.event(); ev != w {
			t.Fatalf("got %q want %q", ev, w)
		}
	}
	// Newline-delimited JSON works the same way.
	code, resp = g.control("/internal/batch", `{"channel":"room","event":{"data":"x"}}`+"\n"+`{"token":"nope"}`+"\n")
	if code != 200 || resp != `{"results":[{"status":"ok","connections":0},{"error":{"message":"Token not found","code":"TOKEN_NOT_FOUND"}}]}` {
		t.Fatalf("ndjson: %d %s", code, resp)
	}
	if code, resp := g.control("/internal/batch", `[{"token":`); code != 400 || !strings.Contains(resp, "INVALID_JSON") {
		t.Fatalf("bad batch: %d %s", code, resp)
	}
}

// TestScaleFanoutThousandStreamsHundredEvents: every stream gets every event
// once, in order (200 x 30 under -race; full size in `make test`'s scale pass).
func TestScaleFanoutThousandStreamsHundredEvents(t *testing.T) {
	streams, events := 1000, 100
	if raceEnabled {
		streams, events = 200, 30
	}
	b := startBackend(t)
	bindByQuery(b)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url(), "HEARTBEAT_INTERVAL_SECONDS": "60"})
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	ready := make(chan struct{}, streams)
	for i := 0; i < streams; i++ {
		conn, err := net.Dial("tcp", g.PublicAddr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fmt.Fprintf(conn, "GET /fan?ch=all HTTP/1.1\r\nHost: x\r\n\r\n")
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- readSequence(conn, events, ready)
		}()
	}
	for i := 0; i < streams; i++ {
		select {
		case <-ready:
		case err := <-errs:
			t.Fatalf("stream failed before ready (%d ready): %v", i, err)
		case <-time.After(60 * time.Second):
			t.Fatalf("only %d of %d streams ready", i, streams)
		}
	}
	t.Logf("%d streams ready after %v", streams, time.Since(start))
	for i := 0; i < events; i++ {
		code, resp := g.control("/internal/publish", fmt.Sprintf(`{"channel":"all","event":{"data":"%d"}}`, i))
		if code != 200 || resp != fmt.Sprintf(`{"status":"ok","connections":%d}`, streams) {
			t.Fatalf("publish %d: %d %s", i, code, resp)
		}
	}
	wg.Wait()
	t.Logf("all events delivered after %v", time.Since(start))
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// readSequence reads a stream's chunks and checks it gets ready then data 0..n-1.
func readSequence(conn net.Conn, n int, ready chan<- struct{}) error {
	_ = conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if line == "\r\n" {
			break
		}
	}
	next := -1 // -1: waiting for ready
	for next < n {
		var size int
		if _, err := fmt.Fscanf(r, "%x\r\n", &size); err != nil {
			return err
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		msg := string(buf[:size])
		switch {
		case msg == ": heartbeat\n\n":
		case next == -1 && msg == "event: ready\ndata:\n\n":
			ready <- struct{}{}
			next = 0
		case msg == fmt.Sprintf("data: %d\n\n", next):
			next++
		default:
			return fmt.Errorf("stream got %q while expecting event %d", msg, next)
		}
	}
	return nil
}

// TestBatchSendsCoalesceInOrder: many sends to one stream in one batch arrive
// complete and in order (they go out in one writev), interleaved with a publish.
func TestBatchSendsCoalesceInOrder(t *testing.T) {
	b := startBackend(t)
	bindByQuery(b)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url()})
	c, tok := openStream(t, g, b, 1, "/co?ch=k")
	var body strings.Builder
	body.WriteString("[")
	for i := 0; i < 150; i++ {
		if i > 0 {
			body.WriteString(",")
		}
		if i == 70 {
			body.WriteString(`{"channel":"k","event":{"data":"pub"}},`)
		}
		fmt.Fprintf(&body, `{"token":%q,"event":{"data":"%d"}}`, tok, i)
	}
	body.WriteString("]")
	before := scrapeControl(t, g)
	if code, resp := g.control("/internal/batch", body.String()); code != 200 || strings.Count(resp, `{"status":"ok"}`) != 150 {
		t.Fatalf("batch: %d %s", code, resp)
	}
	after := scrapeControl(t, g)
	events := after["ssegw_events_written_total"] - before["ssegw_events_written_total"]
	writes := after["ssegw_write_calls_total"] - before["ssegw_write_calls_total"]
	if events != 151 || writes > 10 {
		t.Fatalf("%v events in %v write calls: want 151 events coalesced into a few writes", events, writes)
	}
	for i := 0; i < 150; i++ {
		if i == 70 {
			if ev := c.event(); ev != "data: pub\n\n" {
				t.Fatalf("publish in the middle: %q", ev)
			}
		}
		if ev := c.event(); ev != fmt.Sprintf("data: %d\n\n", i) {
			t.Fatalf("event %d: %q", i, ev)
		}
	}
}

// TestStreamBoundToManyChannels: one stream on 100 channels gets each
// channel's publish once; closing it leaves no channel behind.
func TestStreamBoundToManyChannels(t *testing.T) {
	b := startBackend(t)
	bindByQuery(b)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url(), "HEARTBEAT_INTERVAL_SECONDS": "60"})
	names := make([]string, 100)
	for i := range names {
		names[i] = fmt.Sprintf("c%d", i)
	}
	c, _ := openStream(t, g, b, 1, "/many?ch="+strings.Join(names, ","))
	other, _ := openStream(t, g, b, 2, "/other?ch=c7")
	for i, n := range names {
		want := 1
		if n == "c7" {
			want = 2
		}
		if code, resp := g.control("/internal/publish", fmt.Sprintf(`{"channel":%q,"event":{"data":"%d"}}`, n, i)); resp != fmt.Sprintf(`{"status":"ok","connections":%d}`, want) {
			t.Fatalf("publish %s: %d %s", n, code, resp)
		}
	}
	for i := range names {
		if ev := c.event(); ev != fmt.Sprintf("data: %d\n\n", i) {
			t.Fatalf("event %d: %q", i, ev)
		}
	}
	if ev := other.event(); ev != "data: 7\n\n" {
		t.Fatalf("other stream: %q", ev)
	}
	c.conn.Close()
	other.conn.Close()
	assertIdle(t, g)
}

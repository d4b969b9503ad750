package gateway_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// History and resume (CONTRACT.md section 9), end to end.

// historyBackend binds streams to ?ch=a,b and answers since=<since> from the
// query too.
func historyBackend(t *testing.T) *backend {
	b := startBackend(t)
	b.onConnect(func(rec callbackRec) reply {
		u, _ := url.Parse(rec.Request.URL)
		body := map[string]any{}
		if v := u.Query().Get("ch"); v != "" {
			body["bindings"] = strings.Split(v, ",")
		}
		if v := u.Query().Get("since"); v != "" {
			body["since"] = v
		}
		raw, _ := json.Marshal(body)
		return reply{statusLine: "200 OK", body: string(raw)}
	})
	return b
}

// publishID publishes data to channel and returns the position the answer names.
func publishID(t *testing.T, g *gw, channel, data string) string {
	t.Helper()
	code, body := g.control("/internal/publish", fmt.Sprintf(`{"channel":%q,"event":{"name":"m","data":%q}}`, channel, data))
	var ans struct {
		Status string
		ID     string
	}
	if err := json.Unmarshal([]byte(body), &ans); code != 200 || err != nil || ans.Status != "ok" || ans.ID == "" {
		t.Fatalf("publish: %d %s", code, body)
	}
	return ans.ID
}

// resumeStream opens a stream with extra header lines and returns the
// events before ready and the client (positioned after ready).
func resumeStream(t *testing.T, g *gw, target string, extra ...string) ([]string, *client) {
	t.Helper()
	c := dial(t, g.PublicAddr())
	c.get(target, extra...)
	if h := c.head(); h != sseHead {
		t.Fatalf("head %q", h)
	}
	var before []string
	for {
		ev := c.event()
		if ev == "event: ready\ndata:\n\n" {
			return before, c
		}
		before = append(before, ev)
	}
}

func msg(id, data string) string { return "id: " + id + "\nevent: m\ndata: " + data + "\n\n" }

// TestResumeReplaysWhatWasMissed: publishes get positions (the answer's id,
// the event's id: line, /internal/position); a stream that comes back with
// Last-Event-ID gets every later kept message of its channels, in order,
// once, before ready, then live ones; the connect answer's since wins over
// the header; a stream bound to two channels gets both merged in position
// order; a stream without bindings replays nothing; ids from a client are
// refused.
func TestResumeReplaysWhatWasMissed(t *testing.T) {
	b := historyBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url(), "HISTORY_SIZE": "100"})
	code, body := controlGet(g.ControlAddr() + "/internal/position")
	var pos0 struct{ ID string }
	if json.Unmarshal([]byte(body), &pos0) != nil || code != 200 || pos0.ID == "" {
		t.Fatalf("position before any publish: %d %s", code, body)
	}
	live, _ := openStream(t, g, b, 1, "/live?ch=a")
	var ids []string
	for i := 0; i < 6; i++ {
		ch := "a"
		if i%2 == 1 {
			ch = "b"
		}
		ids = append(ids, publishID(t, g, ch, fmt.Sprint(i)))
	}
	if ev := live.event(); ev != msg(ids[0], "0") {
		t.Fatalf("live stream got %q, want the event with its id", ev)
	}
	code, body = controlGet(g.ControlAddr() + "/internal/position")
	if code != 200 || body != `{"id":"`+ids[5]+`"}` {
		t.Fatalf("position: %d %s, want %s", code, body, ids[5])
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("ids do not sort in publish order: %v", ids)
		}
	}
	// Last-Event-ID: everything of channel a after ids[0] (ids[2], ids[4]).
	got, c := resumeStream(t, g, "/r?ch=a", "Last-Event-ID: "+ids[0]+"\r\n")
	if want := []string{msg(ids[2], "2"), msg(ids[4], "4")}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("replay %q, want %q", got, want)
	}
	// Then live.
	id6 := publishID(t, g, "a", "6")
	if ev := c.event(); ev != msg(id6, "6") {
		t.Fatalf("after the replay: %q", ev)
	}
	// since in the connect answer wins over the header.
	got, _ = resumeStream(t, g, "/r?ch=a&since="+ids[3], "Last-Event-ID: "+ids[0]+"\r\n")
	if want := []string{msg(ids[4], "4"), msg(id6, "6")}; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("since: replay %q, want %q", got, want)
	}
	// Two channels merged in position order; from the very first position.
	got, _ = resumeStream(t, g, "/r?ch=b,a&since="+pos0.ID)
	var want []string
	for i, id := range ids {
		want = append(want, msg(id, fmt.Sprint(i)))
	}
	want = append(want, msg(id6, "6"))
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("two channels: replay %q, want %q", got, want)
	}
	// No bindings: nothing to resume.
	if got, _ := resumeStream(t, g, "/r", "Last-Event-ID: "+ids[0]+"\r\n"); len(got) != 0 {
		t.Fatalf("unbound stream got %q before ready", got)
	}
	// Ids are the gateway's.
	for _, path := range []string{"/internal/publish", "/internal/send"} {
		code, body := g.control(path, `{"channel":"a","token":"x","event":{"data":"d","id":"7"}}`)
		if code != 400 || !strings.Contains(body, `"code":"INVALID_EVENT_ID"`) || !strings.Contains(body, "assigned by the gateway") {
			t.Fatalf("%s with an id: %d %s", path, code, body)
		}
	}
	code, body = g.control("/internal/batch", `[{"channel":"a","event":{"data":"x"}},{"channel":"a","event":{"data":"y","id":"1"}}]`)
	if code != 200 || !strings.Contains(body, `{"status":"ok","connections":`) || !strings.Contains(body, `,"id":"`) ||
		!strings.Contains(body, `"INVALID_EVENT_ID"`) {
		t.Fatalf("batch: %d %s", code, body)
	}
	m := scrapeControl(t, g)
	if m["ssegw_replays_total"] < 3 || m["ssegw_replayed_messages_total"] < 11 || m["ssegw_history_messages"] < 8 {
		t.Fatalf("metrics: replays %v replayed %v kept %v", m["ssegw_replays_total"], m["ssegw_replayed_messages_total"], m["ssegw_history_messages"])
	}
}

// TestResumeResyncs: when completeness cannot be proven the stream gets
// event: resync before ready, and no replay: a malformed position, one of
// another history (a restarted gateway), and positions whose successors
// were dropped by the size, age and byte bounds.
func TestResumeResyncs(t *testing.T) {
	b := historyBackend(t)
	resync := func(reason string) string {
		return `event: resync` + "\n" + `data: {"reason":"` + reason + `"}` + "\n\n"
	}
	check := func(g *gw, since, reason string) {
		t.Helper()
		got, _ := resumeStream(t, g, "/r?ch=a&since="+url.QueryEscape(since))
		if len(got) != 1 || got[0] != resync(reason) {
			t.Fatalf("since %q: got %q before ready, want only the %s resync", since, got, reason)
		}
	}
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url(), "HISTORY_SIZE": "3"})
	other := startGateway(t, map[string]string{"CALLBACK_URL": b.url(), "HISTORY_SIZE": "3"})
	first := publishID(t, g, "a", "1")
	check(g, "not-a-position", "unknown")
	check(g, publishID(t, other, "a", "elsewhere"), "unknown")
	for i := 2; i <= 5; i++ {
		publishID(t, g, "a", fmt.Sprint(i))
	}
	check(g, first, "truncated") // 5 published, 3 kept
	// Age: HISTORY_TTL_SECONDS=1.
	ga := startGateway(t, map[string]string{"CALLBACK_URL": b.url(), "HISTORY_SIZE": "10", "HISTORY_TTL_SECONDS": "1"})
	old := publishID(t, ga, "a", "old")
	publishID(t, ga, "a", "older too")
	waitFor(t, "the kept messages to expire", 5*time.Second, func() bool {
		return scrapeControl(t, ga)["ssegw_history_messages"] == 0
	})
	check(ga, old, "truncated")
	// Bytes: HISTORY_MAX_BYTES=4096 holds a few of these.
	gb := startGateway(t, map[string]string{"CALLBACK_URL": b.url(), "HISTORY_SIZE": "100", "HISTORY_MAX_BYTES": "4096"})
	start := publishID(t, gb, "a", "s")
	for i := 0; i < 8; i++ {
		publishID(t, gb, "a", strings.Repeat("x", 1000))
	}
	check(gb, start, "truncated")
	m := scrapeControl(t, g)
	if m[`ssegw_resyncs_total{reason="unknown"}`] < 2 || m[`ssegw_resyncs_total{reason="truncated"}`] < 3 {
		t.Fatalf("resync counters: %v %v", m[`ssegw_resyncs_total{reason="unknown"}`], m[`ssegw_resyncs_total{reason="truncated"}`])
	}
}

// TestResumeRacesLivePublishes: while events are published back to back,
// streams drop and come back with the id of the last event they got; every
// stream's sequence is whole — no gap, no duplicate — across replay and live.
func TestResumeRacesLivePublishes(t *testing.T) {
	b := historyBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url(), "HISTORY_SIZE": "100000", "HEARTBEAT_INTERVAL_SECONDS": "60"})
	const total = 2000
	_, body := controlGet(g.ControlAddr() + "/internal/position")
	var start struct{ ID string }
	if err := json.Unmarshal([]byte(body), &start); err != nil {
		t.Fatal(err)
	}
	streams := 8
	if raceEnabled {
		streams = 4
	}
	stop := make(chan struct{})
	var pubWG sync.WaitGroup
	pubWG.Add(1)
	go func() { // the publisher: data is the sequence number
		defer pubWG.Done()
		for i := 0; i < total; i++ {
			select {
			case <-stop:
				return
			default:
			}
			post(g.ControlAddr(), "/internal/publish", fmt.Sprintf(`{"channel":"seq","event":{"data":"%d"}}`, i))
		}
	}()
	errs := make(chan error, streams)
	for s := 0; s < streams; s++ {
		go func() { errs <- followSequence(g, total, s, start.ID) }()
	}
	for s := 0; s < streams; s++ {
		if err := <-errs; err != nil {
			close(stop)
			pubWG.Wait()
			t.Fatal(err)
		}
	}
	pubWG.Wait()
}

// followSequence reads the "seq" channel from the start (the first stream
// resumes from the position before the first publish, given as since), dropping
// the stream a few times and resuming with the last id it got, until it has
// seen 0..total-1, each exactly once and in order.
func followSequence(g *gw, total, seed int, startID string) error {
	next, lastID := 0, ""
	for round := 0; next < total; round++ {
		if round > 50 {
			return fmt.Errorf("stream %d: too many rounds, at %d", seed, next)
		}
		target, extra := "/seq?ch=seq&since="+startID, ""
		if lastID != "" {
			target, extra = "/seq?ch=seq", "Last-Event-ID: "+lastID+"\r\n"
		}
		n, id, err := readSeq(g.PublicAddr(), target, extra, next, 50+seed*37+round*11, total)
		if err != nil {
			return fmt.Errorf("stream %d round %d: %v", seed, round, err)
		}
		if id != "" {
			lastID = id
		}
		if lastID == "" && n > 0 {
			return fmt.Errorf("stream %d: events without ids", seed)
		}
		next = n
	}
	return nil
}

// readSeq opens one stream and reads events until it has read `take` of them
// or the sequence ends; it checks each is `want`, want+1, ... and returns the
// next expected number and the last id.
func readSeq(addr, target, extra string, want, take, total int) (int, string, error) {
	conn, err := dialRaw(addr)
	if err != nil {
		return want, "", err
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n", target, extra)
	s := &rawStream{conn: conn}
	s.r = newReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	if err := skipHead(s.r); err != nil {
		return want, "", err
	}
	lastID := ""
	for got := 0; got < take && want < total; {
		m := s.next()
		if s.err != nil {
			return want, lastID, s.err
		}
		if m == "event: ready\ndata:\n\n" || m == ": heartbeat\n\n" {
			continue
		}
		var id string
		var n int
		if _, err := fmt.Sscanf(m, "id: %s\ndata: %d\n\n", &id, &n); err != nil {
			return want, lastID, fmt.Errorf("message %q: %v", m, err)
		}
		if n != want {
			return want, lastID, fmt.Errorf("got %d, want %d (a gap or a duplicate)", n, want)
		}
		want++
		got++
		lastID = id
	}
	return want, lastID, nil
}

func dialRaw(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, 5*time.Second) }

func newReader(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

// skipHead reads a response head.
func skipHead(r *bufio.Reader) error {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if line == "\r\n" {
			return nil
		}
	}
}

// TestResumeReplayBatchesAndKeptClose: a replay longer than one write batch
// (the loop writes up to 64 kept frames per writev) arrives whole, in order,
// once; a kept publish with close ends a resumed stream right after its
// event, in the middle of a batch, and nothing after it is written.
func TestResumeReplayBatchesAndKeptClose(t *testing.T) {
	b := historyBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url(), "HISTORY_SIZE": "1000"})
	var ids []string
	for i := 0; i < 150; i++ {
		ids = append(ids, publishID(t, g, "a", fmt.Sprint(i)))
	}
	got, _ := resumeStream(t, g, "/r?ch=a", "Last-Event-ID: "+ids[0]+"\r\n")
	var want []string
	for i := 1; i < len(ids); i++ {
		want = append(want, msg(ids[i], fmt.Sprint(i)))
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("replay of %d: got %d events, first differences from %q", len(want), len(got), got[:min(3, len(got))])
	}
	code, body := g.control("/internal/publish", `{"channel":"a","event":{"name":"m","data":"bye"},"close":true}`)
	var ans struct{ ID string }
	if err := json.Unmarshal([]byte(body), &ans); code != 200 || err != nil || ans.ID == "" {
		t.Fatalf("publish with close: %d %s", code, body)
	}
	publishID(t, g, "a", "after")
	c := dial(t, g.PublicAddr())
	c.get("/r?ch=a", "Last-Event-ID: "+ids[140]+"\r\n")
	if h := c.head(); h != sseHead {
		t.Fatalf("head %q", h)
	}
	for i := 141; i < len(ids); i++ {
		if ev := c.event(); ev != msg(ids[i], fmt.Sprint(i)) {
			t.Fatalf("event %d: %q", i, ev)
		}
	}
	if ev := c.event(); ev != msg(ans.ID, "bye") {
		t.Fatalf("kept close: %q", ev)
	}
	if ch := c.chunk(); ch != "" {
		t.Fatalf("after the kept close: %q, want the last chunk (the response ends there)", ch)
	}
}

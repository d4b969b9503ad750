package cluster_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"ssegw/internal/testkit"
)

// Cluster-wide history in JetStream (CONTRACT.md section 9, cluster mode).

func historyCluster(t *testing.T, b *broker, n int, env map[string]string) ([]*gw, *backend) {
	t.Helper()
	be := startBackend(t, "news")
	var gws []*gw
	for range n {
		e := map[string]string{"NATS_URL": b.url(), "CALLBACK_URL": be.url(), "HISTORY_SIZE": "100"}
		for k, v := range env {
			e[k] = v
		}
		gws = append(gws, startGateway(t, e))
	}
	for _, g := range gws {
		waitFor(t, "the history ready", waitLong, func() bool { code, _ := g.readyz(); return code == 200 })
	}
	return gws, be
}

func position(t *testing.T, g *gw) string {
	t.Helper()
	code, body := testkit.Get(g.ControlAddr() + "/internal/position")
	var p struct{ ID string }
	if json.Unmarshal([]byte(body), &p) != nil || code != 200 || p.ID == "" {
		t.Fatalf("position: %d %s", code, body)
	}
	return p.ID
}

func publishKept(t *testing.T, g *gw, data string) (id string, conns int) {
	t.Helper()
	code, body := g.control("/internal/publish", fmt.Sprintf(`{"channel":"news","event":{"name":"n","data":%q}}`, data))
	var a struct {
		ID          string
		Connections int
	}
	if json.Unmarshal([]byte(body), &a) != nil || code != 200 || a.ID == "" {
		t.Fatalf("publish: %d %s", code, body)
	}
	return a.ID, a.Connections
}

// resumeOn opens a stream on g with a Last-Event-ID and returns what came
// before ready, and the client.
func resumeOn(t *testing.T, g *gw, lastID string) ([]string, *client) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", g.PublicAddr(), readWait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &client{t: t, conn: conn, r: bufio.NewReader(conn)}
	fmt.Fprintf(conn, "GET /events HTTP/1.1\r\nHost: gw\r\nLast-Event-ID: %s\r\n\r\n", lastID)
	c.head()
	var before []string
	for {
		ev := c.event()
		if ev == "event: ready\ndata:\n\n" {
			return before, c
		}
		before = append(before, ev)
	}
}

func kept(id, data string) string { return "id: " + id + "\nevent: n\ndata: " + data + "\n\n" }

// TestClusterHistory: publishes through any gateway are kept in JetStream
// with cluster-wide positions and reach live streams everywhere once, with
// their id; a stream that comes back on another gateway with its
// Last-Event-ID gets exactly what it missed; the history outlives a
// gateway's restart; positions of another history resync.
func TestClusterHistory(t *testing.T) {
	b := startJetStream(t)
	gws, be := historyCluster(t, b, 3, nil)
	live := openStream(t, gws[0].PublicAddr(), be, 1)
	waitFor(t, "gateway 0 subscribed", waitLong, func() bool { return gws[0].Cluster.Subscriptions() == 1 })
	start := position(t, gws[2])
	var ids []string
	for i := 0; i < 4; i++ {
		id, conns := publishKept(t, gws[i%2], fmt.Sprint(i)) // through gateways 0 and 1
		ids = append(ids, id)
		if want := map[int]int{0: 1, 1: 0}[i%2]; conns != want {
			t.Fatalf("publish %d through gateway %d reached %d of its streams, want %d", i, i%2, conns, want)
		}
	}
	for i, id := range ids {
		live.expect(kept(id, fmt.Sprint(i)))
	}
	if p := position(t, gws[1]); p != ids[3] {
		t.Fatalf("position %s, want the last publish's %s", p, ids[3])
	}
	if ids[0] <= start {
		t.Fatalf("positions %s then %s do not grow", start, ids[0])
	}
	// The live stream drops and comes back on another gateway.
	live.conn.Close()
	missed, _ := publishKept(t, gws[1], "while away")
	before, back := resumeOn(t, gws[2], ids[1])
	if want := []string{kept(ids[2], "2"), kept(ids[3], "3"), kept(missed, "while away")}; strings.Join(before, "|") != strings.Join(want, "|") {
		t.Fatalf("replay on gateway 2: %q, want %q", before, want)
	}
	after, _ := publishKept(t, gws[0], "live again")
	back.expect(kept(after, "live again"))
	// A gateway restarts; the history does not.
	shutdown(t, gws[2].Gateway)
	g3 := startGateway(t, map[string]string{"NATS_URL": b.url(), "CALLBACK_URL": be.url(), "HISTORY_SIZE": "100"})
	waitFor(t, "the new gateway ready", waitLong, func() bool { code, _ := g3.readyz(); return code == 200 })
	before, _ = resumeOn(t, g3, ids[3])
	if want := []string{kept(missed, "while away"), kept(after, "live again")}; strings.Join(before, "|") != strings.Join(want, "|") {
		t.Fatalf("replay after a restart: %q, want %q", before, want)
	}
	// Not a position of this history.
	before, _ = resumeOn(t, g3, "AAAAAAAA-00000000001")
	if len(before) != 1 || before[0] != "event: resync\ndata: {\"reason\":\"unknown\"}\n\n" {
		t.Fatalf("foreign position: %q", before)
	}
}

// TestClusterHistoryTruncated: with HISTORY_SIZE=2, a position older than
// the kept messages resyncs (truncated) on any gateway.
func TestClusterHistoryTruncated(t *testing.T) {
	b := startJetStream(t)
	gws, _ := historyCluster(t, b, 2, map[string]string{"HISTORY_SIZE": "2"})
	first, _ := publishKept(t, gws[0], "a")
	for _, d := range []string{"b", "c", "d"} {
		publishKept(t, gws[1], d)
	}
	for _, g := range gws {
		before, _ := resumeOn(t, g, first)
		if len(before) != 1 || before[0] != "event: resync\ndata: {\"reason\":\"truncated\"}\n\n" {
			t.Fatalf("truncated: %q", before)
		}
	}
}

// TestClusterHistoryNeedsJetStream: on a broker without JetStream, /readyz
// names the history, and a publish that should be kept is refused (503
// HISTORY_UNAVAILABLE) instead of silently not kept.
func TestClusterHistoryNeedsJetStream(t *testing.T) {
	b := startBroker(t)
	be := startBackend(t, "news")
	g := startGateway(t, map[string]string{"NATS_URL": b.url(), "CALLBACK_URL": be.url(), "HISTORY_SIZE": "10"})
	code, body := g.readyz()
	if code != 503 || !strings.Contains(body, "JetStream not available") {
		t.Fatalf("readyz: %d %s", code, body)
	}
	code, body = g.control("/internal/publish", `{"channel":"news","event":{"data":"x"}}`)
	if code != 503 || !strings.Contains(body, "HISTORY_UNAVAILABLE") {
		t.Fatalf("publish: %d %s", code, body)
	}
}

// TestClusterHistoryRace: while events are published one after the other
// through the three gateways in turn, streams keep dropping and coming back
// on the next gateway with the id of the last event they got; every
// stream's sequence is whole — no gap, no duplicate — across replays, live
// delivery and gateways.
func TestClusterHistoryRace(t *testing.T) {
	b := startJetStream(t)
	gws, _ := historyCluster(t, b, 3, map[string]string{"HISTORY_SIZE": "10000"})
	start := position(t, gws[0])
	const total = 300
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < total; i++ {
			g := gws[i%3]
			resp, err := http.Post("http://"+g.ControlAddr()+"/internal/publish", "application/json",
				strings.NewReader(fmt.Sprintf(`{"channel":"news","event":{"data":"%d"}}`, i)))
			if err == nil {
				resp.Body.Close()
			}
		}
	}()
	errs := make(chan error, 4)
	for s := 0; s < 4; s++ {
		go func() {
			next, last := 0, start
			for round := 0; next < total; round++ {
				if round > 100 {
					errs <- fmt.Errorf("follower %d stuck at %d", s, next)
					return
				}
				var err error
				next, last, err = followOnce(gws[(s+round)%3].PublicAddr(), last, next, 10+s*7+round%5, total)
				if err != nil {
					errs <- fmt.Errorf("follower %d round %d: %v", s, round, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	<-done
}

// followOnce resumes from lastID on addr and reads up to take events, each
// the next number of the sequence.
func followOnce(addr, lastID string, want, take, total int) (int, string, error) {
	conn, err := net.DialTimeout("tcp", addr, readWait)
	if err != nil {
		return want, lastID, err
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /events HTTP/1.1\r\nHost: gw\r\nLast-Event-ID: %s\r\n\r\n", lastID)
	r := bufio.NewReader(conn)
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return want, lastID, err
		}
		if line == "\r\n" {
			break
		}
	}
	for got := 0; got < take && want < total; {
		var n int
		if _, err := fmt.Fscanf(r, "%x\r\n", &n); err != nil {
			return want, lastID, err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return want, lastID, err
		}
		m := string(buf[:n])
		if m == "event: ready\ndata:\n\n" || m == ": heartbeat\n\n" {
			continue
		}
		if strings.HasPrefix(m, "event: resync") {
			return want, lastID, fmt.Errorf("resync %q from %s", m, lastID)
		}
		var id string
		var k int
		if _, err := fmt.Sscanf(m, "id: %s\ndata: %d\n\n", &id, &k); err != nil {
			return want, lastID, fmt.Errorf("message %q: %v", m, err)
		}
		if k != want {
			return want, lastID, fmt.Errorf("got %d, want %d (a gap or a duplicate)", k, want)
		}
		want, lastID = want+1, id
		got++
	}
	return want, lastID, nil
}

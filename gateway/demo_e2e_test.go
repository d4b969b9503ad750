package gateway_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"ssegw/demo"
)

// TestDemoBackendClock: the `make run` demo accepts a stream and sends it a
// clock event through the control port, and serves its page.
func TestDemoBackendClock(t *testing.T) {
	ctrl := dialListen(t)
	d := &demo.Backend{ControlURL: "http://" + ctrl, GatewayURL: "http://gw.invalid", Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := d.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close) // after the gateway's shutdown (cleanups run last-in first-out): the stream's disconnect reaches it
	g := startGateway(t, map[string]string{"CALLBACK_URL": d.CallbackURL(), "CONTROL_ADDR": ctrl})
	c := dial(t, g.PublicAddr())
	c.get("/demo")
	if h := c.head(); h != sseHead {
		t.Fatalf("head %q", h)
	}
	if ev := c.event(); ev != "event: ready\ndata:\n\n" {
		t.Fatalf("ready %q", ev)
	}
	if ev := c.event(); !strings.HasPrefix(ev, "event: clock\ndata: ") {
		t.Fatalf("clock %q", ev)
	}
	resp, err := http.Get(d.URL() + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), `new EventSource("http://gw.invalid/demo")`) {
		t.Fatalf("page lacks the EventSource: %s", page)
	}
}

// TestDemoStatsAndPublish: the demo backend publishes the gateway's numbers
// (read from its /metrics) to the demo channel as a stats event, and
// publishes the page's text to every demo stream; a malformed or oversized
// publish is refused with 400 and reaches no one.
func TestDemoStatsAndPublish(t *testing.T) {
	ctrl := dialListen(t)
	d := &demo.Backend{ControlURL: "http://" + ctrl, GatewayURL: "http://gw.invalid", Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := d.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close) // after the gateway's shutdown (cleanups run last-in first-out): the last disconnects reach it
	g := startGateway(t, map[string]string{"CALLBACK_URL": d.CallbackURL(), "CONTROL_ADDR": ctrl})
	c := dial(t, g.PublicAddr())
	c.get("/demo")
	if h := c.head(); h != sseHead {
		t.Fatalf("head %q", h)
	}
	// The clock ticks once a second; the first stats event may come before
	// the stream counted.
	end := time.Now().Add(10 * time.Second)
	var stats demo.Stats
	for stats.Streams == 0 {
		if time.Now().After(end) {
			t.Fatal("no stats event counting the stream within 10 s")
		}
		ev := c.event()
		if data, ok := strings.CutPrefix(ev, "event: stats\ndata: "); ok {
			if err := json.Unmarshal([]byte(strings.TrimSpace(data)), &stats); err != nil {
				t.Fatalf("stats %q: %v", ev, err)
			}
		}
	}
	if stats.Streams != 1 || stats.Channels != 1 {
		t.Fatalf("stats %+v, want 1 stream on 1 channel", stats)
	}
	post := func(body string) (int, string) {
		resp, err := http.Post(d.URL()+"/publish", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	for _, bad := range []string{`{`, `{"text":""}`, `{"text":"` + strings.Repeat("x", 281) + `"}`, `{"text":"a","x":1}`, strings.Repeat(" ", 5000)} {
		if code, _ := post(bad); code != 400 {
			t.Errorf("publish %.40q: %d, want 400", bad, code)
		}
	}
	if code, body := post(`{"text":"hello\nall","from":"tab 1"}`); code != 200 || body != `{"connections":1}` {
		t.Fatalf("publish: %d %s", code, body)
	}
	for end = time.Now().Add(10 * time.Second); time.Now().Before(end); {
		ev := c.event()
		if strings.HasPrefix(ev, "event: message\n") {
			if ev != "event: message\ndata: {\"text\":\"hello\\nall\",\"from\":\"tab 1\"}\n\n" {
				t.Fatalf("published event %q", ev)
			}
			return
		}
	}
	t.Fatal("the published event did not arrive within 10 s")
}

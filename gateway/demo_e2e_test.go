package gateway_test

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

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

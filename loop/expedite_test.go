package loop_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"ssegw/internal/testkit"
	"ssegw/loop"
)

const (
	// aheadStreams spans more than three steps of one loop's fan-out, so the
	// fan-out is still in progress on the step after the one that is held.
	aheadStreams = 1600
	// aheadWait bounds every wait of the test.
	aheadWait = 30 * time.Second
)

// gatedBackend is a real callback server: every connect is accepted and bound
// to channel "ch"; the connect of a request to /late is answered only once
// release is closed.
type gatedBackend struct {
	ln       net.Listener
	lateSeen chan struct{} // closed when the /late connect arrived
	release  chan struct{}
	seenOnce sync.Once
}

func startGatedBackend(t *testing.T) *gatedBackend {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &gatedBackend{ln: ln, lateSeen: make(chan struct{}), release: make(chan struct{})}
	srv := &http.Server{Handler: http.HandlerFunc(b.serve)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return b
}

func (b *gatedBackend) serve(w http.ResponseWriter, r *http.Request) {
	var cb struct {
		Action  string `json:"action"`
		Request struct {
			URL string `json:"url"`
		} `json:"request"`
	}
	_ = json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&cb)
	if cb.Action == "connect" && cb.Request.URL == "/late" {
		b.seenOnce.Do(func() { close(b.lateSeen) })
		select {
		case <-b.release:
		case <-time.After(aheadWait):
		}
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"bindings":["ch"]}`)
}

// stream is one raw SSE client connection.
type stream struct {
	c net.Conn
	r *bufio.Reader
}

func openStream(t *testing.T, addr, target string) *stream {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(aheadWait))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", target)
	return &stream{c: c, r: bufio.NewReader(c)}
}

// expect reads exactly len(want) bytes and compares them.
func (s *stream) expect(t *testing.T, what, want string) {
	t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(s.r, got); err != nil || string(got) != want {
		t.Fatalf("%s: got %q (%v), want %q", what, got, err, want)
	}
}

// head reads the response head up to its blank line.
func (s *stream) head(t *testing.T) {
	t.Helper()
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatalf("head: %v", err)
		}
		if line == "\r\n" {
			return
		}
	}
}

// chunk is one SSE message as an HTTP/1.1 chunk.
func chunk(msg string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(msg), msg) }

// readyChunk is the ready event as a chunk.
var readyChunk = chunk("event: ready\ndata:\n\n")

func dataChunk(data string) string { return chunk("data: " + data + "\n\n") }

// aheadProbe is the step hook's state machine: it holds the loop at the
// second step of the fan-out until the held connect's result is queued, then
// records what the next step sees. Only the loop goroutine touches it until
// recorded is closed.
type aheadProbe struct {
	held     bool
	queued   bool          // the connect result was queued while the loop was held
	midFan   chan struct{} // closed when the loop is held mid fan-out
	recorded chan struct{} // closed once after is set
	after    loop.StepView // the start of the step after the held one
}

func (p *aheadProbe) step(view func() loop.StepView) {
	v := view()
	switch {
	case v.FanoutLeft == 0 || p.after.FanoutLeft != 0:
	case !p.held:
		p.held = true
		close(p.midFan)
		deadline := time.Now().Add(aheadWait)
		for view().QueuedConnects == 0 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond) // polling interval of a deadline-bounded wait
		}
		p.queued = view().QueuedConnects > 0
	default:
		p.after = v
		close(p.recorded)
	}
}

// wait waits for ch or fails the test after aheadWait.
func wait(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(aheadWait):
		t.Fatal(what)
	}
}

// TestConnectResultAheadOfFanout holds the gateway's one loop in the middle of
// a fan-out until a new stream's connect result is queued, and checks that the
// result is applied on the next step while the fan-out still has subscribers
// left (not after its last one), that the new stream is ready and missed only
// the publish already in progress, and that every old stream got it.
func TestConnectResultAheadOfFanout(t *testing.T) {
	b := startGatedBackend(t)
	g := testkit.StartGateway(t, nil, map[string]string{"CALLBACK_URL": "http://" + b.ln.Addr().String() + "/cb",
		"EVENT_LOOPS": "1", "HEARTBEAT_INTERVAL_SECONDS": "60", "CALLBACK_CONCURRENCY": "8"}, slog.LevelWarn)
	old := make([]*stream, aheadStreams)
	for i := range old {
		old[i] = openStream(t, g.PublicAddr(), "/s")
	}
	for i, s := range old {
		s.head(t)
		s.expect(t, fmt.Sprintf("stream %d ready", i), readyChunk)
	}
	late := openStream(t, g.PublicAddr(), "/late")
	wait(t, "the late stream's connect callback never came", b.lateSeen)

	probe := &aheadProbe{midFan: make(chan struct{}), recorded: make(chan struct{})}
	loop.SetStepHook(probe.step)
	t.Cleanup(func() { loop.SetStepHook(nil) })
	published := make(chan string, 1)
	go func() { published <- controlPost(g.ControlAddr(), `{"channel":"ch","event":{"data":"p0"}}`) }()
	wait(t, "the fan-out never reached its second step", probe.midFan)
	close(b.release)
	wait(t, "no step after the held one while the fan-out ran", probe.recorded)
	if !probe.queued || probe.after.ConnectsAhead != 1 || probe.after.FanoutLeft <= 0 {
		t.Fatalf("queued while held %v; next step: %+v (want the connect applied, the fan-out still running)",
			probe.queued, probe.after)
	}
	late.head(t)
	late.expect(t, "late stream ready", readyChunk)
	if got := <-published; got != fmt.Sprintf(`{"status":"ok","connections":%d}`, aheadStreams) {
		t.Fatalf("publish p0: %s", got)
	}
	if got := controlPost(g.ControlAddr(), `{"channel":"ch","event":{"data":"p1"}}`); got !=
		fmt.Sprintf(`{"status":"ok","connections":%d}`, aheadStreams+1) {
		t.Fatalf("publish p1: %s", got)
	}
	late.expect(t, "late stream: p1 next (p0 was in progress before it was bound)", dataChunk("p1"))
	for i, s := range old {
		s.expect(t, fmt.Sprintf("stream %d", i), dataChunk("p0")+dataChunk("p1"))
	}
}

// controlPost posts a publish to the control port and returns the answer.
func controlPost(addr, body string) string {
	resp, err := http.Post("http://"+addr+"/internal/publish", "application/json", strings.NewReader(body))
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

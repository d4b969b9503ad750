package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"ssegw/gateway"
	"ssegw/internal/testkit"
	"ssegw/loop"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, what, d, cond)
}

// ---- a real backend -------------------------------------------------------

// callbackRec is one callback the backend received.
type callbackRec struct {
	Action  string `json:"action"`
	Reason  string `json:"reason"`
	Token   string `json:"token"`
	Request struct {
		URL     string         `json:"url"`
		Headers map[string]any `json:"headers"`
	} `json:"request"`
	Raw []byte `json:"-"`
}

// reply is what the backend answers to a connect.
type reply struct {
	statusLine string        // e.g. "200 OK", "401 Token Expired"
	body       string        // JSON body
	delay      time.Duration // before answering
	gate       chan struct{} // if set, answer only once it is closed
}

// backend is a real HTTP callback server on loopback. It writes raw responses
// (through Hijack) so tests control the exact status line.
type backend struct {
	t        *testing.T
	srv      *http.Server
	ln       net.Listener
	mu       sync.Mutex
	calls    []callbackRec
	connect  func(rec callbackRec) reply
	discGate chan struct{} // if set, disconnect callbacks are answered only once it is closed
	faults   faults        // failures on command (faults_test.go)
}

func startBackend(t *testing.T) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{t: t, ln: ln, connect: func(callbackRec) reply { return reply{statusLine: "200 OK", body: `{}`} }}
	b.srv = &http.Server{Handler: http.HandlerFunc(b.serve)}
	b.faults.addr = ln.Addr().String()
	go func() { _ = b.srv.Serve(ln) }()
	t.Cleanup(func() { b.faults.stop(); b.srv.Close() })
	return b
}

func (b *backend) url() string { return "http://" + b.faults.addr + "/cb?secret=s3" }

func (b *backend) onConnect(f func(rec callbackRec) reply) {
	b.mu.Lock()
	b.connect = f
	b.mu.Unlock()
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var rec callbackRec
	if err := json.Unmarshal(raw, &rec); err != nil {
		b.t.Errorf("backend got invalid JSON %q: %v", raw, err)
	}
	rec.Raw = raw
	if b.faults.apply(w, r, rec.Action) {
		return // failed on command: the gateway saw no answer, or a 5xx, and nothing is recorded
	}
	if r.URL.RawQuery != "secret=s3" || r.URL.Path != "/cb" || r.Method != "POST" {
		b.t.Errorf("callback to %s %s", r.Method, r.URL)
	}
	b.mu.Lock()
	b.calls = append(b.calls, rec)
	f := b.connect
	b.mu.Unlock()
	rp := reply{statusLine: "200 OK", body: `{"status":"ok"}`}
	if rec.Action == "connect" {
		rp = f(rec)
	} else {
		rp.gate = b.discGate
	}
	if rp.gate != nil {
		<-rp.gate
	}
	time.Sleep(rp.delay)
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		rp.statusLine, len(rp.body), rp.body)
	buf.Flush()
}

func (b *backend) snapshot() []callbackRec {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]callbackRec(nil), b.calls...)
}

// byToken returns the callbacks for one token, in order.
func (b *backend) byToken(token string) []callbackRec {
	var out []callbackRec
	for _, c := range b.snapshot() {
		if c.Token == token {
			out = append(out, c)
		}
	}
	return out
}

func (b *backend) count(action string) int {
	n := 0
	for _, c := range b.snapshot() {
		if c.Action == action {
			n++
		}
	}
	return n
}

// lastConnect waits for the n-th connect callback (1-based) and returns it.
func (b *backend) nthConnect(t *testing.T, n int) callbackRec {
	t.Helper()
	var rec callbackRec
	waitFor(t, "connect callback", 5*time.Second, func() bool {
		k := 0
		for _, c := range b.snapshot() {
			if c.Action == "connect" {
				k++
				if k == n {
					rec = c
					return true
				}
			}
		}
		return false
	})
	return rec
}

// ---- the real gateway ------------------------------------------------------

type gw struct {
	*gateway.Gateway
	t *testing.T
}

// startGateway runs a real gateway on loopback with env settings on top of
// test defaults (heartbeat 1 s).
func startGateway(t *testing.T, env map[string]string) *gw {
	t.Helper()
	g := testkit.StartGateway(t, map[string]string{"HEARTBEAT_INTERVAL_SECONDS": "1", "EVENT_LOOPS": "2",
		"SHUTDOWN_TIMEOUT_SECONDS": "5"}, env, slog.LevelWarn)
	return &gw{Gateway: g, t: t}
}

// control POSTs body to a control path and returns status and body.
func (g *gw) control(path, body string) (int, string) {
	g.t.Helper()
	return controlReq(g.t, g.ControlAddr(), path, body, "")
}

func controlReq(t *testing.T, addr, path, body, bearer string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+addr+path, strings.NewReader(body))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// ---- a raw TCP client ------------------------------------------------------

// client is a browser stand-in speaking raw HTTP/1.x over TCP.
type client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, conn: c, r: bufio.NewReader(c)}
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

// get sends a browser-like GET.
func (c *client) get(target string, extra ...string) {
	c.send("GET " + target + " HTTP/1.1\r\nHost: gw\r\nAccept: text/event-stream\r\n" + strings.Join(extra, "") + "\r\n")
}

func (c *client) deadline(d time.Duration) { _ = c.conn.SetReadDeadline(time.Now().Add(d)) }

// head reads a response head (status line + headers, raw).
func (c *client) head() string {
	c.t.Helper()
	c.deadline(5 * time.Second)
	var b strings.Builder
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading head after %q: %v", b.String(), err)
		}
		b.WriteString(line)
		if line == "\r\n" {
			return b.String()
		}
	}
}

// chunk reads one HTTP chunk's payload ("" for the last chunk).
func (c *client) chunk() string {
	c.t.Helper()
	c.deadline(5 * time.Second)
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("reading chunk size: %v", err)
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(line, "\r\n"), 16, 64)
	if err != nil {
		c.t.Fatalf("bad chunk size line %q", line)
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(c.r, buf); err != nil {
		c.t.Fatalf("reading chunk: %v", err)
	}
	if !bytes.HasSuffix(buf, []byte("\r\n")) {
		c.t.Fatalf("chunk not CRLF-terminated: %q", buf)
	}
	return string(buf[:n])
}

// chunkSkippingHeartbeats reads the next chunk that is not a heartbeat.
func (c *client) event() string {
	c.t.Helper()
	for {
		if ch := c.chunk(); ch != ": heartbeat\n\n" {
			return ch
		}
	}
}

// body reads a Content-Length body announced in head.
func (c *client) body(head string) string {
	c.t.Helper()
	n := 0
	for _, l := range strings.Split(head, "\r\n") {
		if v, ok := strings.CutPrefix(l, "Content-Length: "); ok {
			n, _ = strconv.Atoi(v)
		}
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(c.r, buf); err != nil {
		c.t.Fatalf("reading body: %v", err)
	}
	return string(buf)
}

// expectEOF asserts the server closes the connection.
func (c *client) expectEOF() {
	c.t.Helper()
	c.deadline(5 * time.Second)
	b, err := c.r.ReadByte()
	if err == nil {
		c.t.Fatalf("expected EOF, got byte %q", b)
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		c.t.Fatalf("expected EOF, connection still open")
	}
}

const sseHead = "HTTP/1.1 200 OK\r\n" +
	"Access-Control-Allow-Origin: *\r\n" +
	"Access-Control-Allow-Methods: GET, POST, OPTIONS\r\n" +
	"Access-Control-Allow-Headers: Content-Type, Cache-Control, Last-Event-ID\r\n" +
	"Content-Type: text/event-stream\r\n" +
	"Cache-Control: no-cache\r\n" +
	"Connection: keep-alive\r\n" +
	"X-Accel-Buffering: no\r\n" +
	"Transfer-Encoding: chunked\r\n\r\n"

// openStream opens a stream, waits for ready and returns the client and token.
func openStream(t *testing.T, g *gw, b *backend, n int, target string) (*client, string) {
	t.Helper()
	c := dial(t, g.PublicAddr())
	c.get(target)
	if h := c.head(); h != sseHead {
		t.Fatalf("stream head:\n%q\nwant\n%q", h, sseHead)
	}
	if ev := c.event(); ev != "event: ready\ndata:\n\n" {
		t.Fatalf("first event %q, want ready", ev)
	}
	return c, b.nthConnect(t, n).Token
}

func dialListen(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// assertIdle checks that nothing leaked once every client is gone: no token in
// the registry, no stream counted, no connection in any loop's slab, no timer
// in any loop's wheel.
func assertIdle(t *testing.T, g *gw) {
	t.Helper()
	var st loop.LoopStats
	waitFor(t, "gateway idle", 10*time.Second, func() bool {
		var err error
		st, err = g.Loop.Stats()
		return err == nil && st == (loop.LoopStats{}) && g.Loop.Registered() == 0 && g.Loop.Streams() == 0
	})
}

func controlGet(addrPath string) (int, string) { return testkit.Get(addrPath) }

// scrapeAddr reads /metrics from a control address (a child gateway's).
func scrapeAddr(t *testing.T, control string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + control + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return parseMetrics(resp.Body)
}

// scrapeControl reads the gateway's /metrics.
func scrapeControl(t *testing.T, g *gw) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + g.ControlAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return parseMetrics(resp.Body)
}

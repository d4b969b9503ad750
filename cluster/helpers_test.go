package cluster_test

import (
	"ssegw/internal/testkit"

	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"ssegw/config"
	"ssegw/gateway"
)

// Test bounds.
const (
	waitLong = 10 * time.Second // any condition a test waits on
	readWait = 5 * time.Second  // one event on a stream
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	testkit.WaitFor(t, what, d, cond)
}

// ---- an embedded NATS server ----------------------------------------------

type broker struct {
	t    *testing.T
	port int
	srv  *server.Server
	js   string // JetStream store directory ("": JetStream off)
}

func startBroker(t *testing.T) *broker {
	t.Helper()
	return startBrokerWith(t, "")
}

// startJetStream is an embedded broker with JetStream on (file storage in a
// directory of the test's, kept across a restart).
func startJetStream(t *testing.T) *broker {
	t.Helper()
	return startBrokerWith(t, t.TempDir())
}

func startBrokerWith(t *testing.T, jsDir string) *broker {
	t.Helper()
	b := &broker{t: t, port: -1, js: jsDir}
	b.start()
	b.port = b.srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(func() {
		if b.srv != nil {
			b.srv.Shutdown()
			b.srv.WaitForShutdown()
		}
	})
	return b
}

func (b *broker) start() {
	b.t.Helper()
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: b.port, NoLog: true, NoSigs: true,
		JetStream: b.js != "", StoreDir: b.js})
	if err != nil {
		b.t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(waitLong) {
		b.t.Fatal("nats server not ready")
	}
	b.srv = srv
}

func (b *broker) stop() {
	b.srv.Shutdown()
	b.srv.WaitForShutdown()
	b.srv = nil
}

func (b *broker) url() string { return "nats://127.0.0.1:" + strconv.Itoa(b.port) }

// ---- a real backend -------------------------------------------------------

type callbackRec struct {
	Action string `json:"action"`
	Reason string `json:"reason"`
	Token  string `json:"token"`
}

// backend accepts every stream and binds it to the channels in bindings.
type backend struct {
	ln       net.Listener
	mu       sync.Mutex
	calls    []callbackRec
	bindings string // JSON array
	// requestIDs answers every connect with its token as request_id too (a
	// RabbitMQ queue per stream).
	requestIDs atomic.Bool
}

func startBackend(t *testing.T, bindings ...string) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bj, _ := json.Marshal(bindings)
	b := &backend{ln: ln, bindings: string(bj)}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rec callbackRec
		raw, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(raw, &rec); err != nil {
			t.Errorf("callback body %q: %v", raw, err)
		}
		b.mu.Lock()
		b.calls = append(b.calls, rec)
		b.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if b.requestIDs.Load() {
			fmt.Fprintf(w, `{"request_id":%q,"bindings":%s}`, rec.Token, b.bindings)
			return
		}
		fmt.Fprintf(w, `{"bindings":%s}`, b.bindings)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return b
}

func (b *backend) url() string { return "http://" + b.ln.Addr().String() + "/cb" }

func (b *backend) snapshot() []callbackRec {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]callbackRec(nil), b.calls...)
}

// connects returns the tokens of the connect callbacks, in order.
func (b *backend) connects() []string {
	var out []string
	for _, c := range b.snapshot() {
		if c.Action == "connect" {
			out = append(out, c.Token)
		}
	}
	return out
}

// disconnects counts the disconnect callbacks per token.
func (b *backend) disconnects() map[string]int {
	out := map[string]int{}
	for _, c := range b.snapshot() {
		if c.Action == "disconnect" {
			out[c.Token]++
		}
	}
	return out
}

// ---- gateways ---------------------------------------------------------------

type gw struct {
	*gateway.Gateway
	t *testing.T
}

func startGateway(t *testing.T, env map[string]string) *gw {
	t.Helper()
	g, err := tryGateway(t, env)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func tryGateway(t *testing.T, env map[string]string) (*gw, error) {
	t.Helper()
	base := map[string]string{
		"LISTEN_ADDR": "127.0.0.1:0", "CONTROL_ADDR": "127.0.0.1:0", "HEARTBEAT_INTERVAL_SECONDS": "60",
		"EVENT_LOOPS": "2", "SHUTDOWN_TIMEOUT_SECONDS": "5", "DRAIN_WINDOW_MS": "0",
	}
	for k, v := range env {
		base[k] = v
	}
	cfg, err := config.Load(nil, func(k string) string { return base[k] }, 2, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	capacity, err := gateway.RaiseFDLimit(cfg)
	if err != nil {
		t.Fatal(err)
	}
	level := slog.LevelError
	if os.Getenv("SSEGW_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	g, err := gateway.Start(cfg, capacity, log)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { shutdown(t, g) })
	return &gw{Gateway: g, t: t}, nil
}

func shutdown(t *testing.T, g *gateway.Gateway) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

// control POSTs body to a control path and returns status and body.
func (g *gw) control(path, body string) (int, string) {
	g.t.Helper()
	resp, err := http.Post("http://"+g.ControlAddr()+path, "application/json", strings.NewReader(body))
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (g *gw) readyz() (int, string) { return testkit.Get(g.ControlAddr() + "/readyz") }

// ---- a raw TCP client ------------------------------------------------------

type client struct {
	t     *testing.T
	conn  net.Conn
	r     *bufio.Reader
	token string
}

// openStream opens a stream on addr, waits for ready and learns its token
// (the n-th connect the backend saw, 1-based).
func openStream(t *testing.T, addr string, b *backend, n int) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, readWait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := &client{t: t, conn: c, r: bufio.NewReader(c)}
	if _, err := c.Write([]byte("GET /events HTTP/1.1\r\nHost: gw\r\nAccept: text/event-stream\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	cl.head()
	if ev := cl.event(); ev != "event: ready\ndata:\n\n" {
		t.Fatalf("first event %q, want ready", ev)
	}
	waitFor(t, "connect callback", waitLong, func() bool { return len(b.connects()) >= n })
	cl.token = b.connects()[n-1]
	return cl
}

func (c *client) head() {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(readWait))
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("reading head: %v", err)
		}
		if line == "\r\n" {
			return
		}
	}
}

// chunk reads one HTTP chunk's payload ("" for the last chunk).
func (c *client) chunk() (string, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(readWait))
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	n, err := strconv.ParseInt(strings.TrimSuffix(line, "\r\n"), 16, 64)
	if err != nil {
		return "", fmt.Errorf("bad chunk size line %q", line)
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(c.r, buf); err != nil {
		return "", err
	}
	if !bytes.HasSuffix(buf, []byte("\r\n")) {
		return "", fmt.Errorf("chunk not CRLF-terminated: %q", buf)
	}
	return string(buf[:n]), nil
}

// event reads the next chunk that is not a heartbeat.
func (c *client) event() string {
	c.t.Helper()
	for {
		ch, err := c.chunk()
		if err != nil {
			c.t.Fatalf("stream %s: %v", c.token, err)
		}
		if ch != ": heartbeat\n\n" {
			return ch
		}
	}
}

// expect reads the next event and compares it.
func (c *client) expect(want string) {
	c.t.Helper()
	if got := c.event(); got != want {
		c.t.Fatalf("stream %s: got %q, want %q", c.token, got, want)
	}
}

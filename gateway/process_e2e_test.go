package gateway_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// rawStream is a stream opened by hand and read until it ends.
type rawStream struct {
	conn  net.Conn
	r     *bufio.Reader
	ready bool
	retry bool // got a retry hint
	ended bool // got the end of the body
	err   error
	// last is the first bytes of the last message before the retry hint
	// (heartbeats aside), and lastFull its length.
	last     string
	lastFull int
}

// smallRcvBuf makes a client socket with a 4 KB receive buffer (set before
// the handshake, so the window it advertises stays small): a client that does
// not read leaves the gateway's bytes queued in the gateway, not in the kernel.
func smallRcvBuf(_, _ string, c syscall.RawConn) error {
	var err error
	_ = c.Control(func(fd uintptr) { err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	return err
}

// openRaw sends a GET and reads the head and the first message; control, if
// given, sets socket options before the connection is made.
func openRaw(addr, target string, timeout time.Duration, control ...func(string, string, syscall.RawConn) error) *rawStream {
	s := &rawStream{}
	d := net.Dialer{Timeout: timeout}
	if len(control) > 0 {
		d.Control = control[0]
	}
	s.conn, s.err = d.Dial("tcp", addr)
	if s.err != nil {
		return s
	}
	_ = s.conn.SetDeadline(time.Now().Add(timeout))
	fmt.Fprintf(s.conn, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", target)
	s.r = bufio.NewReader(s.conn)
	chunked := false
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			s.err = fmt.Errorf("head: %w", err)
			return s
		}
		chunked = chunked || line == "Transfer-Encoding: chunked\r\n"
		if line == "\r\n" {
			break
		}
	}
	if !chunked { // a close-delimited body: a shed answer given before the request was read
		body, err := io.ReadAll(s.r)
		s.err, s.ended = err, err == nil
		s.retry = strings.HasPrefix(string(body), "retry: ")
		return s
	}
	s.next()
	return s
}

// next reads one message (chunk) and records what it was.
func (s *rawStream) next() string {
	var n int
	if _, err := fmt.Fscanf(s.r, "%x\r\n", &n); err != nil {
		s.err = err
		return ""
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(s.r, buf); err != nil {
		s.err = err
		return ""
	}
	m := string(buf[:n])
	switch {
	case m == "":
		s.ended = true
	case m == "event: ready\ndata:\n\n":
		s.ready = true
	case strings.HasPrefix(m, "retry: "):
		s.retry = true
	case m != ": heartbeat\n\n" && !s.retry:
		s.last, s.lastFull = m[:min(len(m), 64)], len(m)
	}
	return m
}

// readUntilEnd reads messages until the body ends or an error.
func (s *rawStream) readUntilEnd(d time.Duration) {
	_ = s.conn.SetReadDeadline(time.Now().Add(d))
	for s.err == nil && !s.ended {
		s.next()
	}
}

func TestDescriptorExhaustionNeverDropsStreams(t *testing.T) {
	b := startBackend(t)
	bindByQuery(b)
	// 300 descriptors: reserve 128 + 2x8 callbacks leaves 156 public sockets, 149 streams.
	gw := startChild(t, 300, map[string]string{"CALLBACK_URL": b.url(), "CALLBACK_CONCURRENCY": "8", "HEARTBEAT_INTERVAL_SECONDS": "60"})
	const held = 100
	streams := make([]*rawStream, held)
	for i := range streams {
		streams[i] = openRaw(gw.public, "/held?ch=all", 10*time.Second)
		if streams[i].err != nil || !streams[i].ready {
			t.Fatalf("stream %d: %v", i, streams[i].err)
		}
		t.Cleanup(func() { streams[i].conn.Close() })
	}
	// A burst well past the limit: 400 connections at once, held open.
	var wg sync.WaitGroup
	var burstConns sync.Map
	var shedSeen, refused atomic.Int32
	for i := 0; i < 400; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s := openRaw(gw.public, "/burst", 10*time.Second)
			if s.conn != nil {
				burstConns.Store(i, s.conn)
			}
			switch {
			case s.retry:
				shedSeen.Add(1)
			case s.err != nil:
				if refused.Add(1) < 4 {
					t.Logf("burst client: %v", s.err)
				}
			}
		}(i)
	}
	wg.Wait()
	t.Logf("burst: %d shed with retry, %d refused or reset", shedSeen.Load(), refused.Load())
	if shedSeen.Load() == 0 {
		t.Fatalf("no burst connection was shed with a retry hint")
	}
	// Every held stream still receives.
	code, resp := controlReq(t, gw.control, "/internal/publish", `{"channel":"all","event":{"data":"alive"}}`, "")
	if code != 200 || resp != fmt.Sprintf(`{"status":"ok","connections":%d}`, held) {
		t.Fatalf("publish during exhaustion: %d %s", code, resp)
	}
	for i, s := range streams {
		_ = s.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		if m := s.next(); m != "data: alive\n\n" {
			t.Fatalf("held stream %d got %q (%v)", i, m, s.err)
		}
	}
	// Once descriptors free up, new streams are served again.
	burstConns.Range(func(_, c any) bool { c.(net.Conn).Close(); return true })
	waitFor(t, "a new stream accepted", 10*time.Second, func() bool {
		s := openRaw(gw.public, "/after", 2*time.Second)
		if s.conn != nil {
			defer s.conn.Close()
		}
		return s.ready
	})
	select {
	case err := <-gw.exited:
		t.Fatalf("gateway died: %v", err)
	default:
	}
}

func TestConnectStormStreamsOrSheds(t *testing.T) {
	storm := 5000
	if raceEnabled {
		storm = 1000
	}
	b := startBackend(t)
	b.onConnect(func(callbackRec) reply { return reply{statusLine: "200 OK", body: `{}`, delay: 50 * time.Millisecond} })
	const bound = 500
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url(), "CALLBACK_CONCURRENCY": "64",
		"MAX_PENDING_CONNECTS": fmt.Sprint(bound), "HEARTBEAT_INTERVAL_SECONDS": "60"})
	var maxPending atomic.Int64
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if p := pendingConnects(g); p > maxPending.Load() {
				maxPending.Store(p)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	var ready, shed, failed atomic.Int32
	conns := make(chan net.Conn, storm)
	for i := 0; i < storm; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := openRaw(g.PublicAddr(), "/storm", 60*time.Second)
			switch {
			case s.ready:
				ready.Add(1)
			case s.retry:
				shed.Add(1)
			default:
				failed.Add(1)
				t.Logf("storm client: %v", s.err)
			}
			if s.conn != nil {
				conns <- s.conn
			}
		}()
	}
	wg.Wait()
	close(stop)
	close(conns)
	for c := range conns {
		c.Close()
	}
	t.Logf("storm of %d: %d streaming, %d shed, max pending %d", storm, ready.Load(), shed.Load(), maxPending.Load())
	if failed.Load() != 0 || int(ready.Load()+shed.Load()) != storm {
		t.Fatalf("%d clients neither streamed nor were shed", failed.Load())
	}
	if maxPending.Load() > bound {
		t.Fatalf("pending connects reached %d, bound %d", maxPending.Load(), bound)
	}
	waitFor(t, "one disconnect per stream", 20*time.Second, func() bool { return b.count("disconnect") == int(ready.Load()) })
	assertIdle(t, g)
}

func pendingConnects(g *gw) int64 {
	resp, err := http.Get("http://" + g.ControlAddr() + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	m := parseMetrics(resp.Body)
	return int64(m["ssegw_pending_connects"])
}

// TestScaleDrainThousandStreams: SIGTERM to a gateway process holding 1,000
// streams (300 under -race; `make test`'s scale pass runs the 1,000), each
// with a 64 KB event still queued: every client gets that whole event, the
// retry hint and the end of the body, one server_closed disconnect each, and
// the process exits 0.
func TestScaleDrainThousandStreams(t *testing.T) {
	n := 1000
	if raceEnabled {
		n = 300
	}
	b := startBackend(t)
	b.onConnect(func(callbackRec) reply { return reply{statusLine: "200 OK", body: `{"bindings":["all"]}`} })
	gw := startChild(t, 0, map[string]string{"CALLBACK_URL": b.url(), "HEARTBEAT_INTERVAL_SECONDS": "60",
		"SHUTDOWN_TIMEOUT_SECONDS": "10", "DRAIN_WINDOW_MS": "1000"})
	streams := make([]*rawStream, n)
	for i := range streams {
		streams[i] = openRaw(gw.public, "/drain", 10*time.Second, smallRcvBuf)
		if !streams[i].ready {
			t.Fatalf("stream %d: %v", i, streams[i].err)
		}
		defer streams[i].conn.Close()
	}
	// A last event of 64 KB to every stream, which the clients read only
	// after the signal: most of it is still queued in the gateway when the
	// drain starts, and must all come out before the retry hint and the end.
	lastData := strings.Repeat("x", 64<<10)
	if code, body := controlReq(t, gw.control, "/internal/publish", `{"channel":"all","event":{"name":"last","data":"`+lastData+`"}}`, ""); code != 200 ||
		!strings.Contains(body, fmt.Sprintf(`"connections":%d`, n)) {
		t.Fatalf("publish: %d %s", code, body)
	}
	start := time.Now()
	gw.signal(syscall.SIGTERM)
	var wg sync.WaitGroup
	for _, s := range streams {
		wg.Add(1)
		go func() { defer wg.Done(); s.readUntilEnd(15 * time.Second) }()
	}
	wg.Wait()
	for i, s := range streams {
		if !s.retry || !s.ended {
			t.Fatalf("stream %d: retry %v, end %v, err %v", i, s.retry, s.ended, s.err)
		}
		if want := "event: last\ndata: xxx"; !strings.HasPrefix(s.last, want) || s.lastFull != len("event: last\ndata: \n\n")+len(lastData) {
			t.Fatalf("stream %d: last message before the retry hint %q (%d bytes), want the whole 64 KB last event", i, s.last, s.lastFull)
		}
	}
	if code := gw.wait(t, 15*time.Second); code != 0 {
		t.Fatalf("exit code %d\n%s", code, gw.logText())
	}
	t.Logf("%d streams drained, process exited 0 after %v", n, time.Since(start))
	if got := b.count("disconnect"); got != n {
		t.Fatalf("%d disconnects, want %d", got, n)
	}
	for _, c := range b.snapshot() {
		if c.Action == "disconnect" && c.Reason != "server_closed" {
			t.Fatalf("reason %q", c.Reason)
		}
	}
}

// parseMetrics reads Prometheus text format into name{labels} -> value,
// failing on any line that is not a comment or a sample.
func parseMetrics(r io.Reader) map[string]float64 {
	m := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			m["__bad__"]++
			continue
		}
		var v float64
		if _, err := fmt.Sscan(line[i+1:], &v); err != nil {
			m["__bad__"]++
			continue
		}
		m[line[:i]] = v
	}
	return m
}

func TestMetricsCountWhatHappened(t *testing.T) {
	b := startBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url()})
	scrape := func() map[string]float64 {
		t.Helper()
		resp, err := http.Get("http://" + g.ControlAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
			t.Fatalf("content type %q", ct)
		}
		m := parseMetrics(resp.Body)
		if m["__bad__"] != 0 {
			t.Fatalf("%v lines are not Prometheus text", m["__bad__"])
		}
		return m
	}
	before := scrape()
	c1, t1 := openStream(t, g, b, 1, "/m1")
	c2, _ := openStream(t, g, b, 2, "/m2")
	g.control("/internal/send", `{"token":"`+t1+`","event":{"data":"a"}}`)
	g.control("/internal/send", `{"token":"`+t1+`","event":{"data":"b"},"close":true}`)
	c1.event()
	c2.conn.Close()
	b.onConnect(func(callbackRec) reply { return reply{statusLine: "403 No"} })
	rej := dial(t, g.PublicAddr())
	rej.get("/m3")
	rej.head()
	rej.chunk()
	waitFor(t, "two disconnects", 5*time.Second, func() bool { return b.count("disconnect") == 2 })
	waitFor(t, "streams gauge back to zero", 5*time.Second, func() bool { return scrape()["ssegw_streams_open"] == 0 })
	after := scrape()
	delta := func(name string) float64 { return after[name] - before[name] }
	f := func(name string, want float64) {
		t.Helper()
		if got := delta(name); got != want {
			t.Fatalf("%s moved by %v, want %v", name, got, want)
		}
	}
	f(`ssegw_connects_total{outcome="accepted"}`, 2)
	f(`ssegw_connects_total{outcome="rejected"}`, 1)
	f(`ssegw_disconnects_total{reason="server_closed"}`, 1)
	f(`ssegw_disconnects_total{reason="client_closed"}`, 1)
	f(`ssegw_events_written_total`, 2)
	f(`ssegw_streams_opened_total`, 2)
	if after["ssegw_registered_tokens"] != 0 || after["ssegw_pending_connects"] != 0 || after["ssegw_wheel_timers"] < 0 {
		t.Fatalf("gauges not back to idle: %v", after)
	}
	if after[`ssegw_callback_duration_seconds_count{action="connect",outcome="accepted"}`] == 0 {
		t.Fatalf("no connect latency histogram")
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes", "ssegw_sockets_open", "ssegw_callbacks_in_flight"} {
		if _, ok := after[name]; !ok {
			t.Fatalf("missing %s", name)
		}
	}
}

// TestDrainCutsAStalledClientAndExitsNonZero: a client that stops reading
// with 10 MB queued for it cannot be drained; at SHUTDOWN_TIMEOUT_SECONDS the
// gateway cuts it, logs the count and exits non-zero within about a second,
// and the stream's one disconnect (server_closed) was sent.
func TestDrainCutsAStalledClientAndExitsNonZero(t *testing.T) {
	b := startBackend(t)
	gw := startChild(t, 0, map[string]string{"CALLBACK_URL": b.url(), "SHUTDOWN_TIMEOUT_SECONDS": "1",
		"WRITE_BUFFER_LIMIT_BYTES": "67108864", "HEARTBEAT_INTERVAL_SECONDS": "60"})
	s := openRaw(gw.public, "/stalled", 5*time.Second, smallRcvBuf)
	if !s.ready {
		t.Fatal(s.err)
	}
	defer s.conn.Close()
	tok := b.nthConnect(t, 1).Token
	chunk := strings.Repeat("y", 900<<10)
	for i := 0; i < 12; i++ { // ~10.5 MB, more than the kernel holds for one socket
		if code, body := controlReq(t, gw.control, "/internal/send", `{"token":"`+tok+`","event":{"data":"`+chunk+`"}}`, ""); code != 200 {
			t.Fatalf("send %d: %d %s", i, code, body)
		}
	}
	start := time.Now()
	gw.signal(syscall.SIGTERM)
	code := gw.wait(t, 10*time.Second)
	took := time.Since(start)
	if code == 0 {
		t.Fatalf("exit 0 although a stream was cut with megabytes queued\n%s", gw.logText())
	}
	if took > 2500*time.Millisecond {
		t.Fatalf("exited after %v, want about the 1 s shutdown timeout", took)
	}
	if !strings.Contains(gw.logText(), "streams cut") || !strings.Contains(gw.logText(), "streams=1") {
		t.Fatalf("no line counting the cut stream:\n%s", gw.logText())
	}
	recs := b.byToken(tok)
	if len(recs) != 2 || recs[1].Action != "disconnect" || recs[1].Reason != "server_closed" {
		t.Fatalf("callbacks for the stalled stream: %+v", recs)
	}
	t.Logf("exit code %d after %v", code, took.Round(time.Millisecond))
}

// TestShutdownTimeoutExitsNonZero: a drain that cannot finish (the backend
// never answers the disconnect callbacks) ends at SHUTDOWN_TIMEOUT_SECONDS
// with a non-zero exit code.
func TestShutdownTimeoutExitsNonZero(t *testing.T) {
	b := startBackend(t)
	b.discGate = make(chan struct{})
	defer close(b.discGate)
	gw := startChild(t, 0, map[string]string{"CALLBACK_URL": b.url(), "SHUTDOWN_TIMEOUT_SECONDS": "2",
		"DRAIN_WINDOW_MS": "100", "CALLBACK_TIMEOUT_MS": "60000"})
	s := openRaw(gw.public, "/stuck", 5*time.Second)
	if !s.ready {
		t.Fatal(s.err)
	}
	defer s.conn.Close()
	start := time.Now()
	gw.signal(syscall.SIGTERM)
	code := gw.wait(t, 10*time.Second)
	if code == 0 {
		t.Fatalf("exit 0 although the disconnect callback never completed")
	}
	if el := time.Since(start); el < 1900*time.Millisecond || el > 6*time.Second {
		t.Fatalf("exited after %v, want about the 2 s shutdown timeout", el)
	}
	t.Logf("exit code %d after %v", code, time.Since(start))
	if !strings.Contains(gw.logText(), "shutdown incomplete") {
		t.Fatalf("no shutdown-incomplete line:\n%s", gw.logText())
	}
}

// TestDrainStopsAccepting: on SIGTERM the public listener closes at once —
// new connections are refused, so a proxy or a load balancer moves them to
// another gateway — while the open stream still drains cleanly (retry hint,
// end of body, exit 0).
func TestDrainStopsAccepting(t *testing.T) {
	b := startBackend(t)
	gw := startChild(t, 0, map[string]string{"CALLBACK_URL": b.url(), "SHUTDOWN_TIMEOUT_SECONDS": "4", "DRAIN_WINDOW_MS": "1500"})
	s := openRaw(gw.public, "/draining", 5*time.Second)
	if !s.ready {
		t.Fatal(s.err)
	}
	defer s.conn.Close()
	gw.signal(syscall.SIGTERM)
	waitFor(t, "new connections refused", 5*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", gw.public, time.Second)
		if err == nil {
			c.Close()
			return false
		}
		return errors.Is(err, syscall.ECONNREFUSED)
	})
	s.readUntilEnd(5 * time.Second)
	if !s.retry || !s.ended {
		t.Fatalf("the open stream did not drain: retry %v end %v err %v", s.retry, s.ended, s.err)
	}
	if code := gw.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, gw.logText())
	}
	if !strings.Contains(gw.logText(), "public listener closed") || !strings.Contains(gw.logText(), "listeners=2") {
		t.Fatalf("no line saying both loops' listeners closed:\n%s", gw.logText())
	}
}

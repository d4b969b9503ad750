package callback

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// tokenOf reads a callback request's body and returns its token.
func tokenOf(t *testing.T, r *http.Request) string {
	var cb struct{ Token string }
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &cb); err != nil {
		t.Errorf("callback body %q: %v", b, err)
	}
	return cb.Token
}

// accepted is the answer naming the token as request_id, so each result
// shows which request it answered.
func accepted(token string, closing bool) string {
	body := `{"request_id":"` + token + `"}`
	extra := ""
	if closing {
		extra = "Connection: close\r\n"
	}
	return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + extra + "Content-Length: " + itoa(len(body)) + "\r\n\r\n" + body
}

// scriptServer is a backend on a raw TCP listener: serve runs for each
// connection (numbered from 0) with the connection's reader; the server
// records every request it received per token. After serve returns, the
// connection closes as a well-behaved server does: its write side first,
// then it reads until the client closes (no reset that would destroy
// answers not yet read).
type scriptServer struct {
	mu       sync.Mutex
	received map[string]int // token -> requests received (answered or not)
	conns    int
}

func startScript(t *testing.T, serve func(conn int, br *bufio.Reader, c net.Conn, next func() (*http.Request, string, error))) (*scriptServer, string) {
	t.Helper()
	s := &scriptServer{received: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			n := s.conns
			s.conns++
			s.mu.Unlock()
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				next := func() (*http.Request, string, error) {
					r, err := http.ReadRequest(br)
					if err != nil {
						return nil, "", err
					}
					tok := tokenOf(t, r)
					s.mu.Lock()
					s.received[tok]++
					s.mu.Unlock()
					return r, tok, nil
				}
				serve(n, br, c, next)
				_ = c.(*net.TCPConn).CloseWrite()
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, _ = io.Copy(io.Discard, br)
			}()
		}
	}()
	return s, "http://" + ln.Addr().String() + "/cb"
}

func (s *scriptServer) receivedOf(tok string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received[tok]
}

// queued makes a client that is not started yet and queues n connects
// (tokens p0..p<n-1>), so the first worker's first batch takes them all.
func queued(t *testing.T, url string, n, depth int, timeout time.Duration) (*Client, []chan Result) {
	t.Helper()
	c, err := New(Options{URL: url, Timeout: timeout, Concurrency: 1, Pipeline: depth, MaxPending: 64})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]chan Result, n)
	for i := range out {
		ch := make(chan Result, 1)
		out[i] = ch
		if err := c.Connect(&Job{Action: ActionConnect, Token: fmt.Sprintf("p%d", i), Head: []byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
			Done: func(_ *Job, r Result) { ch <- r }}); err != nil {
			t.Fatal(err)
		}
	}
	return c, out
}

func results(t *testing.T, chans []chan Result) []Result {
	t.Helper()
	out := make([]Result, len(chans))
	for i, ch := range chans {
		select {
		case out[i] = <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("no result for p%d", i)
		}
	}
	return out
}

// TestPipelinedAnswersMatchTheirCallbacks: callbacks that queue up while a
// worker waits go out together on its one connection to a real net/http
// backend, each gets its own answer, and fewer writes than callbacks were
// made; disconnects ride along.
func TestPipelinedAnswersMatchTheirCallbacks(t *testing.T) {
	first := make(chan struct{})
	release := make(chan struct{})
	var mu sync.Mutex
	conns := map[string]bool{}
	disconnects := map[string]int{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var cb struct{ Action, Token string }
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &cb)
		mu.Lock()
		conns[r.RemoteAddr] = true
		if cb.Action == "disconnect" {
			disconnects[cb.Token]++
		}
		mu.Unlock()
		if cb.Token == "c0" {
			close(first)
			<-release
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"request_id":"`+cb.Token+`","bindings":["b-`+cb.Token+`"]}`)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })

	c, err := New(Options{URL: "http://" + ln.Addr().String() + "/cb?k=v", Timeout: 5 * time.Second, Concurrency: 1, Pipeline: 8, MaxPending: 64})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	defer c.Stop(context.Background())
	const n = 21
	chans := make([]chan Result, n)
	submit := func(i int) {
		ch := make(chan Result, 1)
		chans[i] = ch
		if err := c.Connect(&Job{Action: ActionConnect, Token: fmt.Sprintf("c%d", i), Head: []byte("GET /s HTTP/1.1\r\nHost: h\r\n\r\n"),
			Done: func(_ *Job, r Result) { ch <- r }}); err != nil {
			t.Fatal(err)
		}
	}
	w0 := writes.Get()
	submit(0)
	<-first // the worker waits for c0's answer: the rest queue up
	for i := 1; i < n; i++ {
		submit(i)
		if i%5 == 0 {
			c.Disconnect(&Job{Action: ActionDisconnect, Reason: "client_closed", Token: fmt.Sprintf("d%d", i), Head: []byte("GET /s HTTP/1.1\r\n\r\n")})
		}
	}
	close(release)
	for i, r := range results(t, chans) {
		tok := fmt.Sprintf("c%d", i)
		if r.Outcome != Accepted || r.RequestID != tok || strings.Join(r.Bindings, ",") != "b-"+tok {
			t.Fatalf("callback %s got %+v", tok, r)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if !c.Flush(ctx) {
		t.Fatal("disconnects not all sent")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(disconnects) != 4 {
		t.Fatalf("disconnects received: %v", disconnects)
	}
	for tok, k := range disconnects {
		if k != 1 {
			t.Fatalf("disconnect %s received %d times", tok, k)
		}
	}
	// c0 alone, then 24 callbacks in batches of at most 8: 4 writes.
	if got := writes.Get() - w0; got != 4 || len(conns) != 1 {
		t.Fatalf("%d writes over %d connections for %d callbacks; want 4 over 1", got, len(conns), n+4)
	}
}

// TestPipelineAnnouncedCloseResends: the backend answers the first callback
// of a batch with Connection: close, so it processed nothing after it; the
// rest go out again on a new connection and each is answered once.
func TestPipelineAnnouncedCloseResends(t *testing.T) {
	s, url := startScript(t, func(conn int, br *bufio.Reader, c net.Conn, next func() (*http.Request, string, error)) {
		for {
			_, tok, err := next()
			if err != nil {
				return
			}
			closing := conn == 0
			io.WriteString(c, accepted(tok, closing))
			if closing {
				return
			}
		}
	})
	c, chans := queued(t, url, 6, 8, 5*time.Second)
	c.Start()
	defer c.Stop(context.Background())
	for i, r := range results(t, chans) {
		if tok := fmt.Sprintf("p%d", i); r.Outcome != Accepted || r.RequestID != tok {
			t.Fatalf("%s got %+v", tok, r)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns != 2 {
		t.Fatalf("%d connections, want 2 (the closed one and its replacement)", s.conns)
	}
	if s.received["p0"] != 1 {
		t.Fatalf("p0 received %d times", s.received["p0"])
	}
}

// TestPipelineUnannouncedCloseFailsTheRest: a connection that ends with
// answers missing settles the unanswered callbacks as Unavailable and never
// sends them again (the backend may have processed them).
func TestPipelineUnannouncedCloseFailsTheRest(t *testing.T) {
	s, url := startScript(t, func(conn int, br *bufio.Reader, c net.Conn, next func() (*http.Request, string, error)) {
		for i := 0; i < 6; i++ {
			_, tok, err := next()
			if err != nil {
				return
			}
			if i < 2 {
				io.WriteString(c, accepted(tok, false))
			}
		}
	})
	c, chans := queued(t, url, 6, 8, 5*time.Second)
	c.Start()
	defer c.Stop(context.Background())
	for i, r := range results(t, chans) {
		want := Accepted
		if i >= 2 {
			want = Unavailable
		}
		if r.Outcome != want {
			t.Fatalf("p%d got %+v, want %v", i, r, want)
		}
	}
	for i := 0; i < 6; i++ {
		if n := s.receivedOf(fmt.Sprintf("p%d", i)); n != 1 {
			t.Fatalf("p%d received %d times, want once", i, n)
		}
	}
}

// TestPipelineTimeoutFailsTheRest: answers that do not come within the
// batch's CALLBACK_TIMEOUT settle as Timeout.
func TestPipelineTimeoutFailsTheRest(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	_, url := startScript(t, func(conn int, br *bufio.Reader, c net.Conn, next func() (*http.Request, string, error)) {
		_, tok, err := next()
		if err != nil {
			return
		}
		io.WriteString(c, accepted(tok, false))
		<-hold
	})
	c, chans := queued(t, url, 4, 8, 300*time.Millisecond)
	start := time.Now()
	c.Start()
	defer c.Stop(context.Background())
	for i, r := range results(t, chans) {
		want := Accepted
		if i > 0 {
			want = Timeout
		}
		if r.Outcome != want {
			t.Fatalf("p%d got %+v, want %v", i, r, want)
		}
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("the batch took %v with a 300 ms timeout", el)
	}
}

// TestPipelineBatchIsBoundedInBytes: connects with big heads stop a batch
// at maxPipelineBytes, so one write never carries more than that plus one
// request.
func TestPipelineBatchIsBoundedInBytes(t *testing.T) {
	var mu sync.Mutex
	var sizes []int
	_, url := startScript(t, func(conn int, br *bufio.Reader, c net.Conn, next func() (*http.Request, string, error)) {
		for {
			r, tok, err := next()
			if err != nil {
				return
			}
			mu.Lock()
			sizes = append(sizes, int(r.ContentLength))
			mu.Unlock()
			io.WriteString(c, accepted(tok, false))
		}
	})
	c, err := New(Options{URL: url, Timeout: 5 * time.Second, Concurrency: 1, Pipeline: MaxPipeline, MaxPending: 64})
	if err != nil {
		t.Fatal(err)
	}
	head := []byte("GET / HTTP/1.1\r\nCookie: " + strings.Repeat("x", 15000) + "\r\n\r\n")
	const n = 12
	chans := make([]chan Result, n)
	for i := range chans {
		ch := make(chan Result, 1)
		chans[i] = ch
		c.Connect(&Job{Action: ActionConnect, Token: fmt.Sprintf("p%d", i), Head: head, Done: func(_ *Job, r Result) { ch <- r }})
	}
	w0 := writes.Get()
	c.Start()
	defer c.Stop(context.Background())
	for i, r := range results(t, chans) {
		if r.Outcome != Accepted {
			t.Fatalf("p%d got %+v", i, r)
		}
	}
	mu.Lock()
	per := sizes[0]
	mu.Unlock()
	perBatch := maxPipelineBytes/per + 1 // requests one batch holds at most
	want := (n + perBatch - 1) / perBatch
	if got := int(writes.Get() - w0); got < want {
		t.Fatalf("%d writes for %d requests of %d B; a batch of at most %d B needs at least %d", got, n, per, maxPipelineBytes, want)
	}
}

func TestPipelineDepthIsBounded(t *testing.T) {
	if _, err := New(Options{URL: "http://127.0.0.1:1/", Pipeline: MaxPipeline + 1}); err == nil {
		t.Fatal("depth past MaxPipeline accepted")
	}
}

// TestPipelineTimeoutIsPerAnswer: a backend that answers a batch one
// request at a time, each within the timeout but all of them together past
// it, gets every answer through.
func TestPipelineTimeoutIsPerAnswer(t *testing.T) {
	_, url := startScript(t, func(conn int, br *bufio.Reader, c net.Conn, next func() (*http.Request, string, error)) {
		for {
			_, tok, err := next()
			if err != nil {
				return
			}
			time.Sleep(120 * time.Millisecond)
			io.WriteString(c, accepted(tok, false))
		}
	})
	c, chans := queued(t, url, 5, 8, 300*time.Millisecond)
	c.Start()
	defer c.Stop(context.Background())
	for i, r := range results(t, chans) {
		if r.Outcome != Accepted {
			t.Fatalf("p%d got %+v after %d answers of 120 ms each (timeout 300 ms per answer)", i, r, i)
		}
	}
}

// nodeBackend is Node's http server as a backend: it answers each callback
// with its token as request_id after a random delay of 0-3 ms, so pipelined
// requests are handled at once and finish out of order (Node sends the
// answers in order regardless).
const nodeBackend = `
const http = require('http');
const srv = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    const cb = JSON.parse(body);
    setTimeout(() => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({request_id: cb.token}));
    }, Math.floor(Math.random() * 4));
  });
});
srv.listen(0, '127.0.0.1', () => console.log(srv.address().port));
`

// TestPipelineAgainstNodeHTTP: Node's http server takes pipelined callbacks
// and every answer reaches its own callback.
func TestPipelineAgainstNodeHTTP(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not installed (.ci/install-deps checks for it): %v", err)
	}
	cmd := exec.Command("node", "-e", nodeBackend)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("node backend did not start: %v", err)
	}
	url := "http://127.0.0.1:" + strings.TrimSpace(line) + "/cb"
	w0 := writes.Get()
	c, chans := queued(t, url, 40, 32, 5*time.Second)
	c.Start()
	defer c.Stop(context.Background())
	for i, r := range results(t, chans) {
		if tok := fmt.Sprintf("p%d", i); r.Outcome != Accepted || r.RequestID != tok {
			t.Fatalf("%s got %+v", tok, r)
		}
	}
	if got := writes.Get() - w0; got != 2 {
		t.Fatalf("%d writes for 40 callbacks queued before the start, depth 32: want 2", got)
	}
}

// TestPipelineResendGetsItsOwnTimeout: callbacks sent again after an
// announced close get a whole timeout, even when the answers before the
// close took longer than one timeout together.
func TestPipelineResendGetsItsOwnTimeout(t *testing.T) {
	_, url := startScript(t, func(conn int, br *bufio.Reader, c net.Conn, next func() (*http.Request, string, error)) {
		for i := 0; ; i++ {
			_, tok, err := next()
			if err != nil {
				return
			}
			time.Sleep(120 * time.Millisecond)
			closing := conn == 0 && i == 2
			io.WriteString(c, accepted(tok, closing))
			if closing {
				return
			}
		}
	})
	c, chans := queued(t, url, 5, 8, 300*time.Millisecond)
	c.Start()
	defer c.Stop(context.Background())
	for i, r := range results(t, chans) {
		if tok := fmt.Sprintf("p%d", i); r.Outcome != Accepted || r.RequestID != tok {
			t.Fatalf("%s got %+v (three answers of 120 ms, a close, then the rest again with a 300 ms timeout)", tok, r)
		}
	}
}

package callback

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// rawServer answers every request with the given raw response (so tests
// control the status line exactly) after an optional delay.
func rawServer(t *testing.T, response string, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(delay)
		conn, buf, _ := w.(http.Hijacker).Hijack()
		defer conn.Close()
		buf.WriteString(response)
		buf.Flush()
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/cb"
}

func connect(t *testing.T, url string, timeout time.Duration) Result {
	t.Helper()
	c, err := New(Options{URL: url, Timeout: timeout, Concurrency: 2, MaxPending: 4})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	defer c.Stop(context.Background())
	got := make(chan Result, 1)
	if err := c.Connect(&Job{Action: ActionConnect, Token: "t", Head: []byte("GET / HTTP/1.0\r\n\r\n"),
		Done: func(_ *Job, r Result) { got <- r }}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no result")
	}
	return Result{}
}

func resp(status, body string) string {
	return "HTTP/1.1 " + status + "\r\nContent-Type: application/json\r\nContent-Length: " + itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestConnectOutcomes(t *testing.T) {
	f := func(response string, want Result) {
		t.Helper()
		got := connect(t, rawServer(t, response, 0), time.Second)
		if got.Outcome != want.Outcome || got.Status != want.Status || got.Phrase != want.Phrase ||
			got.RequestID != want.RequestID || got.HasRequestID != want.HasRequestID || got.Since != want.Since || got.HasSince != want.HasSince || strings.Join(got.Bindings, ",") != strings.Join(want.Bindings, ",") {
			t.Fatalf("response %q:\n got %+v\nwant %+v", response, got, want)
		}
	}
	f(resp("200 OK", `{"request_id":"r","bindings":["a","b"]}`), Result{Outcome: Accepted, Status: 200, Phrase: "OK", RequestID: "r", HasRequestID: true, Bindings: []string{"a", "b"}})
	f(resp("200 OK", `{"request_id":"","bindings":["a"]}`), Result{Outcome: Accepted, Status: 200, Phrase: "OK", HasRequestID: true, Bindings: []string{"a"}})
	f(resp("200 OK", `{"since":"abc","bindings":["a"]}`), Result{Outcome: Accepted, Status: 200, Phrase: "OK", Since: "abc", HasSince: true, Bindings: []string{"a"}})
	f(resp("200 OK", `{"since":12,"bindings":["a"]}`), Result{Outcome: Accepted, Status: 200, Phrase: "OK", Bindings: []string{"a"}})
	f(resp("200 OK", `{"request_id":null,"bindings":["a"]}`), Result{Outcome: Accepted, Status: 200, Phrase: "OK", Bindings: []string{"a"}})
	f(resp("200 OK", `{"Request_ID":"x","Bindings":["a"]}`), Result{Outcome: Accepted, Status: 200, Phrase: "OK"}) // keys match exactly, as in JavaScript
	f(resp("204 No Content", ``), Result{Outcome: Accepted, Status: 204, Phrase: "No Content"})
	f(resp("200 OK", `not json`), Result{Outcome: Accepted, Status: 200, Phrase: "OK"})
	f(resp("200 OK", `{"request_id":5,"bindings":["a",7]}`), Result{Outcome: Accepted, Status: 200, Phrase: "OK"}) // Node's all-strings rule
	f(resp("200 OK", `{"bindings":"a"}`), Result{Outcome: Accepted, Status: 200, Phrase: "OK"})
	f(resp("401 Token Expired", `{}`), Result{Outcome: Rejected, Status: 401, Phrase: "Token Expired"})
	f(resp("403", `{}`), Result{Outcome: Rejected, Status: 403, Phrase: "Forbidden"})
	f(resp("400 Bad Request", ``), Result{Outcome: Rejected, Status: 400, Phrase: "Bad Request"})
	f(resp("404 Not Found", ``), Result{Outcome: BackendError, Status: 404, Phrase: "Not Found"})
	f(resp("429 Too Many Requests", ``), Result{Outcome: ServerError, Status: 429, Phrase: "Too Many Requests"})
	f(resp("500 Internal Server Error", ``), Result{Outcome: ServerError, Status: 500, Phrase: "Internal Server Error"})
	f(resp("503 Service Unavailable", ``), Result{Outcome: ServerError, Status: 503, Phrase: "Service Unavailable"})
	f(resp("599 Whatever", ``), Result{Outcome: ServerError, Status: 599, Phrase: "Whatever"})
	f(resp("301 Moved Permanently", ``)[:len(resp("301 Moved Permanently", ``))-4]+"Location: http://127.0.0.1:1/\r\n\r\n",
		Result{Outcome: BackendError, Status: 301, Phrase: "Moved Permanently"}) // redirects are not followed
}

func TestConnectTimeoutAndUnavailable(t *testing.T) {
	if got := connect(t, rawServer(t, resp("200 OK", ""), 2*time.Second), 200*time.Millisecond); got.Outcome != Timeout {
		t.Fatalf("slow backend: %+v", got)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	if got := connect(t, "http://"+addr+"/cb", time.Second); got.Outcome != Unavailable {
		t.Fatalf("closed port: %+v", got)
	}
}

func TestConnectQueueIsBounded(t *testing.T) {
	c, _ := New(Options{URL: "http://127.0.0.1:1/", Timeout: time.Second, Concurrency: 1, MaxPending: 2})
	// Not started: nothing drains the queue.
	for i := 0; i < 2; i++ {
		if err := c.Connect(&Job{}); err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
	}
	if err := c.Connect(&Job{}); err != ErrQueueFull {
		t.Fatalf("third job: %v", err)
	}
}

// keepAliveServer is a plain net/http backend that counts new connections and
// answers with body; closeIdle closes its idle connections.
func keepAliveServer(t *testing.T, body string, chunked bool) (url string, conns func() int64) {
	t.Helper()
	var n atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			if !json.Valid(b) || r.Header.Get("Content-Type") != "application/json" || r.Method != "POST" || r.URL.RawQuery != "k=v" {
				http.Error(w, "bad callback", 500)
				return
			}
			if chunked {
				w.(http.Flusher).Flush() // forces chunked framing
			}
			_, _ = io.WriteString(w, body)
		}),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				n.Add(1)
			}
		},
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String() + "/cb?k=v", n.Load
}

func TestKeepAliveReuseAndChunkedBodies(t *testing.T) {
	url, conns := keepAliveServer(t, `{"bindings":["x","y"],"request_id":"r"}`, true)
	c, err := New(Options{URL: url, Timeout: 2 * time.Second, Concurrency: 1, MaxPending: 16})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	defer c.Stop(context.Background())
	for i := 0; i < 10; i++ {
		got := make(chan Result, 1)
		c.Connect(&Job{Action: ActionConnect, Token: "t", Head: []byte("GET / HTTP/1.0\r\n\r\n"), Done: func(_ *Job, r Result) { got <- r }})
		r := <-got
		if r.Outcome != Accepted || strings.Join(r.Bindings, ",") != "x,y" || r.RequestID != "r" {
			t.Fatalf("callback %d: %+v", i, r)
		}
	}
	if n := conns(); n != 1 {
		t.Fatalf("%d connections for 10 callbacks from one worker, want 1 kept alive", n)
	}
}

// oneShotServer answers one request per connection as if it would keep the
// connection alive, then closes it: the next request on it fails.
func oneShotServer(t *testing.T) (url string, conns, closed func() int64) {
	t.Helper()
	var n, shut atomic.Int64
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
			n.Add(1)
			go func() {
				defer shut.Add(1)
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				_, _ = io.Copy(io.Discard, req.Body)
				_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/cb", n.Load, shut.Load
}

// TestClosedKeepAliveConnectionIsReplaced: a connection the backend closed
// while idle is noticed before the next request, which goes out (once) on a
// new connection.
func TestClosedKeepAliveConnectionIsReplaced(t *testing.T) {
	url, conns, closed := oneShotServer(t)
	c, err := New(Options{URL: url, Timeout: 2 * time.Second, Concurrency: 1, MaxPending: 16})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	defer c.Stop(context.Background())
	for i := 0; i < 3; i++ {
		got := make(chan Result, 1)
		c.Connect(&Job{Action: ActionConnect, Token: "t", Head: []byte("GET / HTTP/1.0\r\n\r\n"), Done: func(_ *Job, r Result) { got <- r }})
		if r := <-got; r.Outcome != Accepted {
			t.Fatalf("callback %d over a connection the backend had closed: %+v", i, r)
		}
		deadline := time.Now().Add(2 * time.Second)
		for closed() < int64(i+1) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond) // until the backend has closed it
		}
	}
	if n := conns(); n != 3 {
		t.Fatalf("%d connections, want one per callback", n)
	}
}

func TestStopAbortsInFlightCallbacks(t *testing.T) {
	url := rawServer(t, resp("200 OK", ""), time.Minute)
	c, err := New(Options{URL: url, Timeout: time.Minute, Concurrency: 1, MaxPending: 4})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	c.Disconnect(&Job{Action: ActionDisconnect, Reason: "server_closed", Token: "t", Head: []byte("GET / HTTP/1.0\r\n\r\n")})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if c.Stop(ctx) {
		t.Fatalf("Stop reported every disconnect sent, but the backend never answered")
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("Stop took %v", el)
	}
}

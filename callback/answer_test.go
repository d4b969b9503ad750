package callback

import (
	"bufio"
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// slowResult is what the general path makes of a response: http.ReadResponse,
// classify and parseAccept, as before the fast path.
func slowResult(t *testing.T, raw string) (Result, bool) {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(raw)), nil)
	if err != nil {
		return Result{}, false
	}
	defer resp.Body.Close()
	r := classify(resp)
	if r.Outcome == Accepted {
		parseAccept(resp.Body, &r)
	}
	return r, true
}

// TestPeekAnswerMatchesReadResponse: whatever the fast path takes, it
// classifies exactly as http.ReadResponse + classify + parseAccept do, and it
// consumes exactly the answer; what it leaves goes to the general path.
func TestPeekAnswerMatchesReadResponse(t *testing.T) {
	body := `{"bindings":["a","b"],"request_id":"r1","since":"7"}`
	cl := itoa(len(body))
	cases := []struct {
		raw  string
		fast bool
	}{
		{"HTTP/1.1 200 OK\r\nContent-Length: " + cl + "\r\n\r\n" + body, true},
		{"HTTP/1.1 200 OK\r\ncontent-length: " + cl + "\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n\r\n" + body, true},
		{"HTTP/1.1 201 Created\r\nContent-Length: " + cl + "\r\n\r\n" + body, true},
		{"HTTP/1.1 200\r\nContent-Length: 2\r\n\r\n{}", true},
		{"HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\n{}", true},
		{"HTTP/1.1 200 Fine By Me\r\nContent-Length: 2\r\n\r\n{}", true},
		{"HTTP/1.1 401 Nope\r\nContent-Length: 0\r\n\r\n", true},
		{"HTTP/1.1 403 Forbidden\r\nContent-Length: 5\r\n\r\nno no", true},
		{"HTTP/1.1 418 I'm a teapot\r\nContent-Length: 0\r\n\r\n", true},
		{"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\n\r\n", true},
		{"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n", true},
		{"HTTP/1.1 200 OK\r\nContent-Length:   2  \r\n\r\n{}", true},
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}stray", true},
		// Left to the general path:
		{"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", false},
		{"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}", false},
		{"HTTP/1.1 200 OK\r\n\r\n{}", false}, // close-delimited
		{"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}", false},
		{"HTTP/1.1 204 No Content\r\nContent-Length: 2\r\n\r\n", false},
		{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\n{}", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{}", false}, // body not all there
		{"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 2\r\n\r\n{}", false},
		{"HTTP/1.1 200 OK\r\nBad Name: a\r\nContent-Length: 2\r\n\r\n{}", false},
		{"HTTP/1.1 200 \xe9t\xe9\r\nContent-Length: 2\r\n\r\n{}", false},
		{"HTTP/1.1  200 OK\r\nContent-Length: 2\r\n\r\n{}", false},
		{"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\n{}", false},
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n", false}, // head not complete
	}
	for _, c := range cases {
		br := bufio.NewReaderSize(strings.NewReader(c.raw), readBufferBytes)
		a, ok, err := peekAnswer(br)
		if err != nil || ok != c.fast {
			t.Fatalf("%q: fast %v err %v, want fast %v", c.raw, ok, err, c.fast)
		}
		if !ok {
			if br.Buffered() != len(c.raw) {
				t.Fatalf("%q: the general path lost bytes", c.raw)
			}
			continue
		}
		got := a.result()
		if got.Outcome == Accepted {
			parseAcceptBody(a.body, &got)
		}
		want, _ := slowResult(t, c.raw)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\nfast    %+v\ngeneral %+v", c.raw, got, want)
		}
		if _, _ = br.Discard(a.size); br.Buffered() != strings.Count(c.raw, "stray")*5 {
			t.Fatalf("%q: %d bytes left after the answer", c.raw, br.Buffered())
		}
	}
}

// TestFastAnswersOverKeepAlive: net/http's plain Content-Length answers take
// the fast path, the connection is kept, and the results are the same.
func TestFastAnswersOverKeepAlive(t *testing.T) {
	url, conns := keepAliveServer(t, `{"bindings":["x","y"],"request_id":"r","since":"p"}`, false)
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
		if r.Outcome != Accepted || r.Status != 200 || r.Phrase != "OK" || strings.Join(r.Bindings, ",") != "x,y" ||
			r.RequestID != "r" || !r.HasRequestID || r.Since != "p" || !r.HasSince {
			t.Fatalf("callback %d: %+v", i, r)
		}
	}
	if n := conns(); n != 1 {
		t.Fatalf("%d connections for 10 callbacks from one worker, want 1 kept alive", n)
	}
}

func FuzzPeekAnswer(f *testing.F) {
	f.Add("HTTP/1.1 200 OK\r\nContent-Length: 22\r\n\r\n{\"bindings\":[\"bench\"]}")
	f.Add("HTTP/1.1 204 No Content\r\nDate: x\r\n\r\n")
	f.Add("HTTP/1.1 401 Nope\r\ncontent-length: 0\r\nConnection: keep-alive\r\n\r\n")
	f.Fuzz(func(t *testing.T, raw string) {
		br := bufio.NewReaderSize(strings.NewReader(raw), readBufferBytes)
		a, ok, _ := peekAnswer(br)
		if !ok {
			return
		}
		got := a.result()
		if got.Outcome == Accepted && !parseAcceptFast(a.body, &got) {
			parseAcceptBody(a.body, &got)
		}
		want, parsed := slowResult(t, raw)
		if !parsed || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\nfast    %+v\ngeneral %+v (parsed %v)", raw, got, want, parsed)
		}
	})
}

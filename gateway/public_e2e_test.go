package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const cors = "Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Methods: GET, POST, OPTIONS\r\n" +
	"Access-Control-Allow-Headers: Content-Type, Cache-Control, Last-Event-ID\r\n"

func jsonHead(status string, n int, extra string) string {
	return "HTTP/1.1 " + status + "\r\n" + cors + extra + "Content-Type: application/json; charset=utf-8\r\n" +
		"Content-Length: " + itoa(n) + "\r\n"
}

func itoa(n int) string {
	s := ""
	for {
		s = string(rune('0'+n%10)) + s
		n /= 10
		if n == 0 {
			return s
		}
	}
}

func TestPublicRoutes(t *testing.T) {
	b := startBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url()})
	f := func(req, wantHead, wantBody string, closes bool) {
		t.Helper()
		c := dial(t, g.PublicAddr())
		c.send(req)
		h := c.head()
		if h != wantHead {
			t.Fatalf("%q:\n got head %q\nwant head %q", req, h, wantHead)
		}
		if strings.HasPrefix(req, "HEAD") {
			return // a HEAD answer has no body whatever its Content-Length says
		}
		if body := c.body(h); body != wantBody {
			t.Fatalf("%q: body %q, want %q", req, body, wantBody)
		}
		if closes {
			c.expectEOF()
		}
	}
	ok := `{"status":"ok"}`
	f("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", jsonHead("200 OK", len(ok), "")+"\r\n", ok, false)
	ready := `{"status":"ready","configured":true}`
	f("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n", jsonHead("200 OK", len(ready), "")+"\r\n", ready, false)
	f("HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n", jsonHead("200 OK", len(ok), "")+"\r\n", "", false)
	f("OPTIONS /anything HTTP/1.1\r\nHost: x\r\n\r\n", "HTTP/1.1 204 No Content\r\n"+cors+"\r\n", "", false)
	notAllowed := `{"error":{"message":"Method not allowed","code":"METHOD_NOT_ALLOWED"}}`
	f("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 405 Method Not Allowed\r\n"+cors+"Allow: GET, HEAD, OPTIONS\r\n"+
		"Content-Type: application/json; charset=utf-8\r\nContent-Length: "+itoa(len(notAllowed))+"\r\n\r\n", notAllowed, false)
	notFound := `{"error":{"message":"Not found","code":"NOT_FOUND"}}`
	f("GET /internal/send HTTP/1.1\r\nHost: x\r\n\r\n", jsonHead("404 Not Found", len(notFound), "")+"\r\n", notFound, false)
	body := `{"error":{"message":"A GET request must not have a body","code":"BAD_REQUEST"}}`
	f("GET /s HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", jsonHead("400 Bad Request", len(body), "")+"Connection: close\r\n\r\n", body, true)
	// HTTP/1.0 closes after a non-SSE answer.
	f("GET /healthz HTTP/1.0\r\n\r\n", jsonHead("200 OK", len(ok), "")+"Connection: close\r\n\r\n", ok, true)
	f("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", jsonHead("200 OK", len(ok), "")+"Connection: close\r\n\r\n", ok, true)
	// HEAD on a stream path: the SSE headers and no callback.
	c := dial(t, g.PublicAddr())
	c.send("HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\n")
	if h := c.head(); h != sseHead {
		t.Fatalf("HEAD stream: %q", h)
	}
	if n := len(b.snapshot()); n != 0 {
		t.Fatalf("%d callbacks after HEAD and health checks, want 0", n)
	}
}

func TestMalformedRequestsAreRefused(t *testing.T) {
	b := startBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url(), "MAX_HEADER_BYTES": "1024"})
	f := func(req, wantStatus, wantCode string) {
		t.Helper()
		c := dial(t, g.PublicAddr())
		c.send(req)
		h := c.head()
		if !strings.HasPrefix(h, "HTTP/1.1 "+wantStatus+"\r\n") {
			t.Fatalf("%q: head %q, want %s", req, h, wantStatus)
		}
		if body := c.body(h); !strings.Contains(body, `"code":"`+wantCode+`"`) {
			t.Fatalf("%q: body %s, want %s", req, body, wantCode)
		}
		c.expectEOF()
	}
	f("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nTransfer-Encoding: chunked\r\n\r\n", "400 Bad Request", "BAD_REQUEST")
	f("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "400 Bad Request", "BAD_REQUEST")
	f("GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", "400 Bad Request", "BAD_REQUEST")
	f("GET / HTTP/1.1\r\nHost : x\r\n\r\n", "400 Bad Request", "BAD_REQUEST")
	f("GET / HTTP/1.1\r\nHost: x\rY: z\r\n\r\n", "400 Bad Request", "BAD_REQUEST")
	f("GARBAGE\r\n\r\n", "400 Bad Request", "BAD_REQUEST")
	f("GET / HTTP/1.1\r\nHost: x\r\nBig: "+strings.Repeat("a", 2000)+"\r\n\r\n", "431 Request Header Fields Too Large", "HEADERS_TOO_LARGE")
	if n := len(b.snapshot()); n != 0 {
		t.Fatalf("%d callbacks for refused requests", n)
	}
}

func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	b := startBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url()})
	c := dial(t, g.PublicAddr())
	c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nOPTIONS / HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\nGET /pipelined-stream HTTP/1.1\r\nHost: x\r\n\r\n")
	if h := c.head(); !strings.HasPrefix(h, "HTTP/1.1 200 OK") || c.body(h) != `{"status":"ok"}` {
		t.Fatalf("first %q", h)
	}
	if h := c.head(); !strings.HasPrefix(h, "HTTP/1.1 204 No Content") {
		t.Fatalf("second %q", h)
	}
	if h := c.head(); !strings.HasPrefix(h, "HTTP/1.1 200 OK") || !strings.HasPrefix(c.body(h), `{"status":"ready"`) {
		t.Fatalf("third %q", h)
	}
	if h := c.head(); h != sseHead {
		t.Fatalf("fourth %q", h)
	}
	if ev := c.chunk(); ev != "event: ready\ndata:\n\n" {
		t.Fatalf("ready %q", ev)
	}
	if rec := b.nthConnect(t, 1); rec.Request.URL != "/pipelined-stream" {
		t.Fatalf("url %q", rec.Request.URL)
	}
}

func TestHTTP10StreamIsCloseDelimited(t *testing.T) {
	b := startBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url()})
	c := dial(t, g.PublicAddr())
	c.send("GET /old HTTP/1.0\r\n\r\n")
	want := "HTTP/1.1 200 OK\r\n" + cors + "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\nX-Accel-Buffering: no\r\n\r\n"
	if h := c.head(); h != want {
		t.Fatalf("head %q", h)
	}
	tok := b.nthConnect(t, 1).Token
	g.control("/internal/send", `{"token":"`+tok+`","event":{"data":"x"},"close":true}`)
	c.deadline(5 * time.Second)
	rest, err := io.ReadAll(c.r)
	if err != nil {
		t.Fatal(err)
	}
	if string(rest) != "event: ready\ndata:\n\ndata: x\n\n" {
		t.Fatalf("body %q", rest)
	}
}

func TestEnvelopeFormat(t *testing.T) {
	b := startBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url(), "EVENT_FORMAT": "envelope"})
	c, tok := openStream(t, g, b, 1, "/env")
	g.control("/internal/send", `{"token":"`+tok+`","event":{"name":"task_event","data":"{\"a\":\"<b>\"}"}}`)
	if ev := c.event(); ev != `data: {"type":"task_event","payload":{"a":"<b>"}}`+"\n\n" {
		t.Fatalf("envelope %q", ev)
	}
	g.control("/internal/send", `{"token":"`+tok+`","event":{"data":"plain\nlines"}}`)
	if ev := c.event(); ev != "data: plain\ndata: lines\n\n" {
		t.Fatalf("unnamed %q", ev)
	}
}

func TestNotConfiguredAndReadyz(t *testing.T) {
	g := startGateway(t, nil)
	c := dial(t, g.PublicAddr())
	c.get("/s")
	h := c.head()
	if !strings.HasPrefix(h, "HTTP/1.1 503 Service Unavailable\r\n") ||
		c.body(h) != `{"error":{"message":"Service not configured","code":"SERVICE_NOT_CONFIGURED"}}` {
		t.Fatalf("not configured: %q", h)
	}
	c.send("GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n")
	h = c.head()
	if want := `{"status":"not_ready","configured":false,"reasons":["CALLBACK_URL not configured"]}`; !strings.HasPrefix(h, "HTTP/1.1 503") || c.body(h) != want {
		t.Fatalf("readyz %q", h)
	}
	resp, err := http.Get("http://" + g.ControlAddr() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("control readyz %d", resp.StatusCode)
	}
}

func TestControlTokenAndRoutes(t *testing.T) {
	b := startBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url(), "CONTROL_TOKEN": "s3cret"})
	if code, resp := controlReq(t, g.ControlAddr(), "/internal/send", `{"token":"x"}`, ""); code != 401 || !strings.Contains(resp, "UNAUTHORIZED") {
		t.Fatalf("no token: %d %s", code, resp)
	}
	if code, _ := controlReq(t, g.ControlAddr(), "/internal/send", `{"token":"x"}`, "wrong"); code != 401 {
		t.Fatalf("wrong token: %d", code)
	}
	if code, resp := controlReq(t, g.ControlAddr(), "/internal/send", `{"token":"x"}`, "s3cret"); code != 404 || !strings.Contains(resp, "TOKEN_NOT_FOUND") {
		t.Fatalf("right token: %d %s", code, resp)
	}
	req, _ := http.NewRequest("GET", "http://"+g.ControlAddr()+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, name := range []string{"ssegw_streams_open", "ssegw_connects_total", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(string(m), name) {
			t.Fatalf("metrics lack %s", name)
		}
	}
}

func TestShedAtCapacityKeepsBrowsersComing(t *testing.T) {
	b := startBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url(), "MAX_CONNECTIONS": "1"})
	openStream(t, g, b, 1, "/first")
	c := dial(t, g.PublicAddr())
	c.get("/second")
	if h := c.head(); h != sseHead {
		t.Fatalf("shed head %q", h)
	}
	ev := c.chunk()
	var ms int
	if _, err := fmt.Sscanf(ev, "retry: %d\n\n", &ms); err != nil || ms < 1000 || ms > 10000 {
		t.Fatalf("shed message %q", ev)
	}
	if last := c.chunk(); last != "" {
		t.Fatalf("want end of stream, got %q", last)
	}
	c.expectEOF()
	if n := b.count("connect"); n != 1 {
		t.Fatalf("%d connects, the shed request must not call back", n)
	}
}

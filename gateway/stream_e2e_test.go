package gateway_test

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestStreamReadyHeartbeatAndConnectPayload(t *testing.T) {
	b := startBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url()})
	c := dial(t, g.PublicAddr())
	start := time.Now() // before the request: the beat is armed when ready is written, which can precede our read of it
	c.send("GET /sse/test?foo=bar&baz=qux&empty=&special=%20%2F HTTP/1.1\r\n" +
		"Host: gw.example\r\nX-Foo: a\r\nCookie: c1=1\r\nx-foo:  b \r\nCOOKIE: c2=2\r\n" +
		"Set-Cookie: s1\r\nset-cookie: s2\r\nUser-Agent: first\r\nUser-Agent: second\r\n" +
		"Authorization: Bearer x\r\nLast-Event-ID: 41\r\nX-Latin: caf\xe9\r\n\r\n")
	if h := c.head(); h != sseHead {
		t.Fatalf("head %q", h)
	}
	if ev := c.chunk(); ev != "event: ready\ndata:\n\n" {
		t.Fatalf("ready %q", ev)
	}
	rec := b.nthConnect(t, 1)
	if !uuidV4.MatchString(rec.Token) {
		t.Fatalf("token %q is not a lowercase UUID v4", rec.Token)
	}
	want := `{"action":"connect","token":"` + rec.Token + `","request":{"url":"/sse/test?foo=bar&baz=qux&empty=&special=%20%2F",` +
		`"headers":{"host":"gw.example","x-foo":"a, b","cookie":"c1=1; c2=2","set-cookie":["s1","s2"],` +
		`"user-agent":"first","authorization":"Bearer x","last-event-id":"41","x-latin":"café"}}}`
	if string(rec.Raw) != want {
		t.Fatalf("connect payload\n got %s\nwant %s", rec.Raw, want)
	}
	// First heartbeat within one interval (1 s) of ready.
	if hb := c.chunk(); hb != ": heartbeat\n\n" {
		t.Fatalf("heartbeat %q", hb)
	}
	// One interval, minus at most 100 ms of spread, rounded down onto the
	// 250 ms grid: never later than the interval (plus scheduling).
	if el := time.Since(start); el < 650*time.Millisecond || el > 1500*time.Millisecond {
		t.Fatalf("first heartbeat after %v, want about 1s", el)
	}
	if hb := c.chunk(); hb != ": heartbeat\n\n" {
		t.Fatalf("second heartbeat %q", hb)
	}
	// The client leaves: exactly one disconnect, client_closed, same request.
	c.conn.Close()
	waitFor(t, "disconnect", 5*time.Second, func() bool { return len(b.byToken(rec.Token)) == 2 })
	d := b.byToken(rec.Token)[1]
	wantD := `{"action":"disconnect","reason":"client_closed","token":"` + rec.Token + `","request":` +
		want[strings.Index(want, `"request":`)+len(`"request":`):]
	if string(d.Raw) != wantD {
		t.Fatalf("disconnect payload\n got %s\nwant %s", d.Raw, wantD)
	}
	assertIdle(t, g)
}

func TestSendEventsAndClose(t *testing.T) {
	b := startBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url()})
	c, tok := openStream(t, g, b, 1, "/s")
	f := func(body, wantStatus, wantChunk string) {
		t.Helper()
		code, resp := g.control("/internal/send", body)
		if fmt.Sprint(code)+" "+resp != wantStatus {
			t.Fatalf("send %s: %d %s, want %s", body, code, resp, wantStatus)
		}
		if wantChunk != "" {
			if ev := c.event(); ev != wantChunk {
				t.Fatalf("send %s: client got %q, want %q", body, ev, wantChunk)
			}
		}
	}
	f(`{"token":"`+tok+`","event":{"data":"hello"}}`, `200 {"status":"ok"}`, "data: hello\n\n")
	f(`{"token":"`+tok+`","event":{"name":"upd","data":"a\nb\r\nc\rd","id":"7","retry":2500}}`, `200 {"status":"ok"}`,
		"id: 7\nevent: upd\nretry: 2500\ndata: a\ndata: b\ndata: c\ndata: d\n\n")
	f(`{"token":"`+tok+`","event":{"name":"","data":""}}`, `200 {"status":"ok"}`, "data: \n\n")
	f(`{"token":"`+tok+`"}`, `200 {"status":"ok"}`, "") // no-op
	f(`{"token":"`+strings.ToUpper(tok)+`","event":{"data":"upper-case token"}}`, `200 {"status":"ok"}`, "data: upper-case token\n\n")
	f(`{"token":"`+tok+`","event":{"data":"bye"},"close":true}`, `200 {"status":"ok"}`, "data: bye\n\n")
	if last := c.chunk(); last != "" {
		t.Fatalf("want the terminating chunk, got %q", last)
	}
	waitFor(t, "disconnect", 5*time.Second, func() bool { return len(b.byToken(tok)) == 2 })
	if d := b.byToken(tok)[1]; d.Reason != "server_closed" {
		t.Fatalf("reason %q", d.Reason)
	}
	f(`{"token":"`+tok+`","event":{"data":"late"}}`, `404 {"error":{"message":"Token not found","code":"TOKEN_NOT_FOUND"}}`, "")
	// The kept-alive connection serves the next request.
	c.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	if h := c.head(); !strings.HasPrefix(h, "HTTP/1.1 200 OK\r\n") {
		t.Fatalf("keep-alive after stream end: %q", h)
	}
}

func TestSendValidationOrder(t *testing.T) {
	b := startBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url()})
	f := func(body string, status int, code string) {
		t.Helper()
		got, resp := g.control("/internal/send", body)
		if got != status || !strings.Contains(resp, `"code":"`+code+`"`) {
			t.Fatalf("send %s: %d %s, want %d %s", body, got, resp, status, code)
		}
		if !strings.HasPrefix(resp, `{"error":{"message":"`) {
			t.Fatalf("error shape: %s", resp)
		}
	}
	const tok = `"token":"00000000-0000-4000-8000-000000000000"`
	f(`{}`, 400, "INVALID_TOKEN_MISSING")
	f(`{"token":""}`, 400, "INVALID_TOKEN_MISSING")
	f(`{"token":5}`, 400, "INVALID_TOKEN_MISSING")
	f(`[]`, 400, "INVALID_TOKEN_MISSING")
	f(`{"token":5,"event":null,"close":"x"}`, 400, "INVALID_TOKEN_MISSING") // 1 before 2 and 5
	f(`{`+tok+`,"event":null}`, 400, "INVALID_EVENT_TYPE")
	f(`{`+tok+`,"event":"str"}`, 400, "INVALID_EVENT_TYPE")
	f(`{`+tok+`,"event":5,"close":"x"}`, 400, "INVALID_EVENT_TYPE") // 2 before 5
	f(`{`+tok+`,"event":[]}`, 400, "INVALID_EVENT_DATA_MISSING")
	f(`{`+tok+`,"event":{}}`, 400, "INVALID_EVENT_DATA_MISSING")
	f(`{`+tok+`,"event":{"data":1}}`, 400, "INVALID_EVENT_DATA_MISSING")
	f(`{`+tok+`,"event":{"data":null,"name":5}}`, 400, "INVALID_EVENT_DATA_MISSING") // 3 before 4
	f(`{`+tok+`,"event":{"data":"x","name":5}}`, 400, "INVALID_EVENT_NAME_TYPE")
	f(`{`+tok+`,"event":{"data":"x","name":null}}`, 400, "INVALID_EVENT_NAME_TYPE")
	f(`{`+tok+`,"event":{"data":"x","name":5},"close":"true"}`, 400, "INVALID_EVENT_NAME_TYPE") // 4 before 5
	f(`{`+tok+`,"close":"true"}`, 400, "INVALID_CLOSE_TYPE")
	f(`{`+tok+`,"close":null}`, 400, "INVALID_CLOSE_TYPE")
	f(`{`+tok+`,"event":{"data":"x","name":"a\nb"},"close":1}`, 400, "INVALID_CLOSE_TYPE") // 5 before 6
	f(`{`+tok+`,"event":{"data":"x","name":"a\nb"}}`, 400, "INVALID_EVENT_NAME")
	f(`{`+tok+`,"event":{"data":"x","name":"a\u0000b","id":5}}`, 400, "INVALID_EVENT_NAME") // 6 before 7
	f(`{`+tok+`,"event":{"data":"x","id":5}}`, 400, "INVALID_EVENT_ID")
	f(`{`+tok+`,"event":{"data":"x","id":"a\rb","retry":-1}}`, 400, "INVALID_EVENT_ID") // 7 before 8
	f(`{`+tok+`,"event":{"data":"x","retry":-1}}`, 400, "INVALID_EVENT_RETRY")
	f(`{`+tok+`,"event":{"data":"x","retry":1.5}}`, 400, "INVALID_EVENT_RETRY")
	f(`{`+tok+`,"event":{"data":"x","retry":"10"}}`, 400, "INVALID_EVENT_RETRY")
	f(`{`+tok+`,"event":{"data":"x","retry":10}}`, 404, "TOKEN_NOT_FOUND") // 8 before 9
	f(`{"token":"nope"}`, 404, "TOKEN_NOT_FOUND")
	f(`{"token":`, 400, "INVALID_JSON")
	f(`"str"`, 400, "INVALID_JSON")
	big := `{"token":"` + strings.Repeat("x", 1<<20) + `"}`
	f(big, 413, "PAYLOAD_TOO_LARGE")
}

func TestBufferedSendsReplayInOrderBeforeReady(t *testing.T) {
	b := startBackend(t)
	gate := make(chan struct{})
	b.onConnect(func(callbackRec) reply { return reply{statusLine: "200 OK", body: `{}`, gate: gate} })
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url()})
	c := dial(t, g.PublicAddr())
	c.get("/buffered")
	tok := b.nthConnect(t, 1).Token
	for i := 1; i <= 3; i++ {
		code, resp := g.control("/internal/send", fmt.Sprintf(`{"token":%q,"event":{"name":"n","data":"%d"}}`, tok, i))
		if code != 200 || resp != `{"status":"buffered"}` {
			t.Fatalf("send %d during callback: %d %s", i, code, resp)
		}
	}
	code, resp := g.control("/internal/send", `{"token":"`+tok+`"}`) // a buffered no-op writes nothing
	if code != 200 || resp != `{"status":"buffered"}` {
		t.Fatalf("no-op during callback: %d %s", code, resp)
	}
	close(gate)
	if h := c.head(); h != sseHead {
		t.Fatalf("head %q", h)
	}
	for i := 1; i <= 3; i++ {
		if ev := c.chunk(); ev != fmt.Sprintf("event: n\ndata: %d\n\n", i) {
			t.Fatalf("replayed event %d: %q", i, ev)
		}
	}
	if ev := c.chunk(); ev != "event: ready\ndata:\n\n" {
		t.Fatalf("ready after replay: %q", ev)
	}
}

func TestBufferedCloseDropsLaterItems(t *testing.T) {
	b := startBackend(t)
	gate := make(chan struct{})
	b.onConnect(func(callbackRec) reply { return reply{statusLine: "200 OK", gate: gate} })
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url()})
	c := dial(t, g.PublicAddr())
	c.get("/bc")
	tok := b.nthConnect(t, 1).Token
	for _, body := range []string{`"event":{"data":"first"},"close":true`, `"event":{"data":"dropped"}`} {
		if code, resp := g.control("/internal/send", `{"token":"`+tok+`",`+body+`}`); code != 200 || resp != `{"status":"buffered"}` {
			t.Fatalf("%s: %d %s", body, code, resp)
		}
	}
	close(gate)
	c.head()
	if ev := c.chunk(); ev != "data: first\n\n" {
		t.Fatalf("got %q", ev)
	}
	if ev := c.chunk(); ev != "" {
		t.Fatalf("want end of stream (no ready), got %q", ev)
	}
	waitFor(t, "one server_closed", 5*time.Second, func() bool { return len(b.byToken(tok)) == 2 })
	if r := b.byToken(tok)[1].Reason; r != "server_closed" {
		t.Fatalf("reason %q", r)
	}
}

func TestRejectionCarriesReasonPhrase(t *testing.T) {
	b := startBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url()})
	f := func(statusLine, wantMsg string) {
		t.Helper()
		b.onConnect(func(callbackRec) reply { return reply{statusLine: statusLine, body: `{"ignored":true}`} })
		c := dial(t, g.PublicAddr())
		c.get("/rej")
		if h := c.head(); h != sseHead {
			t.Fatalf("%s: head %q", statusLine, h)
		}
		code := statusLine[:3]
		want := `event: rejected` + "\n" + `data: {"status":` + code + `,"message":"` + wantMsg + `"}` + "\n\n"
		if ev := c.chunk(); ev != want {
			t.Fatalf("%s: got %q want %q", statusLine, ev, want)
		}
		if ev := c.chunk(); ev != "" {
			t.Fatalf("%s: want end of stream, got %q", statusLine, ev)
		}
	}
	f("401 Token Expired", "Token Expired")
	f("403 ", "Forbidden")
	f("400 Bad \"Thing\"", `Bad \"Thing\"`)
	waitFor(t, "no streams", 2*time.Second, func() bool { return g.Loop.Streams() == 0 && g.Loop.Registered() == 0 })
	if n := b.count("disconnect"); n != 0 {
		t.Fatalf("%d disconnects after rejections, want none", n)
	}
}

// TestConnectFailuresMapToStatus: with CONNECT_FAILURE=status a failed connect
// is answered as the Node SSEGateway did; any other non-2xx that is not a
// rejection is passed through as BACKEND_ERROR in either mode (see
// TestConnectFailureRetry for the default).
func TestConnectFailuresMapToStatus(t *testing.T) {
	b := startBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url(), "CALLBACK_TIMEOUT_MS": "300", "CONNECT_FAILURE": "status"})
	f := func(rp reply, wantStatus, wantBody string) {
		t.Helper()
		b.onConnect(func(callbackRec) reply { return rp })
		c := dial(t, g.PublicAddr())
		c.get("/fail")
		h := c.head()
		if !strings.HasPrefix(h, "HTTP/1.1 "+wantStatus+"\r\n") || !strings.Contains(h, "Content-Type: application/json; charset=utf-8\r\n") ||
			!strings.Contains(h, "Access-Control-Allow-Origin: *\r\n") {
			t.Fatalf("head %q, want status %s", h, wantStatus)
		}
		if body := c.body(h); body != wantBody {
			t.Fatalf("body %s, want %s", body, wantBody)
		}
	}
	f(reply{statusLine: "500 Internal Server Error"}, "500 Internal Server Error", `{"error":{"message":"Backend returned 500","code":"BACKEND_ERROR"}}`)
	f(reply{statusLine: "429 Too Many Requests"}, "429 Too Many Requests", `{"error":{"message":"Backend returned 429","code":"BACKEND_ERROR"}}`)
	f(reply{statusLine: "302 Found"}, "302 Found", `{"error":{"message":"Backend returned 302","code":"BACKEND_ERROR"}}`)
	f(reply{statusLine: "200 OK", delay: time.Second}, "504 Gateway Timeout", `{"error":{"message":"Gateway timeout","code":"GATEWAY_TIMEOUT"}}`)
	if n := b.count("disconnect"); n != 0 {
		t.Fatalf("%d disconnects after failed connects", n)
	}
	// Network error: a callback URL nobody listens on.
	g2 := startGateway(t, map[string]string{"CALLBACK_URL": "http://127.0.0.1:1/cb", "CONNECT_FAILURE": "status"})
	c := dial(t, g2.PublicAddr())
	c.get("/x")
	h := c.head()
	if !strings.HasPrefix(h, "HTTP/1.1 503 ") || c.body(h) != `{"error":{"message":"Backend unavailable","code":"BACKEND_UNAVAILABLE"}}` {
		t.Fatalf("unavailable: %q", h)
	}
}

func TestClientLeavesDuringConnectGetsOneDisconnect(t *testing.T) {
	b := startBackend(t)
	gate := make(chan struct{})
	b.onConnect(func(callbackRec) reply { return reply{statusLine: "200 OK", gate: gate} })
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url()})
	c := dial(t, g.PublicAddr())
	c.get("/leaver")
	tok := b.nthConnect(t, 1).Token
	c.conn.Close()
	waitFor(t, "token unregistered", 5*time.Second, func() bool { return g.Loop.Registered() == 0 })
	if code, _ := g.control("/internal/send", `{"token":"`+tok+`","event":{"data":"x"}}`); code != 404 {
		t.Fatalf("send after the client left: %d, want 404", code)
	}
	close(gate)
	waitFor(t, "disconnect after the 2xx", 5*time.Second, func() bool { return len(b.byToken(tok)) == 2 })
	if d := b.byToken(tok)[1]; d.Action != "disconnect" || d.Reason != "client_closed" {
		t.Fatalf("got %+v", d)
	}
	waitFor(t, "pending settled", 2*time.Second, func() bool { return g.Loop.Streams() == 0 })
	time.Sleep(50 * time.Millisecond) // nothing more may come; a second disconnect would show here
	if n := len(b.byToken(tok)); n != 2 {
		t.Fatalf("%d callbacks for the token, want 2", n)
	}
}

func TestExactlyOnceUnderRaces(t *testing.T) {
	b := startBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url()})
	const n = 50
	clients := make([]*client, n)
	tokens := make([]string, n)
	for i := range clients {
		clients[i], tokens[i] = openStream(t, g, b, i+1, fmt.Sprintf("/race/%d", i))
	}
	// Half are closed by one batch while the other half's clients hang up at
	// the same moment, and each of those also gets a racing close command.
	var batch strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&batch, `{"token":%q,"close":true}`+"\n", tokens[i])
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		g.control("/internal/batch", batch.String())
	}()
	go func() {
		defer wg.Done()
		for i := n / 2; i < n; i++ {
			clients[i].conn.Close()
		}
	}()
	wg.Wait()
	waitFor(t, "all disconnects", 5*time.Second, func() bool { return b.count("disconnect") >= n })
	time.Sleep(100 * time.Millisecond)
	for i, tok := range tokens {
		calls := b.byToken(tok)
		if len(calls) != 2 || calls[1].Action != "disconnect" {
			t.Fatalf("stream %d: %d callbacks %+v", i, len(calls), calls)
		}
		if i < n/2 && calls[1].Reason != "server_closed" {
			t.Fatalf("stream %d: reason %q", i, calls[1].Reason)
		}
	}
	for _, c := range clients {
		c.conn.Close()
	}
	assertIdle(t, g)
}

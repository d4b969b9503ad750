package callback

import (
	"encoding/json"
	"testing"
)

func TestAppendPayloadMergesLikeNode(t *testing.T) {
	var e Encoder
	f := func(head, want string) {
		t.Helper()
		got := string(e.AppendPayload(nil, ActionConnect, "", "tok", []byte(head)))
		if got != want {
			t.Fatalf("payload for %q\n got %s\nwant %s", head, got, want)
		}
		if !json.Valid([]byte(got)) {
			t.Fatalf("invalid JSON %s", got)
		}
	}
	const pre = `{"action":"connect","token":"tok","request":{"url":`
	f("GET / HTTP/1.1\r\nHost: h\r\n\r\n", pre+`"/","headers":{"host":"h"}}}`)
	f("GET /a?b=%20 HTTP/1.1\r\nHost: h\r\nHost2: x\r\n\r\n", pre+`"/a?b=%20","headers":{"host":"h","host2":"x"}}}`)
	// Repeats: cookie "; ", set-cookie array, singletons first, others ", ".
	f("GET / HTTP/1.1\r\nHost: h\r\nCookie: a\r\nX: 1\r\nset-cookie: s\r\nReferer: r1\r\nx: 2\r\ncookie: b\r\nREFERER: r2\r\n\r\n",
		pre+`"/","headers":{"host":"h","cookie":"a; b","x":"1, 2","set-cookie":["s"],"referer":"r1"}}}`)
	// Values are trimmed; tabs and quotes are escaped; latin-1 bytes decode as Node does.
	f("GET / HTTP/1.1\r\nHost: h\r\nQ: \t\"q\"\tz \r\nL: \xe9\xff\r\n\r\n", pre+`"/","headers":{"host":"h","q":"\"q\"\tz","l":"éÿ"}}}`)
	// HTTP/1.0 without Host.
	f("GET /x HTTP/1.0\r\n\r\n", pre+`"/x","headers":{}}}`)
	// Disconnect carries the reason after the action.
	got := string(e.AppendPayload(nil, ActionDisconnect, "client_closed", "t", []byte("GET / HTTP/1.0\r\n\r\n")))
	if want := `{"action":"disconnect","reason":"client_closed","token":"t","request":{"url":"/","headers":{}}}`; got != want {
		t.Fatalf("disconnect %s", got)
	}
}

// TestDisconnectCarriesWhatWasKept: with DISCONNECT_REQUEST=url or none the
// request keeps its shape (url a string, headers an object).
func TestDisconnectCarriesWhatWasKept(t *testing.T) {
	var e Encoder
	f := func(kept Request, head, want string) {
		t.Helper()
		j := &Job{Action: ActionDisconnect, Reason: "client_closed", Token: "t", Head: []byte(head), Request: kept}
		got := string(e.appendJob(nil, j))
		if got != want {
			t.Fatalf("kept %d, head %q:\n got %s\nwant %s", kept, head, got, want)
		}
		var v struct {
			Request struct {
				URL     *string            `json:"url"`
				Headers *map[string]string `json:"headers"`
			} `json:"request"`
		}
		if err := json.Unmarshal([]byte(got), &v); err != nil || v.Request.URL == nil || v.Request.Headers == nil {
			t.Fatalf("payload %s: request.url and request.headers must be a string and an object (%v)", got, err)
		}
	}
	const pre = `{"action":"disconnect","reason":"client_closed","token":"t","request":`
	f(RequestFull, "GET /a?b=1 HTTP/1.1\r\nHost: h\r\n\r\n", pre+`{"url":"/a?b=1","headers":{"host":"h"}}}`)
	f(RequestURL, "/a?b=%20&c=\"", pre+`{"url":"/a?b=%20&c=\"","headers":{}}}`)
	f(RequestNone, "", pre+`{"url":"","headers":{}}}`)
}

func TestAppendPayloadAllocatesNothingOnceWarm(t *testing.T) {
	var e Encoder
	head := []byte("GET /s?x=1 HTTP/1.1\r\nHost: h\r\nCookie: a\r\nCookie: b\r\nUser-Agent: u\r\nAccept: text/event-stream\r\n\r\n")
	buf := e.AppendPayload(nil, ActionConnect, "", "tok", head)
	if n := testing.AllocsPerRun(100, func() { buf = e.AppendPayload(buf[:0], ActionConnect, "", "tok", head) }); n != 0 {
		t.Fatalf("%v allocations per payload", n)
	}
}

func BenchmarkAppendPayload(b *testing.B) {
	var e Encoder
	head := []byte("GET /events?channel=x HTTP/1.1\r\nHost: gw.example\r\nConnection: keep-alive\r\nAccept: text/event-stream\r\n" +
		"Cache-Control: no-cache\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0\r\nAccept-Language: en-US,en;q=0.9\r\n" +
		"Cookie: session=abc; theme=dark\r\nOrigin: https://app.example\r\n\r\n")
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = e.AppendPayload(buf[:0], ActionConnect, "", "0b7c6a52-6f45-4f25-8a2f-0c1e0e2f3a4b", head)
	}
}

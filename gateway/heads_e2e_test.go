package gateway_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"ssegw/bench/heads"
	"ssegw/callback"
)

// requestJSON is the raw "request" member of a callback payload.
func requestJSON(t *testing.T, rec callbackRec) string {
	t.Helper()
	var v struct {
		Request json.RawMessage `json:"request"`
	}
	if err := json.Unmarshal(rec.Raw, &v); err != nil {
		t.Fatalf("payload %s: %v", rec.Raw, err)
	}
	return string(v.Request)
}

// wantRequest is what a callback must carry for a head as the client sent
// it, encoded here from those bytes (not from anything the gateway kept).
func wantRequest(head string) string {
	var e callback.Encoder
	return string(e.AppendRequest(nil, []byte(head)))
}

// testHeads are the heads of TestDisconnectCarriesTheHeadAsReceived, stream
// i's target naming i: lines every stream repeats, lines of its own,
// repeated names that merge (cookie "; ", set-cookie an array, singletons
// first, others ", "), odd casing, latin-1 bytes, LF-only line ends, the
// empty line a client may send first, and Chromium heads with their
// per-user cookie values and room.
func testHeads(t *testing.T, n int) []string {
	t.Helper()
	tpl, err := heads.Chromium("gw.example")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(9, 10))
	out := make([]string, n)
	for i := range out {
		u := fmt.Sprintf("%d-%08x", i, rng.Uint32())
		switch i % 6 {
		case 0:
			out[i] = "GET /h?n=" + u + " HTTP/1.1\r\nHost: gw\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n" +
				"User-Agent: Mozilla/5.0 (X11; Linux x86_64) test\r\nAccept-Language: en-GB,en;q=0.9\r\n\r\n"
		case 1:
			out[i] = "GET /h?n=" + u + " HTTP/1.1\r\nHost: gw\r\nCookie: a=1\r\ncOOKie: sid=" + u + "; theme=dark\r\n" +
				"X-Foo: 1\r\nx-foo:  2 \r\nSet-Cookie: s1\r\nset-cookie: s2\r\nUSER-AGENT: first\r\nUser-Agent: second\r\n\r\n"
		case 2:
			out[i] = "GET /h?n=" + u + " HTTP/1.1\r\nHOST: gw\r\nReferer: https://app.example/p/" + u + "?tab=1&x=2\r\n" +
				"Origin: https://app.example\r\nLast-Event-ID: " + u + "\r\nX-Latin: caf\xe9\r\n\r\n"
		case 3:
			out[i] = "\r\nGET /h?n=" + u + " HTTP/1.1\nHost: gw\nAccept: text/event-stream\nCookie: sessionid=" + u + "\n\n"
		case 4:
			out[i] = "GET /h?n=" + u + " HTTP/1.0\r\nX-Unique-" + u + ": v\r\n\r\n"
		default:
			h := string(tpl.Vary(nil, rng))
			out[i] = strings.Replace(h, "/events?room=", "/h?n="+u+"&room=", 1)
		}
	}
	return out
}

// TestDisconnectCarriesTheHeadAsReceived: every stream's disconnect carries
// its request exactly as its connect did, and both match the head the client
// sent, byte for byte, while the loops keep the heads compacted and share
// what the streams repeat. Ends with every head-table piece released.
func TestDisconnectCarriesTheHeadAsReceived(t *testing.T) {
	b := startBackend(t)
	g := startGateway(t, map[string]string{"CALLBACK_URL": b.url()})
	hs := testHeads(t, 120)
	clients := make([]*client, len(hs))
	for i, h := range hs {
		c := dial(t, g.PublicAddr())
		c.send(h)
		if got := c.head(); !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") {
			t.Fatalf("stream %d: %q", i, got)
		}
		clients[i] = c
	}
	waitFor(t, "every connect", 10*time.Second, func() bool { return b.count("connect") == len(hs) })
	if st, err := g.Loop.Stats(); err != nil || st.HeadPieces == 0 {
		t.Fatalf("loop stats %+v, %v: no head piece shared among %d streams", st, err, len(hs))
	}
	checkListing(t, g, hs, false)
	for _, c := range clients {
		c.conn.Close()
	}
	waitFor(t, "every disconnect", 10*time.Second, func() bool { return b.count("disconnect") == len(hs) })
	checkRequests(t, b, hs, func(head string) string { return wantRequest(head) })
	assertIdle(t, g)
}

// checkRequests matches each head to its stream's callbacks (by the n= its
// target carries) and checks the connect carries the whole request and the
// disconnect what want says.
func checkRequests(t *testing.T, b *backend, hs []string, want func(head string) string) {
	t.Helper()
	byN := map[string]string{}
	for _, h := range hs {
		_, rest, _ := strings.Cut(h, "/h?n=")
		n, _, _ := strings.Cut(rest, "-")
		byN[n] = h
	}
	seen := 0
	for _, rec := range b.snapshot() {
		if rec.Action != "connect" {
			continue
		}
		_, rest, _ := strings.Cut(rec.Request.URL, "n=")
		n, _, _ := strings.Cut(rest, "-")
		h, ok := byN[n]
		if !ok {
			t.Fatalf("connect for an unknown stream: %s", rec.Raw)
		}
		if got := requestJSON(t, rec); got != wantRequest(h) {
			t.Fatalf("connect request for head %q\n got %s\nwant %s", h, got, wantRequest(h))
		}
		calls := b.byToken(rec.Token)
		if len(calls) != 2 || calls[1].Action != "disconnect" {
			t.Fatalf("stream %s: callbacks %d, want connect then one disconnect", n, len(calls))
		}
		if got := requestJSON(t, calls[1]); got != want(h) {
			t.Fatalf("disconnect request for head %q\n got %s\nwant %s", h, got, want(h))
		}
		seen++
	}
	if seen != len(hs) {
		t.Fatalf("%d streams checked, want %d", seen, len(hs))
	}
}

// TestDisconnectRequestSetting: DISCONNECT_REQUEST=url keeps the
// request-target only (the disconnect carries {"url":<target>,"headers":{}}),
// none keeps nothing ({"url":"","headers":{}}); the connect carries the whole
// request either way. Covered for streams that end normally and for one
// whose client left while its connect was pending (its head was never
// compacted).
func TestDisconnectRequestSetting(t *testing.T) {
	for _, mode := range []string{"url", "none"} {
		t.Run(mode, func(t *testing.T) {
			b := startBackend(t)
			g := startGateway(t, map[string]string{"CALLBACK_URL": b.url(), "DISCONNECT_REQUEST": mode})
			hs := testHeads(t, 24)
			want := func(head string) string {
				if mode == "none" {
					return `{"url":"","headers":{}}`
				}
				var url strings.Builder
				enc := json.NewEncoder(&url)
				enc.SetEscapeHTML(false) // as JSON.stringify
				_ = enc.Encode(targetOf(head))
				return `{"url":` + strings.TrimSpace(url.String()) + `,"headers":{}}`
			}
			// The last stream's connect is held until its client has left.
			gate := make(chan struct{})
			last := hs[len(hs)-1]
			b.onConnect(func(rec callbackRec) reply {
				if strings.Contains(last, rec.Request.URL+" ") {
					return reply{statusLine: "200 OK", body: `{}`, gate: gate}
				}
				return reply{statusLine: "200 OK", body: `{}`}
			})
			var clients []*client
			for _, h := range hs[:len(hs)-1] {
				c := dial(t, g.PublicAddr())
				c.send(h)
				if got := c.head(); !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") {
					t.Fatalf("stream: %q", got)
				}
				clients = append(clients, c)
			}
			checkListing(t, g, hs[:len(hs)-1], mode == "none")
			pend := dial(t, g.PublicAddr())
			pend.send(last)
			waitFor(t, "every connect", 10*time.Second, func() bool { return b.count("connect") == len(hs) })
			pend.conn.Close()
			waitFor(t, "the pending stream's client gone", 5*time.Second, func() bool {
				st, err := g.Loop.Stats()
				return err == nil && st.Conns == int64(len(clients))
			})
			close(gate)
			for _, c := range clients {
				c.conn.Close()
			}
			waitFor(t, "every disconnect", 10*time.Second, func() bool { return b.count("disconnect") == len(hs) })
			checkRequests(t, b, hs, want)
			assertIdle(t, g)
		})
	}
}

// checkListing: /internal/streams names each open stream's url from what
// its loop keeps ("" when it keeps nothing, DISCONNECT_REQUEST=none).
func checkListing(t *testing.T, g *gw, hs []string, none bool) {
	t.Helper()
	want := map[string]int{}
	for _, h := range hs {
		u := targetOf(h)
		if none {
			u = ""
		}
		want[u]++
	}
	var lines []streamLine
	waitFor(t, "every stream ready in the listing", 10*time.Second, func() bool {
		_, _, lines = listStreams(t, g.ControlAddr(), "")
		ready := 0
		for _, l := range lines {
			if l.State == "ready" {
				ready++
			}
		}
		return ready == len(hs)
	})
	for _, l := range lines {
		want[l.URL]--
	}
	for u, n := range want {
		if n != 0 {
			t.Fatalf("listing: url %q %d times more than the streams opened (none: %v)", u, -n, none)
		}
	}
}

// targetOf is the request-target of a head: the second word of its request
// line (after a leading empty line).
func targetOf(head string) string {
	line, _, _ := strings.Cut(strings.TrimPrefix(head, "\r\n"), "\n")
	f := strings.Fields(line)
	return f[1]
}

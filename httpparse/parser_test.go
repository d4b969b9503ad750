package httpparse

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// result is everything a test compares after a parse, rendered comparable.
type result struct {
	n         int
	err       error
	method    string
	target    string
	version   Version
	headers   string // "Name: value" lines joined by "\n"
	keepAlive bool
	cl        int64
	chunked   bool
}

func (r result) String() string {
	return fmt.Sprintf("n=%d err=%v %s %s %v keepAlive=%v cl=%d chunked=%v headers=%q",
		r.n, r.err, r.method, r.target, r.version, r.keepAlive, r.cl, r.chunked, r.headers)
}

// snapshot renders the parser's outcome for buf.
func snapshot(p *Parser, buf []byte, n int, err error) result {
	if n == 0 {
		return result{err: err}
	}
	r := p.Request()
	var hs []string
	for name, value := range r.All(buf) {
		hs = append(hs, string(name)+": "+string(value))
	}
	return result{
		n: n, method: string(r.Method.In(buf)), target: string(r.Target.In(buf)), version: r.Version,
		headers: strings.Join(hs, "\n"), keepAlive: r.KeepAlive, cl: r.ContentLength, chunked: r.Chunked,
	}
}

// parseWhole parses buf in one call.
func parseWhole(buf []byte, l Limits) result {
	var p Parser
	p.Reset(l)
	n, err := p.Parse(buf)
	return snapshot(&p, buf, n, err)
}

// parseBytewise feeds buf one more byte per call, as a slow client would.
func parseBytewise(buf []byte, l Limits) result {
	var p Parser
	p.Reset(l)
	for i := 1; i <= len(buf); i++ {
		n, err := p.Parse(buf[:i])
		if n > 0 || err != nil {
			return snapshot(&p, buf[:i], n, err)
		}
	}
	return result{}
}

// want describes an accepted head. Zero fields take the defaults of a plain
// HTTP/1.1 GET: method GET, target "/", keep-alive, no body, n == len(raw).
type want struct {
	method, target string
	version        Version
	headers        []string
	close          bool
	n              int
	cl             *int64 // nil: absent
	chunked        bool
}

func (w want) result(raw string) result {
	r := result{
		n: w.n, method: w.method, target: w.target, version: w.version,
		headers: strings.Join(w.headers, "\n"), keepAlive: !w.close, chunked: w.chunked,
	}
	if r.n == 0 {
		r.n = len(raw)
	}
	if r.method == "" {
		r.method = "GET"
	}
	if r.target == "" {
		r.target = "/"
	}
	if r.version == 0 {
		r.version = HTTP11
	}
	r.cl = -1
	if w.cl != nil {
		r.cl = *w.cl
	}
	return r
}

func i64(n int64) *int64 { return &n }

func TestParseSuccess(t *testing.T) {
	f := func(raw string, w want) {
		t.Helper()
		exp := w.result(raw)
		if got := parseWhole([]byte(raw), Limits{}); got != exp {
			t.Fatalf("%q whole:\n got %v\nwant %v", raw, got, exp)
		}
		if got := parseBytewise([]byte(raw), Limits{}); got != exp {
			t.Fatalf("%q byte by byte:\n got %v\nwant %v", raw, got, exp)
		}
	}
	h := func(hs ...string) []string { return hs }

	// Basic shapes (llhttp method.md/uri.md, Go reqTests).
	f("GET / HTTP/1.1\r\nHost: a\r\n\r\n", want{headers: h("Host: a")})
	f("HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n", want{method: "HEAD", target: "/x", headers: h("Host: a")})
	f("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", want{method: "OPTIONS", target: "*", headers: h("Host: a")})
	f("OPTIONS /cors HTTP/1.1\r\nHost: a\r\n\r\n", want{method: "OPTIONS", target: "/cors", headers: h("Host: a")})
	f("MKCOL /a HTTP/1.1\r\nHost: a\r\n\r\n", want{method: "MKCOL", target: "/a", headers: h("Host: a")})
	f("get / HTTP/1.1\r\nHost: a\r\n\r\n", want{method: "get", headers: h("Host: a")})
	f("M-SEARCH / HTTP/1.1\r\nHost: a\r\n\r\n", want{method: "M-SEARCH", headers: h("Host: a")})
	f("PURGE /cache HTTP/1.1\r\nHost: a\r\n\r\n", want{method: "PURGE", target: "/cache", headers: h("Host: a")})
	f("GET /events?topic=a&b=%20c HTTP/1.1\r\nHost: a\r\n\r\n", want{target: "/events?topic=a&b=%20c", headers: h("Host: a")})
	f("GET /%E2%82%AC HTTP/1.1\r\nHost: a\r\n\r\n", want{target: "/%E2%82%AC", headers: h("Host: a")})
	f("GET /q?100% HTTP/1.1\r\nHost: a\r\n\r\n", want{target: "/q?100%", headers: h("Host: a")})
	f("GET /a{b}|c^d HTTP/1.1\r\nHost: a\r\n\r\n", want{target: "/a{b}|c^d", headers: h("Host: a")})
	f("GET //double HTTP/1.1\r\nHost: a\r\n\r\n", want{target: "//double", headers: h("Host: a")})
	f("GET http://example.com/x?y HTTP/1.1\r\nHost: a\r\n\r\n", want{target: "http://example.com/x?y", headers: h("Host: a")})
	f("GET http://example.com:8080 HTTP/1.1\r\nHost: a\r\n\r\n", want{target: "http://example.com:8080", headers: h("Host: a")})
	f("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
		want{method: "CONNECT", target: "example.com:443", headers: h("Host: example.com:443")})
	f("GET / HTTP/1.0\r\n\r\n", want{version: HTTP10, close: true})

	// Header values: OWS trimmed, inner whitespace and obs-text kept, empty values.
	f("GET / HTTP/1.1\r\nHost:a\r\n\r\n", want{headers: h("Host: a")})
	f("GET / HTTP/1.1\r\nHost: \t a \t \r\n\r\n", want{headers: h("Host: a")})
	f("GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Blank:   \r\n\r\n", want{headers: h("Host: a", "X-Empty: ", "X-Blank: ")})
	f("GET / HTTP/1.1\r\nHost: a\r\nFoo: a space\r\n\r\n", want{headers: h("Host: a", "Foo: a space")})
	f("GET / HTTP/1.1\r\nHost: a\r\nFoo: foo\xffbar\r\n\r\n", want{headers: h("Host: a", "Foo: foo\xffbar")})
	f("GET / HTTP/1.1\r\nHost: a\r\nFoo: x\ty\r\n\r\n", want{headers: h("Host: a", "Foo: x\ty")})
	f("GET / HTTP/1.1\r\nHost: a\r\nX-Odd!#$%&'*+-.^_`|~: 1\r\n\r\n", want{headers: h("Host: a", "X-Odd!#$%&'*+-.^_`|~: 1")})
	f("GET / HTTP/1.1\r\nhOsT: a\r\nFoo: 1\r\nfoo: 2\r\n\r\n", want{headers: h("hOsT: a", "Foo: 1", "foo: 2")})
	f("GET / HTTP/1.1\r\nHost: a\r\nX: :colon: in value\r\n\r\n", want{headers: h("Host: a", "X: :colon: in value")})
	f("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", want{headers: h("Host: [::1]:8080")})
	f("GET / HTTP/1.1\r\nHost:\r\n\r\n", want{headers: h("Host: ")})

	// Keep-alive (llhttp connection.md, Go shouldClose).
	f("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", want{headers: h("Host: a", "Connection: close"), close: true})
	f("GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n", want{headers: h("Host: a", "Connection: CLOSE"), close: true})
	f("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, close\r\n\r\n", want{headers: h("Host: a", "Connection: Upgrade, close"), close: true})
	f("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\nConnection: x ,\tclose \r\n\r\n",
		want{headers: h("Host: a", "Connection: keep-alive", "Connection: x ,\tclose"), close: true})
	f("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", want{headers: h("Host: a", "Connection: closed")})
	f("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", want{headers: h("Host: a", "Connection: keep-alive")})
	f("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", want{version: HTTP10, headers: h("Connection: keep-alive")})
	f("GET / HTTP/1.0\r\nConnection: Keep-Alive, close\r\n\r\n", want{version: HTTP10, headers: h("Connection: Keep-Alive, close"), close: true})
	f("GET / HTTP/1.0\r\nHost: a\r\n\r\n", want{version: HTTP10, headers: h("Host: a"), close: true})

	// Framing facts (llhttp content-length.md, transfer-encoding.md).
	f("PUT /url HTTP/1.1\r\nHost: a\r\nContent-Length: 003\r\n\r\nabc", want{method: "PUT", target: "/url",
		headers: h("Host: a", "Content-Length: 003"), cl: i64(3), n: 51})
	f("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  42 \r\n\r\n", want{method: "POST",
		headers: h("Host: a", "Content-Length: 42"), cl: i64(42)})
	f("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", want{method: "POST",
		headers: h("Host: a", "Content-Length: 5", "content-length: 5"), cl: i64(5)})
	f("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", want{headers: h("Host: a", "Content-Length: 0"), cl: i64(0)})
	f("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n", want{method: "POST",
		headers: h("Host: a", "Content-Length: 9223372036854775807"), cl: i64(9223372036854775807)})
	f("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", want{method: "POST",
		headers: h("Host: a", "Transfer-Encoding: chunked"), chunked: true})
	f("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n", want{method: "POST",
		headers: h("Host: a", "Transfer-Encoding: CHUNKED"), chunked: true})
	f("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\n\r\nhello", want{method: "POST",
		headers: h("Host: a", "Content-Length: 005"), cl: i64(5), n: 49})
	f("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \tchunked \r\n\r\n", want{method: "POST",
		headers: h("Host: a", "Transfer-Encoding: chunked"), chunked: true})
	f("GET / HTTP/1.0\r\nconTENT-Length: 5\r\n\r\nHELLO", want{version: HTTP10, close: true,
		headers: h("conTENT-Length: 5"), cl: i64(5), n: 37})

	// Line endings: one leading empty line, lone LF anywhere.
	f("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", want{headers: h("Host: a")})
	f("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", want{headers: h("Host: a")})
	f("GET / HTTP/1.1\nHost: a\n\n", want{headers: h("Host: a")})
	f("GET / HTTP/1.1\r\nHost: a\nFoo: b\r\n\n", want{headers: h("Host: a", "Foo: b")})
	f("GET / HTTP/1.1\r\nHost: localhost\r\nDummy: x\nContent-Length: 23\r\n\r\n",
		want{headers: h("Host: localhost", "Dummy: x", "Content-Length: 23"), cl: i64(23)})

	// Only the head is consumed: a pipelined request or body bytes follow.
	f("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\n", want{headers: h("Host: a"), n: 27})
}

func TestParseError(t *testing.T) {
	f := func(raw string, wantErr *Error) {
		t.Helper()
		for _, got := range []result{parseWhole([]byte(raw), Limits{}), parseBytewise([]byte(raw), Limits{})} {
			if !errors.Is(got.err, wantErr) || Status(got.err) != wantErr.Status() {
				t.Fatalf("%q: got %v (status %d), want %v (status %d)", raw, got, Status(got.err), wantErr, wantErr.Status())
			}
		}
	}

	// Request line (llhttp invalid.md, method.md, uri.md; Go badRequestTests).
	f("GET /music/sweet/music ICE/1.0\r\nHost: a\r\n\r\n", ErrBadVersion)
	f("GET /music/sweet/music IHTTP/1.0\r\nHost: a\r\n\r\n", ErrBadVersion)
	f("PUT /music/sweet/music RTSP/1.0\r\nHost: a\r\n\r\n", ErrBadVersion)
	f("GET / HTTP/5.6\r\n\r\n", ErrUnsupportedVersion)
	f("GET / HTTP/2.0\r\n\r\n", ErrUnsupportedVersion)
	f("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", ErrInvalidTarget)
	f("GET / HTTP/1.2\r\nHost: a\r\n\r\n", ErrUnsupportedVersion)
	f("GET / HTTP/0.9\r\n\r\n", ErrUnsupportedVersion)
	f("GET / HTTP/1.10\r\n\r\n", ErrBadVersion)
	f("GET / HTTP/01.1\r\n\r\n", ErrBadVersion)
	f("GET / http/1.1\r\nHost: a\r\n\r\n", ErrBadVersion)
	f("GET / HTTP/1\r\nHost: a\r\n\r\n", ErrBadVersion)
	f("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", ErrMalformedRequestLine)
	f("GET /\r\n\r\n", ErrMalformedRequestLine)
	f("GET\r\n\r\n", ErrMalformedRequestLine)
	f("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformedRequestLine)
	f("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformedRequestLine)
	f("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", ErrInvalidMethod)
	f(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", ErrInvalidMethod)
	f("G@T / HTTP/1.1\r\nHost: a\r\n\r\n", ErrInvalidMethod)
	f("GE\x00T / HTTP/1.1\r\nHost: a\r\n\r\n", ErrControlByte)
	f("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformedRequestLine)
	f("\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformedRequestLine)
	f("\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", ErrBareCR)
	f("GET / HTTP/1.1\rHost: a\r\n\r\n", ErrBareCR)
	f("GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", ErrBareCR)

	// Request-target (llhttp uri.md strict mode, RFC 9112 §3.2).
	f("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", ErrMalformedRequestLine)
	f("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", ErrInvalidTarget)
	f("GET /\x80 HTTP/1.1\r\nHost: a\r\n\r\n", ErrInvalidTarget)
	f("GET /a\x00b HTTP/1.1\r\nHost: a\r\n\r\n", ErrControlByte)
	f("GET /a\x7fb HTTP/1.1\r\nHost: a\r\n\r\n", ErrControlByte)
	f("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", ErrInvalidTarget)
	f("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", ErrInvalidTarget)
	f("GET /%zz HTTP/1.1\r\nHost: a\r\n\r\n", ErrInvalidTarget)
	f("GET /%4 HTTP/1.1\r\nHost: a\r\n\r\n", ErrInvalidTarget)
	f("GET * HTTP/1.1\r\nHost: a\r\n\r\n", ErrInvalidTarget)
	f("GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", ErrInvalidTarget)
	f("GET http://user@host/ HTTP/1.1\r\nHost: a\r\n\r\n", ErrInvalidTarget)
	f("GET http:/x HTTP/1.1\r\nHost: a\r\n\r\n", ErrInvalidTarget)
	f("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", ErrInvalidTarget)
	f("GET http://h:8x/ HTTP/1.1\r\nHost: a\r\n\r\n", ErrInvalidTarget)
	f("CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n", ErrInvalidTarget)
	f("CONNECT example.com:443/x HTTP/1.1\r\nHost: a\r\n\r\n", ErrInvalidTarget)

	// Header lines (llhttp invalid.md; Go TestServerValidatesHeaders; RFC 9112 §5).
	f("GET / HTTP/1.1\r\nHost: a\r\nFoo : bar\r\n\r\n", ErrSpaceBeforeColon)
	f("GET / HTTP/1.1\r\nHost: a\r\nFoo\t: bar\r\n\r\n", ErrSpaceBeforeColon)
	f("GET / HTTP/1.1\r\nHost: a\r\nA space: foo\r\n\r\n", ErrSpaceBeforeColon)
	f("GET / HTTP/1.1\r\nHost: a\r\nfoo\xffbar: foo\r\n\r\n", ErrInvalidHeaderName)
	f("GET / HTTP/1.1\r\nHost: a\r\nfoo\x00bar: foo\r\n\r\n", ErrControlByte)
	f("GET / HTTP/1.1\r\nHost: a\r\nFoo: \x00\r\n\r\n", ErrControlByte)
	f("GET / HTTP/1.1\r\nHost: a\r\nFoo: x\x7fy\r\n\r\n", ErrControlByte)
	f("GET / HTTP/1.1\r\nHost: a\r\nFoo: x\x01y\r\n\r\n", ErrControlByte)
	f("GET / HTTP/1.1\r\nHost: a\r\nFoo: x\x0cy\r\n\r\n", ErrControlByte)
	f("GET / HTTP/1.1\r\nFo@: Failure\r\n\r\n", ErrInvalidHeaderName)
	f("GET / HTTP/1.1\r\nFoo\x01\test: Bar\r\n\r\n", ErrControlByte)
	f("GET / HTTP/1.1\r\n: Bar\r\n\r\n", ErrMalformedHeader)
	f("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", ErrMalformedHeader)
	f("GET / HTTP/1.1\r\nname\r\n : value\r\n\r\n", ErrMalformedHeader)
	f("GET / HTTP/1.1\r\nHost: www.example.com\r\nConnection\r\x1b5\xd5eep-Alive\r\n\r\n", ErrMalformedHeader)
	f("GET / HTTP/1.1\r\nHost: a\r\nX-Some-Header\r\x1b5\xd5eep-Alive\r\n\r\n", ErrMalformedHeader)
	f("GET / HTTP/1.1\r\nFoo: 1\rBar: 2\r\n\r\n", ErrBareCR)
	f("POST / HTTP/1.1\r\nHost: a\r\nx:\rTransfer-Encoding: chunked\r\n\r\n", ErrBareCR)
	f("GET / HTTP/1.1\r\nConnection: close\r\nHost: a\r\n\rZGET /evil: HTTP/1.1\r\nHost: a\r\n\r\n", ErrBareCR)
	f("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", ErrBareCR)
	f("GET / HTTP/1.1\r\n Host: foo\r\n\r\n", ErrObsFold)
	f("GET / HTTP/1.1\r\nHost: a\r\nFoo: bar\r\n baz\r\n\r\n", ErrObsFold)
	f("POST /hello HTTP/1.1\r\nHost: localhost\r\nFoo: bar\r\n Content-Length: 38\r\n\r\n", ErrObsFold)
	f("GET / HTTP/1.1\r\nHost: a\r\nFoo: bar\r\n\tbaz\r\n\r\n", ErrObsFold)

	// Host (RFC 9112 §3.2; Go TestServerValidatesHostHeader).
	f("GET / HTTP/1.1\r\n\r\n", ErrMissingHost)
	f("GET / HTTP/1.1\r\nFoo: bar\r\n\r\n", ErrMissingHost)
	f("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", ErrDuplicateHost)
	f("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", ErrDuplicateHost)
	f("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", ErrInvalidHost)
	f("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", ErrInvalidHost)
	f("GET / HTTP/1.1\r\nHost: \xc3\xa9\r\n\r\n", ErrInvalidHost)
	f("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", ErrDuplicateHost)

	// Framing and smuggling shapes (llhttp content-length.md/transfer-encoding.md,
	// Go smuggle_* cases, RFC 9112 §6.3, Http11Probe SmugglingSuite).
	f("PUT /url HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000000000000000000\r\n\r\n", ErrInvalidContentLength)
	f("PUT /url HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", ErrInvalidContentLength)
	f("PUT /url HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", ErrDuplicateContentLength)
	f("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 03\r\n\r\n", ErrDuplicateContentLength)
	f("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4 2\r\n\r\n", ErrInvalidContentLength)
	f("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 13 37\r\n\r\n", ErrInvalidContentLength)
	f("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", ErrInvalidContentLength)
	f("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", ErrInvalidContentLength)
	f("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", ErrInvalidContentLength)
	f("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", ErrInvalidContentLength)
	f("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", ErrInvalidContentLength)
	f("PUT /url HTTP/1.1\r\nHost: a\r\nContent\rLength: 003\r\n\r\nabc", ErrMalformedHeader)
	f("PUT /url HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: identity\r\n\r\n", ErrUnsupportedTransferEncoding)
	f("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", ErrContentLengthWithTE)
	f("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", ErrContentLengthWithTE)
	f("POST /first HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\nContent-Length: 5\r\n\r\n", ErrUnsupportedTransferEncoding)
	f("PUT /url HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: pigeons\r\n\r\n", ErrUnsupportedTransferEncoding)
	f("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n", ErrUnsupportedTransferEncoding)
	f("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", ErrUnsupportedTransferEncoding)
	f("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", ErrUnsupportedTransferEncoding)
	f("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", ErrUnsupportedTransferEncoding)
	f("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", ErrSpaceBeforeColon)
	f("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\x0bchunked\r\n\r\n", ErrControlByte)
	f("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\x00\r\n\r\n", ErrControlByte)
	f("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n chunked\r\n\r\n", ErrUnsupportedTransferEncoding)
	f("POST / HTTP/1.1\r\nHost: a\r\nX-Folded:\r\n chunked\r\n\r\n", ErrObsFold)
	f("POST / HTTP/1.1\r\nHost: a\r\nX: y\rTransfer-Encoding: chunked\r\n\r\n", ErrBareCR)
	f("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", ErrTransferEncodingHTTP10)
	f("POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nhello", ErrTransferEncodingHTTP10)
	f("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", ErrUnsupportedTransferEncoding)
	f("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: , chunked\r\n\r\n", ErrUnsupportedTransferEncoding)
	f("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", ErrUnsupportedTransferEncoding)
	f("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", ErrUnsupportedTransferEncoding)
	f("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\nContent-Length: 5\r\n\r\nhello", ErrContentLengthWithTE)
	f("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked \r\nContent-Length: 5\r\n\r\nhello", ErrContentLengthWithTE)
	f("POST / HTTP/1.1\r\nHost: a\r\nTransfer_Encoding: chunked\r\nContent-Length: 5, 10\r\n\r\n", ErrInvalidContentLength)
	f("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0o5\r\n\r\nhello", ErrInvalidContentLength)
	f("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX-Test: val\rue\r\n\r\nhello", ErrBareCR)
}

func TestParseLimits(t *testing.T) {
	f := func(raw string, l Limits, wantErr *Error) {
		t.Helper()
		var want error // a nil *Error must compare equal to a nil error
		if wantErr != nil {
			want = wantErr
		}
		for _, got := range []result{parseWhole([]byte(raw), l), parseBytewise([]byte(raw), l)} {
			if got.err != want || (want == nil && got.n != len(raw)) {
				t.Fatalf("%d-byte head, limits %+v: got n=%d err=%v, want %v", len(raw), l, got.n, got.err, want)
			}
		}
	}
	head := func(target string, headers int, pad int) string {
		var sb strings.Builder
		sb.WriteString("GET " + target + " HTTP/1.1\r\nHost: a\r\n")
		for i := range headers - 1 {
			fmt.Fprintf(&sb, "X-%d: v\r\n", i)
		}
		if pad > 0 {
			sb.WriteString("X-Pad: " + strings.Repeat("p", pad) + "\r\n")
		}
		sb.WriteString("\r\n")
		return sb.String()
	}
	at := func(n int) string { // a head of exactly n bytes
		base := head("/", 1, 1)
		return head("/", 1, n-len(base)+1)
	}
	long := "/" + strings.Repeat("t", DefaultMaxTargetBytes-1)

	f(head(long, 1, 0), Limits{}, nil)
	f(head(long+"t", 1, 0), Limits{}, ErrTargetTooLong)
	f(head(long+"?", 1, 0), Limits{}, ErrTargetTooLong)
	f(head("/abc", 1, 0), Limits{MaxTargetBytes: 4}, nil)
	f(head("/abcd", 1, 0), Limits{MaxTargetBytes: 4}, ErrTargetTooLong)
	f(head("/", DefaultMaxHeaders, 0), Limits{}, nil)
	f(head("/", DefaultMaxHeaders+1, 0), Limits{}, ErrTooManyHeaders)
	f(head("/", 3, 0), Limits{MaxHeaders: 3}, nil)
	f(head("/", 4, 0), Limits{MaxHeaders: 3}, ErrTooManyHeaders)
	f(head("/", 250, 0), Limits{MaxHeaders: 250}, nil)
	f(head("/", 251, 0), Limits{MaxHeaders: 250, MaxHeadBytes: 1 << 20}, ErrTooManyHeaders)
	f(at(DefaultMaxHeadBytes), Limits{}, nil)
	f(at(DefaultMaxHeadBytes+1), Limits{}, ErrHeadTooLarge)
	f(at(100), Limits{MaxHeadBytes: 100}, nil)
	f(at(101), Limits{MaxHeadBytes: 100}, ErrHeadTooLarge)
	f("GET / HTTP/1.1\r\nFoo: "+strings.Repeat("x", 1<<21)+"\r\n\r\n", Limits{}, ErrHeadTooLarge)
	f(strings.Repeat("G", DefaultMaxHeadBytes+1), Limits{}, ErrHeadTooLarge)
}

func TestPipelining(t *testing.T) {
	// llhttp pipelining.md: requests back to back in one read are parsed in
	// order, each after a Reset, starting at the previous HeadLen.
	buf := []byte("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n" +
		"\r\nHEAD /2 HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n" +
		"GET /3 HTTP/1.0\r\n\r\n")
	f := func(buf []byte, method, target string, keepAlive bool) int {
		t.Helper()
		var p Parser
		p.Reset(Limits{})
		n, err := p.Parse(buf)
		r := p.Request()
		if err != nil || n == 0 || !r.IsMethod(buf, method) || string(r.Target.In(buf)) != target || r.KeepAlive != keepAlive {
			t.Fatalf("%q: n=%d err=%v %s %s keepAlive=%v", buf, n, err, r.Method.In(buf), r.Target.In(buf), r.KeepAlive)
		}
		return n
	}
	off := f(buf, "GET", "/1", true)
	off += f(buf[off:], "HEAD", "/2", false)
	off += f(buf[off:], "GET", "/3", false)
	if off != len(buf) {
		t.Fatalf("consumed %d of %d bytes", off, len(buf))
	}
}

func TestParseResumes(t *testing.T) {
	// After the head completes or fails, Parse repeats its answer until Reset.
	var p Parser
	buf := []byte("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	for range 2 {
		if n, err := p.Parse(buf); n != len(buf) || err != nil {
			t.Fatalf("n=%d err=%v", n, err)
		}
	}
	p.Reset(Limits{})
	for range 2 {
		if n, err := p.Parse([]byte("GET / HTTP/1.1\r\nHost: a b\r\n")); n != 0 || err != ErrInvalidHost {
			t.Fatalf("n=%d err=%v", n, err)
		}
	}
	p.Reset(Limits{})
	if n, err := p.Parse([]byte("GET / HTTP/1.1\r\nHost: a\r\n")); n != 0 || err != nil {
		t.Fatalf("partial head: n=%d err=%v", n, err)
	}
}

func TestHelpers(t *testing.T) {
	buf := []byte("GET /s HTTP/1.1\r\nhost: example.com\r\nLast-Event-ID: 42\r\nlast-event-id: 43\r\nX-Empty:\r\n\r\n")
	var p Parser
	if _, err := p.Parse(buf); err != nil {
		t.Fatal(err)
	}
	r := p.Request()
	if got := string(r.Host(buf)); got != "example.com" {
		t.Fatalf("Host = %q", got)
	}
	if got := string(r.LastEventID(buf)); got != "42" {
		t.Fatalf("LastEventID = %q", got)
	}
	if v, ok := r.Lookup(buf, "X-EMPTY"); !ok || v.Len != 0 {
		t.Fatalf("Lookup(X-EMPTY) = %v, %v", v, ok)
	}
	if _, ok := r.Lookup(buf, "Cookie"); ok {
		t.Fatal("Lookup(Cookie) found a header")
	}
	if !r.IsMethod(buf, "GET") || r.IsMethod(buf, "get") {
		t.Fatal("IsMethod is not an exact comparison")
	}
	if r.NumHeaders() != 4 || string(r.Header(3).Name.In(buf)) != "X-Empty" {
		t.Fatalf("headers: %d", r.NumHeaders())
	}

	buf = []byte("GET / HTTP/1.0\r\n\r\n")
	p.Reset(Limits{})
	if _, err := p.Parse(buf); err != nil {
		t.Fatal(err)
	}
	if p.Request().Host(buf) != nil || p.Request().LastEventID(buf) != nil {
		t.Fatal("absent headers must be nil")
	}
}

func TestStatus(t *testing.T) {
	f := func(err error, want int) {
		t.Helper()
		if got := Status(err); got != want {
			t.Fatalf("Status(%v) = %d, want %d", err, got, want)
		}
	}
	f(nil, 0)
	f(ErrMalformedRequestLine, 400)
	f(ErrObsFold, 400)
	f(ErrTargetTooLong, 414)
	f(ErrHeadTooLarge, 431)
	f(ErrTooManyHeaders, 431)
	f(ErrUnsupportedVersion, 505)
	f(fmt.Errorf("wrapped: %w", ErrMissingHost), 400)
	f(errors.New("foreign"), 500)
}

func TestSplitFeedingAllocatesNothing(t *testing.T) {
	buf := []byte(browserHead)
	var p Parser
	allocs := testing.AllocsPerRun(20, func() {
		p.Reset(Limits{})
		for i := 1; i <= len(buf); i += 7 {
			p.Parse(buf[:i])
		}
		if n, err := p.Parse(buf); n != len(buf) || err != nil {
			t.Fatal(n, err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per split parse", allocs)
	}
}

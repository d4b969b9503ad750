package httpparse

import (
	"bufio"
	"bytes"
	"net/http"
	"net/textproto"
	"testing"
)

// fuzzSeeds are the starting points of every fuzz target: a browser head,
// the edges of each rule, and the smuggling shapes.
var fuzzSeeds = []string{
	browserHead,
	"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
	"\r\nGET /x?y=%41 HTTP/1.1\nHost: a:1\nConnection: close\n\n",
	"GET / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello",
	"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
	"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
	"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
	"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
	"GET http://h:80/p?q HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nFoo: bar\r\n baz\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nFoo : bar\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nFoo: b\rar\r\n\r\n",
	"GET / HTTP/2.0\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: a\r\nLast-Event-ID: 42\r\nPragma: no-cache\r\n\r\nGET / HTTP/1.1\r\n",
}

// fuzzLimits are small so that the fuzzer reaches every limit quickly.
var fuzzLimits = Limits{MaxHeadBytes: 1024, MaxHeaders: 12, MaxTargetBytes: 128}

func addSeeds(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
}

// FuzzSplit checks that the outcome does not depend on how the bytes arrive:
// whole, in two parts at every split point, or one byte at a time.
func FuzzSplit(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		want := parseWhole(data, fuzzLimits)
		if got := parseBytewise(data, fuzzLimits); got != want {
			t.Fatalf("byte by byte:\n got %v\nwant %v", got, want)
		}
		for k := 1; k < len(data) && k <= fuzzLimits.MaxHeadBytes; k++ {
			var p Parser
			p.Reset(fuzzLimits)
			n, err := p.Parse(data[:k])
			if n == 0 && err == nil {
				n, err = p.Parse(data)
			}
			if got := snapshot(&p, data, n, err); got != want {
				t.Fatalf("split at %d:\n got %v\nwant %v", k, got, want)
			}
		}
	})
}

// FuzzDifferential checks that whatever the parser accepts, net/http accepts
// too and reads the same method, target, version, headers and framing.
func FuzzDifferential(f *testing.F) {
	addSeeds(f)
	f.Fuzz(checkDifferential)
}

func checkDifferential(t *testing.T, data []byte) {
	t.Helper()
	var p Parser
	n, err := p.Parse(data)
	if err != nil || n == 0 {
		return
	}
	r := p.Request()
	// ReadRequest does not skip the empty line before the request line.
	head := data[r.Method.Off:n]
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		t.Fatalf("%q: net/http refused what we accepted: %v", data, err)
	}
	compareWithNetHTTP(t, data, r, req)
}

// TestMutations applies the http-garden "meaningful byte" mutators (insert or
// replace one byte at every position of every short seed) and checks each
// result against net/http and for split invariance, so the interesting
// neighbours of every seed are covered on each plain `go test`.
func TestMutations(t *testing.T) {
	meaningful := []byte("\r\n\x00\t :;,%#?@[/\x7f\x80\xff")
	for _, seed := range fuzzSeeds[1:] {
		for i := range len(seed) + 1 {
			for _, c := range meaningful {
				inserted := seed[:i] + string(c) + seed[i:]
				checkDifferential(t, []byte(inserted))
				checkBytewise(t, []byte(inserted))
				if i < len(seed) {
					replaced := seed[:i] + string(c) + seed[i+1:]
					checkDifferential(t, []byte(replaced))
					checkBytewise(t, []byte(replaced))
				}
			}
		}
	}
}

func checkBytewise(t *testing.T, data []byte) {
	t.Helper()
	if got, want := parseBytewise(data, Limits{}), parseWhole(data, Limits{}); got != want {
		t.Fatalf("%q byte by byte:\n got %v\nwant %v", data, got, want)
	}
}

func compareWithNetHTTP(t *testing.T, buf []byte, r *Request, req *http.Request) {
	t.Helper()
	switch {
	case req.Method != string(r.Method.In(buf)):
		t.Fatalf("method %q vs %q", req.Method, r.Method.In(buf))
	case req.RequestURI != string(r.Target.In(buf)):
		t.Fatalf("target %q vs %q", req.RequestURI, r.Target.In(buf))
	case req.ProtoMajor != 1 || req.ProtoMinor != int(r.Version)-10:
		t.Fatalf("version %s vs %v", req.Proto, r.Version)
	case req.Close == r.KeepAlive:
		t.Fatalf("net/http Close=%v, ours KeepAlive=%v", req.Close, r.KeepAlive)
	case r.Chunked != (len(req.TransferEncoding) == 1 && req.TransferEncoding[0] == "chunked"):
		t.Fatalf("chunked %v vs %q", r.Chunked, req.TransferEncoding)
	case !r.Chunked && req.ContentLength != max(r.ContentLength, 0):
		t.Fatalf("content length %d vs %d", req.ContentLength, r.ContentLength)
	case r.Target.In(buf)[0] == '/' && req.Host != string(r.Host(buf)):
		t.Fatalf("host %q vs %q", req.Host, r.Host(buf))
	}
	seen := map[string]int{}
	for name, value := range r.All(buf) {
		key := textproto.CanonicalMIMEHeaderKey(string(name))
		i := seen[key]
		seen[key]++
		switch key {
		case "Host", "Content-Length", "Transfer-Encoding":
			continue // net/http moves, collapses or removes these; compared above
		}
		if vs := req.Header[key]; i >= len(vs) || vs[i] != string(value) {
			t.Fatalf("header %s #%d: net/http %q, ours %q", key, i, vs, value)
		}
	}
}

// FuzzZeroAlloc checks that every accepted head is parsed, and its headers
// read, without a single allocation.
func FuzzZeroAlloc(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var p Parser
		if n, err := p.Parse(data); n == 0 || err != nil {
			return
		}
		allocs := testing.AllocsPerRun(5, func() {
			p.Reset(Limits{})
			p.Parse(data)
			r := p.Request()
			r.Lookup(data, "accept")
			r.Host(data)
			r.LastEventID(data)
			for name, value := range r.All(data) {
				_, _ = name, value
			}
		})
		if allocs != 0 {
			t.Fatalf("%v allocations per parse", allocs)
		}
	})
}

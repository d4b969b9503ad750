package httpparse

import (
	"bufio"
	"bytes"
	"net/http"
	"testing"
)

// browserHead is what Chromium sends when a page opens an EventSource
// (12 header lines, about 600 bytes).
const browserHead = "GET /events?channel=orders HTTP/1.1\r\n" +
	"Host: sse.example.com\r\n" +
	"Connection: keep-alive\r\n" +
	"Accept: text/event-stream\r\n" +
	"Cache-Control: no-cache\r\n" +
	"Pragma: no-cache\r\n" +
	"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36\r\n" +
	"Accept-Encoding: gzip, deflate, br, zstd\r\n" +
	"Accept-Language: en-US,en;q=0.9\r\n" +
	"Referer: https://app.example.com/dashboard\r\n" +
	"Origin: https://app.example.com\r\n" +
	"Sec-Fetch-Mode: cors\r\n" +
	"Cookie: session=4f0c9a1e7b3d2c5a8e6f1b0d9c7a3e2f; theme=dark; _ga=GA1.2.123456789.1700000000\r\n" +
	"\r\n"

func BenchmarkParseWhole(b *testing.B) {
	buf := []byte(browserHead)
	var p Parser
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		p.Reset(Limits{})
		if n, err := p.Parse(buf); n != len(buf) || err != nil {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkParseSplit3(b *testing.B) {
	buf := []byte(browserHead)
	third := len(buf) / 3
	var p Parser
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		p.Reset(Limits{})
		p.Parse(buf[:third])
		p.Parse(buf[:2*third])
		if n, err := p.Parse(buf); n != len(buf) || err != nil {
			b.Fatal(n, err)
		}
	}
}

// BenchmarkNetHTTPReadRequest is the standard library baseline on the same bytes.
func BenchmarkNetHTTPReadRequest(b *testing.B) {
	buf := []byte(browserHead)
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(buf))); err != nil {
			b.Fatal(err)
		}
	}
}

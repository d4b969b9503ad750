package sseparse

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// recorder logs callbacks as strings so runs can be compared.
type recorder struct{ log []string }

func (r *recorder) OnEvent(ev *Event) {
	r.log = append(r.log, fmt.Sprintf("E type=%q data=%q id=%q", ev.Type, ev.Data, ev.ID))
}
func (r *recorder) OnComment(text []byte) { r.log = append(r.log, fmt.Sprintf("C %q", text)) }

// sample exercises every rule: BOM, all three line ends, comments, one space
// stripped, multi-line data, id with and without NUL, retry valid and not,
// empty data, unknown fields, field without colon, event with no data, and an
// unterminated event at the end (never dispatched).
const sample = "\xEF\xBB\xBF: hello\r\n" +
	"data: one\n\n" +
	"event: ping\rdata:two\rdata:  three\r\r" +
	"id: 7\r\ndata\r\n\r\n" +
	": heartbeat\n\n" +
	"id: bad\x00id\nretry: 1500\nretry: 15x\nfoo: bar\ndata: four\n\n" +
	"event: lonely\n\n" +
	"data: {\"t\":5}\n\n" +
	"data: unterminated"

var sampleWant = []string{
	`C "hello"`,
	`E type="message" data="one" id=""`,
	`E type="ping" data="two\n three" id=""`,
	`E type="message" data="" id="7"`,
	`C "heartbeat"`,
	`E type="message" data="four" id="7"`,
	`E type="message" data="{\"t\":5}" id="7"`,
}

func feedAll(t *testing.T, pieces ...string) []string {
	t.Helper()
	r := &recorder{}
	p := NewParser(r)
	for _, s := range pieces {
		if err := p.Feed([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	return r.log
}

func TestParserSample(t *testing.T) {
	got := feedAll(t, sample)
	if !slices.Equal(got, sampleWant) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(sampleWant, "\n"))
	}
}

func TestParserSplitInvariance(t *testing.T) {
	for i := 0; i <= len(sample); i++ {
		for j := i; j <= len(sample); j++ {
			got := feedAll(t, sample[:i], sample[i:j], sample[j:])
			if !slices.Equal(got, sampleWant) {
				t.Fatalf("split at %d,%d: got %q", i, j, got)
			}
		}
	}
	pieces := strings.Split(sample, "")
	if got := feedAll(t, pieces...); !slices.Equal(got, sampleWant) {
		t.Fatalf("byte by byte: got %q", got)
	}
}

func TestParserPartialBOMIsContent(t *testing.T) {
	got := feedAll(t, "\xEF", "\xBBdata: x\n\n")
	if len(got) != 0 {
		t.Fatalf("a broken BOM starts an unknown field; got %q", got)
	}
	if got := feedAll(t, "\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\n"); len(got) != 0 {
		t.Fatalf("only one BOM is stripped; got %q", got)
	}
}

func TestParserRetryAndLimits(t *testing.T) {
	p := NewParser(&recorder{})
	if err := p.Feed([]byte("retry: 2500\nretry: -1\n")); err != nil || p.Retry() != 2500 {
		t.Fatalf("retry %d err %v", p.Retry(), err)
	}
	long := make([]byte, MaxLineBytes+1)
	for i := range long {
		long[i] = 'a'
	}
	if err := p.Feed(long); err != ErrLineTooLong {
		t.Fatalf("want ErrLineTooLong, got %v", err)
	}
}

// chunkEncode frames s as chunks of the given sizes (cycled), then the last chunk.
func chunkEncode(s string, sizes ...int) string {
	var b strings.Builder
	for k := 0; len(s) > 0; k++ {
		n := min(sizes[k%len(sizes)], len(s))
		fmt.Fprintf(&b, "%x", n)
		if k%3 == 1 {
			b.WriteString(";ext=1")
		}
		b.WriteString("\r\n" + s[:n] + "\r\n")
		s = s[n:]
	}
	b.WriteString("0\r\nX-Trailer: y\r\n\r\n")
	return b.String()
}

const headChunked = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"

func feedResponse(t *testing.T, pieces ...string) (*Response, []string) {
	t.Helper()
	rec := &recorder{}
	r := &Response{}
	r.Reset(rec)
	heads := 0
	for _, s := range pieces {
		got, err := r.Feed([]byte(s))
		if err != nil {
			t.Fatalf("feed: %v", err)
		}
		if got {
			heads++
		}
	}
	if heads != 1 {
		t.Fatalf("head reported %d times", heads)
	}
	return r, rec.log
}

func TestChunkedResponseSplitInvariance(t *testing.T) {
	body := chunkEncode(sample+"\n\n", 1, 7, 3, 64)
	wire := headChunked + body
	want := append(slices.Clone(sampleWant), `E type="message" data="unterminated" id="7"`)
	for i := 0; i <= len(wire); i++ {
		r, got := feedResponse(t, wire[:i], wire[i:])
		if !slices.Equal(got, want) {
			t.Fatalf("split %d: got %q", i, got)
		}
		if r.Head.Status != 200 || !r.Head.Chunked || !r.Head.EventStream || !r.BodyDone() {
			t.Fatalf("split %d: head %+v done %v", i, r.Head, r.BodyDone())
		}
	}
}

func TestCloseDelimitedResponse(t *testing.T) {
	wire := "HTTP/1.0 200 OK\nContent-Type: text/event-stream\n\n: heartbeat\n\ndata: t=12\n\n"
	for i := 0; i <= len(wire); i++ {
		r, got := feedResponse(t, wire[:i], wire[i:])
		want := []string{`C "heartbeat"`, `E type="message" data="t=12" id=""`}
		if !slices.Equal(got, want) || r.Head.Chunked {
			t.Fatalf("split %d: got %q head %+v", i, got, r.Head)
		}
	}
}

func TestChunkDecoderErrors(t *testing.T) {
	for _, bad := range []string{"zz\r\n", "5\r\nabcdeXX", "3\rx", "11111111111111111\r\n"} {
		var d ChunkDecoder
		p := NewParser(&recorder{})
		if err := d.Feed([]byte(bad), p); err != ErrBadChunk {
			t.Errorf("%q: want ErrBadChunk, got %v", bad, err)
		}
	}
}

func TestBadStatusLine(t *testing.T) {
	r := &Response{}
	r.Reset(&recorder{})
	if _, err := r.Feed([]byte("SSH-2.0-x\r\n\r\n")); err != ErrBadStatusLine {
		t.Fatalf("got %v", err)
	}
}

func TestTimestamp(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"t=1764221734123456789", 1764221734123456789, true},
		{"t=42 padding", 42, true},
		{`{"t":17,"x":1}`, 17, true},
		{`{"type":"x","payload":{"t": 99}}`, 99, true},
		{"t=", 0, false},
		{"hello", 0, false},
		{"t=99999999999999999999", 0, false},
	}
	for _, c := range cases {
		got, ok := Timestamp([]byte(c.in))
		if got != c.want || ok != c.ok {
			t.Errorf("%q: got %d,%v want %d,%v", c.in, got, ok, c.want, c.ok)
		}
	}
	if s := string(AppendTimestamp(nil, 12345)); s != "t=12345" {
		t.Fatalf("AppendTimestamp %q", s)
	}
}

type countHandler struct{ events, comments int }

func (c *countHandler) OnEvent(*Event)     { c.events++ }
func (c *countHandler) OnComment(_ []byte) { c.comments++ }

func TestZeroAllocsPerEvent(t *testing.T) {
	h := &countHandler{}
	r := &Response{}
	r.Reset(h)
	frame := []byte(chunk("id: 5\ndata: t=1234567890123\n\n") + chunk(": heartbeat\n\n"))
	if _, err := r.Feed([]byte(headChunked)); err != nil {
		t.Fatal(err)
	}
	r.Feed(frame) // warm up buffers
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := r.Feed(frame); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per event", allocs)
	}
	if h.events != 1002 || h.comments != 1002 {
		t.Fatalf("events %d comments %d", h.events, h.comments)
	}
}

func BenchmarkResponseFeed(b *testing.B) {
	h := &countHandler{}
	r := &Response{}
	r.Reset(h)
	r.Feed([]byte(headChunked))
	frame := []byte(chunk("id: 5\ndata: t=1234567890123\n\n"))
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		r.Feed(frame)
	}
}

// chunk frames s as one HTTP chunk.
func chunk(s string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(s), s) }

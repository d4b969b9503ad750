package httpparse

import "iter"

// Span is a half-open byte range [Off, Off+Len) into the buffer that was parsed.
type Span struct{ Off, Len uint32 }

// In returns the bytes of s in buf. The result's capacity ends with the span,
// so appending to it never overwrites buf.
func (s Span) In(buf []byte) []byte {
	end := s.Off + s.Len
	return buf[s.Off:end:end]
}

func span(from, to int) Span { return Span{Off: uint32(from), Len: uint32(to - from)} }

// Header is one header line. Value is trimmed of surrounding OWS (SP, HTAB).
type Header struct{ Name, Value Span }

// Version is the HTTP version of a request: 10 or 11.
type Version uint8

// The versions the parser accepts.
const (
	HTTP10 Version = 10
	HTTP11 Version = 11
)

// String returns "HTTP/1.0" or "HTTP/1.1".
func (v Version) String() string {
	if v == HTTP10 {
		return "HTTP/1.0"
	}
	return "HTTP/1.1"
}

// noHeader marks an absent Host or Last-Event-ID header.
const noHeader = -1

// Request is the parse result. It is valid after Parse returned n > 0; all
// spans index the buffer given to that Parse call.
type Request struct {
	Method, Target Span
	Version        Version
	// HeadLen counts the bytes of the head: the optional leading empty line,
	// the request line, the header lines and the final empty line. The next
	// pipelined request starts at buf[HeadLen:].
	HeadLen int
	// ContentLength is the Content-Length value, or -1 if absent.
	ContentLength int64
	// Chunked reports "Transfer-Encoding: chunked".
	Chunked bool
	// KeepAlive reports whether the connection persists after the response:
	// HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with
	// "Connection: keep-alive" and no "close".
	KeepAlive bool

	n       int                       // number of headers
	fixed   [DefaultMaxHeaders]Header // the first DefaultMaxHeaders headers
	more    []Header                  // the rest, when Limits.MaxHeaders is raised
	host    int                       // index of the Host header or noHeader
	lastID  int                       // index of the first Last-Event-ID header or noHeader
	clFirst Span                      // value of the first Content-Length header
}

// reset clears the result for a new request. Header storage is kept and not
// zeroed: only the first n entries are ever read.
func (r *Request) reset() {
	r.Method, r.Target, r.Version, r.HeadLen = Span{}, Span{}, 0, 0
	r.ContentLength, r.Chunked, r.KeepAlive = -1, false, false
	r.n, r.more = 0, r.more[:0]
	r.host, r.lastID, r.clFirst = noHeader, noHeader, Span{}
}

// NumHeaders returns the number of header lines.
func (r *Request) NumHeaders() int { return r.n }

// Header returns header i, 0 <= i < NumHeaders(), in arrival order.
func (r *Request) Header(i int) Header {
	if i < len(r.fixed) {
		return r.fixed[i]
	}
	return r.more[i-len(r.fixed)]
}

func (r *Request) add(h Header) {
	if r.n < len(r.fixed) {
		r.fixed[r.n] = h
	} else {
		r.more = append(r.more, h) // capacity reserved by Parser.Reset
	}
	r.n++
}

// All yields every header's name and value in arrival order.
func (r *Request) All(buf []byte) iter.Seq2[[]byte, []byte] {
	return func(yield func(name, value []byte) bool) {
		for i := range r.n {
			h := r.Header(i)
			if !yield(h.Name.In(buf), h.Value.In(buf)) {
				return
			}
		}
	}
}

// Lookup returns the value of the first header named name, ignoring ASCII case.
func (r *Request) Lookup(buf []byte, name string) (Span, bool) {
	for i := range r.n {
		h := r.Header(i)
		if int(h.Name.Len) == len(name) && equalFold(h.Name.In(buf), name) {
			return h.Value, true
		}
	}
	return Span{}, false
}

// Host returns the Host header value, or nil if absent.
func (r *Request) Host(buf []byte) []byte { return r.valueAt(buf, r.host) }

// LastEventID returns the first Last-Event-ID header value, or nil if absent.
// A present but empty header yields an empty non-nil slice.
func (r *Request) LastEventID(buf []byte) []byte { return r.valueAt(buf, r.lastID) }

func (r *Request) valueAt(buf []byte, i int) []byte {
	if i == noHeader {
		return nil
	}
	return r.Header(i).Value.In(buf)
}

// IsMethod reports whether the method is m. Methods are case-sensitive.
func (r *Request) IsMethod(buf []byte, m string) bool {
	return string(r.Method.In(buf)) == m
}

package sseparse

import (
	"bytes"
	"errors"
)

// MaxHeadBytes bounds the response head (status line and headers) a stream
// may send; the gateway's own request limit is 16 KiB, the same here.
const MaxHeadBytes = 16 << 10

var (
	// ErrHeadTooLarge reports a response head over MaxHeadBytes.
	ErrHeadTooLarge = errors.New("sseparse: response head too large")
	// ErrBadStatusLine reports a response that does not start "HTTP/1.x NNN".
	ErrBadStatusLine = errors.New("sseparse: malformed status line")
)

// Head is what the bench needs from a response head.
type Head struct {
	Status      int
	Chunked     bool
	EventStream bool // Content-Type is text/event-stream
}

// Response decodes one HTTP/1.x response carrying an event stream: head, then
// a chunked or close-delimited body fed to the Parser.
type Response struct {
	head     []byte // head bytes until complete, then released
	headDone bool
	Head     Head
	chunk    ChunkDecoder
	Parser   Parser
}

// Reset prepares r for a new response reporting events to h.
func (r *Response) Reset(h Handler) {
	r.head, r.headDone, r.Head, r.chunk = nil, false, Head{}, ChunkDecoder{}
	r.Parser.Reset(h)
}

// HeadDone reports whether the response head has been read.
func (r *Response) HeadDone() bool { return r.headDone }

// BodyDone reports whether a chunked body ended with its terminating chunk.
func (r *Response) BodyDone() bool { return r.chunk.Done() }

// Feed consumes bytes read from the socket. gotHead is true on the call that
// completed the head (check r.Head then). A non-200 or non-event-stream
// response is not an error here; the caller decides.
func (r *Response) Feed(b []byte) (gotHead bool, err error) {
	if !r.headDone {
		var rest []byte
		rest, err = r.feedHead(b)
		if err != nil || !r.headDone {
			return false, err
		}
		gotHead, b = true, rest
	}
	if len(b) == 0 {
		return gotHead, nil
	}
	if r.Head.Chunked {
		return gotHead, r.chunk.Feed(b, &r.Parser)
	}
	return gotHead, r.Parser.Feed(b)
}

// feedHead accumulates head bytes; it returns the bytes after the head once
// the head is complete.
func (r *Response) feedHead(b []byte) ([]byte, error) {
	old := len(r.head)
	if old == 0 {
		// Fast path: the whole head in one read (the usual case).
		if n := headEnd(b); n > 0 {
			return b[n:], r.finishHead(b[:n])
		}
	}
	if old+len(b) > MaxHeadBytes {
		b = b[:max(0, MaxHeadBytes-old)]
	}
	r.head = append(r.head, b...)
	// Search from a little before the old end: the terminator may straddle.
	from := max(0, old-3)
	if n := headEnd(r.head[from:]); n > 0 {
		n += from
		rest := b[n-old:]
		err := r.finishHead(r.head[:n])
		r.head = nil
		return rest, err
	}
	if len(r.head) >= MaxHeadBytes {
		return nil, ErrHeadTooLarge
	}
	return nil, nil
}

// headEnd returns the length of the head including its blank line, or 0.
func headEnd(b []byte) int {
	for i := 0; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		if i+1 < len(b) && b[i+1] == '\n' {
			return i + 2
		}
		if i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n' {
			return i + 3
		}
	}
	return 0
}

func (r *Response) finishHead(h []byte) error {
	r.headDone = true
	line, rest := cutLine(h)
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return ErrBadStatusLine
	}
	st, ok := parseDigits(line[9:12])
	if !ok {
		return ErrBadStatusLine
	}
	r.Head.Status = int(st)
	for len(rest) > 0 {
		line, rest = cutLine(rest)
		r.headerLine(line)
	}
	return nil
}

func cutLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil
	}
	line, rest = b[:i], b[i+1:]
	return bytes.TrimSuffix(line, []byte("\r")), rest
}

func (r *Response) headerLine(line []byte) {
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return
	}
	value = bytes.TrimSpace(value)
	switch {
	case bytes.EqualFold(name, []byte("Transfer-Encoding")):
		r.Head.Chunked = containsFold(value, "chunked")
	case bytes.EqualFold(name, []byte("Content-Type")):
		r.Head.EventStream = containsFold(value, "text/event-stream")
	}
}

// containsFold reports whether v contains the lowercase ASCII word w, ignoring case.
func containsFold(v []byte, w string) bool {
	for i := 0; i+len(w) <= len(v); i++ {
		if bytes.EqualFold(v[i:i+len(w)], []byte(w)) {
			return true
		}
	}
	return false
}

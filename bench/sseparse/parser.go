// Package sseparse decodes a Server-Sent Events response incrementally: the
// HTTP/1.x response head, a chunked or close-delimited body (ChunkDecoder), and
// the event stream itself (Parser, WHATWG HTML "event stream interpretation":
// CR, LF and CRLF line ends, one leading space stripped from values, a leading
// BOM ignored, comments, event/data/id/retry fields).
//
// Bytes may arrive split anywhere; the result never depends on the split. After
// warm-up (buffers grown to the largest line and event) feeding allocates
// nothing. Nothing here is safe for concurrent use: each stream's Response is
// owned by the goroutine that reads its socket (one loadclient poller).
//
// Latency timestamps: see Timestamp.
package sseparse

import (
	"errors"
)

const (
	// MaxLineBytes bounds one SSE line held across reads: a bench stream never
	// carries more, and 15,000 streams each holding a runaway line would exhaust
	// the client's memory.
	MaxLineBytes = 1 << 20
	// MaxEventBytes bounds the data of one event for the same reason.
	MaxEventBytes = 4 << 20
)

var (
	// ErrLineTooLong reports a line longer than MaxLineBytes.
	ErrLineTooLong = errors.New("sseparse: line too long")
	// ErrEventTooLarge reports event data longer than MaxEventBytes.
	ErrEventTooLarge = errors.New("sseparse: event data too large")
)

// Event is one dispatched event. Its slices are valid only during OnEvent.
type Event struct {
	Type []byte // "message" when the stream named none
	Data []byte // data lines joined by LF, without the final LF
	ID   []byte // the last event ID in force when the event was dispatched
}

// Handler receives what the parser finds, on the parser's goroutine.
type Handler interface {
	// OnEvent is called for every dispatched event (data buffer non-empty).
	OnEvent(ev *Event)
	// OnComment is called for every comment line with the text after the
	// colon, one leading space stripped (": heartbeat" gives "heartbeat").
	OnComment(text []byte)
}

var (
	messageType = []byte("message")
	bom         = []byte{0xEF, 0xBB, 0xBF}
)

// Parser is the incremental event-stream parser.
type Parser struct {
	h        Handler
	line     []byte // partial line carried between Feed calls
	data     []byte
	evType   []byte
	id       []byte
	retry    int64 // last valid retry field, -1 if none
	bomSeen  int   // BOM bytes matched so far at stream start
	bomDone  bool
	afterCR  bool // last byte was CR: a following LF belongs to the same line end
	err      error
	ev       Event
	dispatch uint64
}

// NewParser returns a parser that reports to h.
func NewParser(h Handler) *Parser {
	p := &Parser{}
	p.Reset(h)
	return p
}

// Reset prepares the parser for a new stream, keeping its buffers.
func (p *Parser) Reset(h Handler) {
	*p = Parser{h: h, line: p.line[:0], data: p.data[:0], evType: p.evType[:0], id: p.id[:0], retry: -1}
}

// Retry is the last valid retry value in milliseconds, or -1.
func (p *Parser) Retry() int64 { return p.retry }

// LastEventID is the current last event ID (valid until the next Feed).
func (p *Parser) LastEventID() []byte { return p.id }

// Feed parses the next bytes of the stream. After an error the parser stays
// failed and returns the same error.
func (p *Parser) Feed(b []byte) error {
	if p.err != nil {
		return p.err
	}
	if !p.bomDone {
		b = p.skipBOM(b)
	}
	for len(b) > 0 && p.err == nil {
		if p.afterCR {
			p.afterCR = false
			if b[0] == '\n' {
				b = b[1:]
				continue
			}
		}
		i := lineEnd(b)
		if i < 0 {
			p.carry(b)
			return p.err
		}
		if len(p.line) > 0 {
			p.carry(b[:i])
			p.processLine(p.line)
			p.line = p.line[:0]
		} else {
			p.processLine(b[:i])
		}
		p.afterCR = b[i] == '\r'
		b = b[i+1:]
	}
	return p.err
}

// skipBOM consumes a leading UTF-8 BOM, even when it arrives split.
func (p *Parser) skipBOM(b []byte) []byte {
	for len(b) > 0 && p.bomSeen < len(bom) {
		if b[0] != bom[p.bomSeen] {
			// Not a BOM: the bytes matched so far are ordinary content.
			p.carry(bom[:p.bomSeen])
			p.bomDone = true
			return b
		}
		p.bomSeen++
		b = b[1:]
	}
	if p.bomSeen == len(bom) {
		p.bomDone = true
	}
	return b
}

// lineEnd is the index of the first CR or LF in b, or -1.
func lineEnd(b []byte) int {
	for i, c := range b {
		if c == '\n' || c == '\r' {
			return i
		}
	}
	return -1
}

// carry appends to the partial line, enforcing MaxLineBytes.
func (p *Parser) carry(b []byte) {
	if len(p.line)+len(b) > MaxLineBytes {
		p.err = ErrLineTooLong
		return
	}
	p.line = append(p.line, b...)
}

func (p *Parser) processLine(l []byte) {
	if len(l) == 0 {
		p.dispatchEvent()
		return
	}
	if l[0] == ':' {
		p.h.OnComment(stripSpace(l[1:]))
		return
	}
	field, value := l, l[len(l):]
	for i, c := range l {
		if c == ':' {
			field, value = l[:i], stripSpace(l[i+1:])
			break
		}
	}
	p.field(field, value)
}

func stripSpace(v []byte) []byte {
	if len(v) > 0 && v[0] == ' ' {
		return v[1:]
	}
	return v
}

func (p *Parser) field(name, value []byte) {
	switch string(name) {
	case "event":
		p.evType = append(p.evType[:0], value...)
	case "data":
		if len(p.data)+len(value)+1 > MaxEventBytes {
			p.err = ErrEventTooLarge
			return
		}
		p.data = append(p.data, value...)
		p.data = append(p.data, '\n')
	case "id":
		for _, c := range value {
			if c == 0 {
				return
			}
		}
		p.id = append(p.id[:0], value...)
	case "retry":
		if n, ok := parseDigits(value); ok {
			p.retry = n
		}
	}
}

// parseDigits parses a non-empty run of ASCII digits (and nothing else).
func parseDigits(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

func (p *Parser) dispatchEvent() {
	if len(p.data) == 0 {
		p.evType = p.evType[:0]
		return
	}
	p.ev.Data = p.data[:len(p.data)-1]
	p.ev.Type = p.evType
	if len(p.ev.Type) == 0 {
		p.ev.Type = messageType
	}
	p.ev.ID = p.id
	p.dispatch++
	p.h.OnEvent(&p.ev)
	p.ev = Event{}
	p.data = p.data[:0]
	p.evType = p.evType[:0]
}

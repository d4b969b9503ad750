package sse

import (
	"strconv"
	"unicode/utf8"
)

// Format selects how an event is laid out on the wire (EVENT_FORMAT).
type Format uint8

const (
	// Standard writes the standard SSE fields: id, event, retry, data.
	Standard Format = iota
	// Envelope wraps named events as data: {"type":<name>,"payload":<data>} on the
	// unnamed channel, byte-compatible with the Node.js SSEGateway.
	Envelope
)

// ParseFormat maps an EVENT_FORMAT value to a Format.
func ParseFormat(s string) (Format, bool) {
	switch s {
	case "sse":
		return Standard, true
	case "envelope":
		return Envelope, true
	}
	return Standard, false
}

// Event is one message a backend asked to send. Data is required by the control
// port's validation; the other fields are optional.
type Event struct {
	Name     string
	Data     string
	ID       string
	HasID    bool
	Retry    uint64
	HasRetry bool
}

// Fixed frames the gateway emits on its own.
var (
	// Ready is sent after a successful connect callback and any replayed sends.
	Ready = []byte("event: ready\ndata:\n\n")
	// Heartbeat keeps idle streams alive through proxies.
	Heartbeat = []byte(": heartbeat\n\n")
)

// AppendEvent appends the frame for ev in format f to dst.
func AppendEvent(dst []byte, ev *Event, f Format) []byte {
	if ev.HasID {
		dst = append(dst, "id: "...)
		dst = append(dst, ev.ID...)
		dst = append(dst, '\n')
	}
	if f == Standard && ev.Name != "" {
		dst = append(dst, "event: "...)
		dst = append(dst, ev.Name...)
		dst = append(dst, '\n')
	}
	if ev.HasRetry {
		dst = AppendRetryField(dst, ev.Retry)
	}
	if f == Envelope && ev.Name != "" {
		dst = append(dst, `data: {"type":`...)
		dst = AppendJSONString(dst, ev.Name)
		dst = append(dst, `,"payload":`...)
		dst = appendDataLines(dst, ev.Data)
		return append(dst, "}\n\n"...)
	}
	dst = append(dst, "data: "...)
	dst = appendDataLines(dst, ev.Data)
	return append(dst, '\n', '\n')
}

// AppendRetryField appends `retry: <ms>\n`.
func AppendRetryField(dst []byte, ms uint64) []byte {
	dst = append(dst, "retry: "...)
	dst = strconv.AppendUint(dst, ms, 10)
	return append(dst, '\n')
}

// AppendRetry appends a whole message holding only a retry hint: `retry: <ms>\n\n`.
func AppendRetry(dst []byte, ms uint64) []byte {
	return append(AppendRetryField(dst, ms), '\n')
}

// AppendRejected appends the in-stream rejection message for a connect callback
// that answered 400, 401 or 403.
func AppendRejected(dst []byte, status int, message string) []byte {
	dst = append(dst, `event: rejected`+"\n"+`data: {"status":`...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, `,"message":`...)
	dst = AppendJSONString(dst, message)
	return append(dst, "}\n\n"...)
}

// appendDataLines writes data after a `data: ` prefix the caller has already
// written, continuing each line break (CRLF, lone CR or LF) on a new `data: `
// line. The last line is left open: the caller ends it.
func appendDataLines(dst []byte, data string) []byte {
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '\r':
			if i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
			dst = append(dst, "\ndata: "...)
		case '\n':
			dst = append(dst, "\ndata: "...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// AppendJSONString appends s as a JSON string the way JavaScript's
// JSON.stringify writes it: quotes, backslashes and control characters are
// escaped; everything else, HTML characters and non-ASCII included, is written
// as is. Invalid UTF-8 becomes U+FFFD.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, "\ufffd"...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
			continue
		}
		dst = AppendJSONByte(dst, c)
		i++
	}
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"

// AppendJSONByte appends one ASCII byte escaped as JSON.stringify escapes it
// inside a string.
func AppendJSONByte(dst []byte, c byte) []byte {
	switch c {
	case '"':
		return append(dst, '\\', '"')
	case '\\':
		return append(dst, '\\', '\\')
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	case '\b':
		return append(dst, '\\', 'b')
	case '\f':
		return append(dst, '\\', 'f')
	}
	if c < 0x20 {
		return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
	}
	return append(dst, c)
}

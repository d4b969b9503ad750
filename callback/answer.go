package callback

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
)

// The common answer of a backend — a status line, a few headers, a body
// delimited by Content-Length, all arrived in one read — is taken straight
// from the worker's read buffer: no http.Response, no header map, no body
// reader (the connect path's profile had http.ReadResponse at about a third
// of a worker's CPU). Whatever is not plainly that (chunked or close-delimited
// bodies, 1xx/304, a 204 with a length, Connection headers other than keep-alive, obs-folds,
// odd bytes, a body not yet in the buffer) is left unread and parsed by
// http.ReadResponse as before, so the outcome of any answer is unchanged.

// answer is one response read by the fast path.
type answer struct {
	status int
	phrase []byte // the reason phrase as sent (trimmed)
	body   []byte // points into the read buffer: valid until the next read
	size   int    // head and body bytes, consumed by done
}

// peekAnswer parses a complete answer at the start of br's buffer, reading
// once when the buffer is empty (under the connection's deadline). ok false
// means: take the slow path; nothing was consumed either way.
func peekAnswer(br *bufio.Reader) (a answer, ok bool, err error) {
	if br.Buffered() == 0 {
		if _, err := br.Peek(1); err != nil {
			return a, false, err
		}
	}
	buf, _ := br.Peek(br.Buffered())
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		return a, false, nil
	}
	head := buf[:end+2] // every line with its CRLF
	nl := bytes.Index(head, []byte("\r\n"))
	line := head[:nl]
	if len(line) < 12 || string(line[:9]) != "HTTP/1.1 " || (len(line) > 12 && line[12] != ' ') {
		return a, false, nil
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return a, false, nil
		}
		a.status = a.status*10 + int(c-'0')
	}
	if a.status < 200 || a.status > 599 || a.status == 304 {
		return a, false, nil
	}
	if len(line) > 12 {
		if !plainValue(line[13:]) {
			return a, false, nil
		}
		a.phrase = bytes.Trim(line[13:], " \t")
	}
	length := -1
	for rest := head[nl+2:]; len(rest) > 0; {
		i := bytes.Index(rest, []byte("\r\n"))
		line, rest = rest[:i], rest[i+2:]
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !token(line[:colon]) {
			return a, false, nil // also an obs-fold (a line starting with a blank)
		}
		name, value := line[:colon], bytes.Trim(line[colon+1:], " \t")
		if !plainValue(value) {
			return a, false, nil
		}
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length >= 0 || len(value) == 0 || len(value) > 9 {
				return a, false, nil
			}
			length = 0
			for _, c := range value {
				if c < '0' || c > '9' {
					return a, false, nil
				}
				length = length*10 + int(c-'0')
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")), bytes.EqualFold(name, []byte("Trailer")):
			return a, false, nil
		case bytes.EqualFold(name, []byte("Connection")):
			if !bytes.EqualFold(value, []byte("keep-alive")) {
				return a, false, nil
			}
		}
	}
	if a.status == 204 { // no body, whatever a length says: only the plain case here
		if length > 0 {
			return a, false, nil
		}
		length = 0
	}
	a.size = end + 4 + length
	if length < 0 || a.size > len(buf) {
		return a, false, nil
	}
	a.body = buf[end+4 : a.size]
	return a, true, nil
}

// token reports whether b is a non-empty header name of token characters.
func token(b []byte) bool {
	for _, c := range b {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return len(b) > 0
}

// plainValue reports whether b holds only visible ASCII, spaces and tabs.
func plainValue(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c >= 0x7f {
			return false
		}
	}
	return true
}

// result classifies a fast-path answer exactly as classify does a response.
func (a *answer) result() Result {
	r := Result{Status: a.status, Phrase: http.StatusText(a.status)}
	if len(a.phrase) > 0 && string(a.phrase) != r.Phrase {
		r.Phrase = string(a.phrase)
	}
	r.Outcome = outcomeOf(a.status)
	return r
}

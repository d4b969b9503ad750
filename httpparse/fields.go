package httpparse

import (
	"bytes"
	"math"
)

// interpret applies the meaning of the five headers the gateway cares about to
// header h, the idx-th of the request. The names have distinct lengths, so one
// length switch filters out every other header.
func (p *Parser) interpret(b []byte, h Header, idx int) error {
	name, v := h.Name.In(b), h.Value.In(b)
	switch len(name) {
	case len("host"):
		if equalFold(name, "host") {
			return p.host(v, idx)
		}
	case len("connection"):
		if equalFold(name, "connection") {
			p.connection(v)
		}
	case len("last-event-id"):
		if equalFold(name, "last-event-id") && p.req.lastID == noHeader {
			p.req.lastID = idx
		}
	case len("content-length"):
		if equalFold(name, "content-length") {
			return p.contentLength(b, h.Value)
		}
	case len("transfer-encoding"):
		if equalFold(name, "transfer-encoding") {
			return p.transferEncoding(v)
		}
	}
	return nil
}

// host accepts one Host header whose bytes fit the host grammar (RFC 9112
// §3.2: a second Host line or an invalid one is answered with 400). An empty
// value is allowed.
func (p *Parser) host(v []byte, idx int) error {
	if p.req.host != noHeader {
		return ErrDuplicateHost
	}
	for _, c := range v {
		if class[c]&cHost == 0 {
			return ErrInvalidHost
		}
	}
	p.req.host = idx
	return nil
}

// connection records the "close" and "keep-alive" tokens of a Connection
// header's comma-separated list, ignoring case and OWS.
func (p *Parser) connection(v []byte) {
	for len(v) > 0 {
		tok := v
		if i := bytes.IndexByte(v, ','); i >= 0 {
			tok, v = v[:i], v[i+1:]
		} else {
			v = nil
		}
		tok = bytes.Trim(tok, " \t")
		switch {
		case equalFold(tok, "close"):
			p.st.connClose = true
		case equalFold(tok, "keep-alive"):
			p.st.connKeepAlive = true
		}
	}
}

// contentLength accepts 1*DIGIT up to MaxInt64. Repeated headers must repeat
// the first value byte for byte (as net/http requires), and Content-Length
// excludes Transfer-Encoding (RFC 9112 §6.3).
func (p *Parser) contentLength(b []byte, vs Span) error {
	r := &p.req
	v := vs.In(b)
	switch {
	case r.Chunked:
		return ErrContentLengthWithTE
	case r.ContentLength >= 0:
		if !bytes.Equal(v, r.clFirst.In(b)) {
			return ErrDuplicateContentLength
		}
		return nil
	}
	n, ok := parseContentLength(v)
	if !ok {
		return ErrInvalidContentLength
	}
	r.ContentLength, r.clFirst = n, vs
	return nil
}

func parseContentLength(v []byte) (int64, bool) {
	if len(v) == 0 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		d := int64(c - '0')
		if !isDigit(c) || n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, true
}

// transferEncoding accepts exactly one header whose value is "chunked", like
// net/http and nginx: any other coding, a list, or a second header is refused
// because the gateway cannot frame a body it does not decode (RFC 9112 §6.1).
func (p *Parser) transferEncoding(v []byte) error {
	r := &p.req
	switch {
	case r.Version == HTTP10:
		return ErrTransferEncodingHTTP10
	case r.Chunked || !equalFold(v, "chunked"):
		return ErrUnsupportedTransferEncoding
	case r.ContentLength >= 0:
		return ErrContentLengthWithTE
	}
	r.Chunked = true
	return nil
}

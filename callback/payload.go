package callback

import (
	"ssegw/httpparse"
	"ssegw/sse"
)

// Action names a callback.
type Action uint8

const (
	// ActionConnect asks the backend whether to accept a stream.
	ActionConnect Action = iota
	// ActionDisconnect tells the backend a stream has ended.
	ActionDisconnect
)

func (a Action) String() string {
	if a == ActionConnect {
		return "connect"
	}
	return "disconnect"
}

// Request is how much of a stream's request a callback carries in
// "request". A connect always carries all of it; a disconnect carries what
// the gateway kept for it (DISCONNECT_REQUEST), and the payload keeps the
// same shape either way, so a backend that reads request.url or
// request.headers finds a string and an object.
type Request uint8

const (
	// RequestFull: Job.Head is the raw request head; url and every header.
	RequestFull Request = iota
	// RequestURL: Job.Head is the raw request-target; that url, headers {}.
	RequestURL
	// RequestNone: nothing was kept; url "" and headers {}.
	RequestNone
)

// mergeRule is how Node.js folds a repeated header.
type mergeRule uint8

const (
	joinComma     mergeRule = iota // most headers: ", "
	joinSemicolon                  // cookie: "; "
	keepFirst                      // singleton headers: duplicates dropped
	asArray                        // set-cookie: an array of strings
)

// singletons are the headers whose duplicates Node.js drops (first one wins).
var singletons = [...]string{"age", "authorization", "content-length", "content-type", "etag", "expires",
	"from", "host", "if-modified-since", "if-unmodified-since", "last-modified", "location", "max-forwards",
	"proxy-authorization", "referer", "retry-after", "server", "user-agent"}

func ruleFor(lowerName []byte) mergeRule {
	switch string(lowerName) {
	case "cookie":
		return joinSemicolon
	case "set-cookie":
		return asArray
	}
	for _, s := range singletons {
		if string(lowerName) == s {
			return keepFirst
		}
	}
	return joinComma
}

// maxMergedHeaders bounds the merge table; it matches the parser's default
// header-count limit, so every header of an accepted head fits.
const maxMergedHeaders = httpparse.DefaultMaxHeaders

// Encoder builds callback payloads. It keeps scratch space between calls, so
// one Encoder belongs to one goroutine (each callback worker has its own).
type Encoder struct {
	parser httpparse.Parser
	names  []byte // lowercased names of the merged headers, back to back
	merged [maxMergedHeaders]mergedHeader
}

type mergedHeader struct {
	nameOff, nameLen int
	first            int   // index of the first header with this name
	rest             []int // indexes of repeats that are kept
}

// AppendPayload appends the JSON body of a callback for the stream whose raw
// request head is head. reason is used only for ActionDisconnect.
func (e *Encoder) AppendPayload(dst []byte, a Action, reason, token string, head []byte) []byte {
	return e.appendPayload(dst, a, reason, token, RequestFull, head)
}

// appendJob appends the JSON body of a job's callback.
func (e *Encoder) appendJob(dst []byte, j *Job) []byte {
	return e.appendPayload(dst, j.Action, j.Reason, j.Token, j.Request, j.Head)
}

func (e *Encoder) appendPayload(dst []byte, a Action, reason, token string, kept Request, head []byte) []byte {
	dst = append(dst, `{"action":"`...)
	dst = append(dst, a.String()...)
	dst = append(dst, '"')
	if a == ActionDisconnect {
		dst = append(dst, `,"reason":"`...)
		dst = append(dst, reason...)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"token":"`...)
	dst = append(dst, token...)
	dst = append(dst, `","request":`...)
	switch kept {
	case RequestURL:
		dst = append(dst, `{"url":`...)
		dst = appendLatin1JSON(dst, head)
		dst = append(dst, `,"headers":{}}`...)
	case RequestNone:
		dst = append(dst, `{"url":"","headers":{}}`...)
	default:
		dst = e.AppendRequest(dst, head)
	}
	return append(dst, '}')
}

// AppendRequest appends {"url":...,"headers":{...}} for a raw request head.
// The head was accepted by httpparse once already, so it parses again.
func (e *Encoder) AppendRequest(dst []byte, head []byte) []byte {
	e.parser.Reset(httpparse.Limits{MaxHeadBytes: len(head) + 1})
	dst = append(dst, `{"url":`...)
	if n, err := e.parser.Parse(head); n == 0 || err != nil {
		return append(dst, `"","headers":{}}`...)
	}
	req := e.parser.Request()
	dst = appendLatin1JSON(dst, req.Target.In(head))
	dst = append(dst, `,"headers":{`...)
	dst = e.appendHeaders(dst, req, head)
	return append(dst, "}}"...)
}

func (e *Encoder) appendHeaders(dst []byte, req *httpparse.Request, head []byte) []byte {
	n := e.merge(req, head)
	for i := 0; i < n; i++ {
		m := &e.merged[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		name := e.names[m.nameOff : m.nameOff+m.nameLen]
		dst = appendLatin1JSON(dst, name)
		dst = append(dst, ':')
		dst = e.appendValue(dst, ruleFor(name), m, req, head)
	}
	return dst
}

// merge groups headers by lowercased name in order of first arrival and
// returns how many distinct names there are.
func (e *Encoder) merge(req *httpparse.Request, head []byte) int {
	e.names = e.names[:0]
	n := 0
	for i := 0; i < req.NumHeaders(); i++ {
		raw := req.Header(i).Name.In(head)
		off := len(e.names)
		for _, c := range raw {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			e.names = append(e.names, c)
		}
		lower := e.names[off:]
		if j := e.find(lower, n); j >= 0 {
			e.names = e.names[:off]
			e.merged[j].rest = append(e.merged[j].rest, i)
			continue
		}
		e.merged[n] = mergedHeader{nameOff: off, nameLen: len(lower), first: i, rest: e.merged[n].rest[:0]}
		n++
	}
	return n
}

func (e *Encoder) find(lower []byte, n int) int {
	for j := 0; j < n; j++ {
		m := &e.merged[j]
		if string(e.names[m.nameOff:m.nameOff+m.nameLen]) == string(lower) {
			return j
		}
	}
	return -1
}

func (e *Encoder) appendValue(dst []byte, rule mergeRule, m *mergedHeader, req *httpparse.Request, head []byte) []byte {
	value := func(i int) []byte { return req.Header(i).Value.In(head) }
	switch rule {
	case asArray:
		dst = append(dst, '[')
		dst = appendLatin1JSON(dst, value(m.first))
		for _, i := range m.rest {
			dst = append(dst, ',')
			dst = appendLatin1JSON(dst, value(i))
		}
		return append(dst, ']')
	case keepFirst:
		return appendLatin1JSON(dst, value(m.first))
	}
	sep := ", "
	if rule == joinSemicolon {
		sep = "; "
	}
	dst = append(dst, '"')
	dst = appendLatin1Escaped(dst, value(m.first))
	for _, i := range m.rest {
		dst = append(dst, sep...)
		dst = appendLatin1Escaped(dst, value(i))
	}
	return append(dst, '"')
}

// appendLatin1JSON appends b, read as latin-1 the way Node.js decodes header
// bytes, as a JSON string.
func appendLatin1JSON(dst, b []byte) []byte {
	dst = append(dst, '"')
	dst = appendLatin1Escaped(dst, b)
	return append(dst, '"')
}

func appendLatin1Escaped(dst, b []byte) []byte {
	for _, c := range b {
		if c >= 0x80 {
			dst = append(dst, 0xC0|c>>6, 0x80|c&0x3F)
			continue
		}
		dst = sse.AppendJSONByte(dst, c)
	}
	return dst
}

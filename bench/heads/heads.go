// Package heads holds request heads of real clients, byte for byte, and
// varies them the way they vary across a fleet of users, for the bench's load
// clients (ssegw-bench hold --head chromium) and the head store's tests.
//
// chromium-eventsource.http is the head headless Chromium's EventSource sent
// on a same-origin page carrying a realistic first-party cookie (a
// Django-style session and CSRF token, Google Analytics' two cookies, two
// preferences: a 197-byte Cookie value in a 785-byte head).
// clients.TestChromium captures it from the real browser on every run, checks
// that the committed file still matches what this Chromium sends, and
// rewrites it with SSEGW_UPDATE_HEADS=1.
//
// What varies from one user to the next (Template.Vary): every run of at
// least 6 digits in the request-target and the Referer (the room a page
// shows), and every run of at least 6 letters and digits in a cookie value
// (session ids, tokens, analytics ids and timestamps). Short values (a
// theme, a language, GA's "GA1.1." prefix) stay, as they are the same for
// many users. Equal bytes vary alike: the room in the URL and in the Referer
// stay the same room.
//
// Everything here is plain data and pure functions; safe for concurrent use.
package heads

import (
	"bytes"
	_ "embed"
	"errors"
	"math/rand/v2"
)

//go:embed chromium-eventsource.http
var chromiumEventSource []byte

// ChromiumFile is the captured head's file name in this package's directory.
const ChromiumFile = "chromium-eventsource.http"

// ChromiumRaw returns the captured head exactly as Chromium sent it.
func ChromiumRaw() []byte { return bytes.Clone(chromiumEventSource) }

// Span is a run of a head's bytes that differs from user to user.
type Span struct {
	Off   int `json:"off"`
	Len   int `json:"len"`
	Group int `json:"group"` // spans of one group hold the same bytes
}

// Template is a head and the spans of it that vary.
type Template struct {
	Head  []byte `json:"head"`
	Spans []Span `json:"spans,omitempty"`
}

// ErrNotAHead means the bytes are not a request head this package can read.
var ErrNotAHead = errors.New("heads: not a request head with a request line and a Host line")

// minURLRun and minCookieRun are the shortest runs that vary (see the
// package doc): a room or user id in a URL, an id or token in a cookie.
const (
	minURLRun    = 6
	minCookieRun = 6
)

// Chromium returns the captured Chromium head as sent to host (its Host
// line and the Referer's authority name host instead of the capture's
// address), with its per-user spans.
func Chromium(host string) (*Template, error) {
	return FromHead(chromiumEventSource, host)
}

// FromHead makes a template of a captured head: Host and the Referer's and
// Origin's authority are set to host (when host is not empty), and the
// per-user spans found.
func FromHead(raw []byte, host string) (*Template, error) {
	lines := bytes.SplitAfter(raw, []byte("\n"))
	if len(lines) < 3 || !bytes.HasSuffix(raw, []byte("\r\n\r\n")) {
		return nil, ErrNotAHead
	}
	var out []byte
	var spans []Span
	groups := map[string]int{}
	mark := func(off int, value []byte, run int, isRunByte func(byte) bool) {
		for i := 0; i < len(value); {
			if !isRunByte(value[i]) {
				i++
				continue
			}
			j := i
			for j < len(value) && isRunByte(value[j]) {
				j++
			}
			if j-i >= run {
				g, ok := groups[string(value[i:j])]
				if !ok {
					g = len(groups) + 1
					groups[string(value[i:j])] = g
				}
				spans = append(spans, Span{Off: off + i, Len: j - i, Group: g})
			}
			i = j
		}
	}
	sawHost := false
	for i, line := range lines {
		name, value, ok := bytes.Cut(line, []byte(": "))
		switch {
		case i == 0:
			_, rest, _ := bytes.Cut(line, []byte(" "))
			target, _, _ := bytes.Cut(rest, []byte(" "))
			mark(len(out)+len(line)-len(rest), target, minURLRun, isDigit)
		case !ok:
		case bytes.EqualFold(name, []byte("host")):
			sawHost = true
			if host != "" {
				line = []byte(string(name) + ": " + host + "\r\n")
			}
		case bytes.EqualFold(name, []byte("referer")), bytes.EqualFold(name, []byte("origin")):
			value = withAuthority(value, host)
			line = append(append(bytes.Clone(name), ": "...), value...)
			mark(len(out)+len(name)+2, value, minURLRun, isDigit)
		case bytes.EqualFold(name, []byte("cookie")):
			off := len(out) + len(name) + 2
			for _, pair := range bytes.SplitAfter(value, []byte(";")) {
				if _, v, ok := bytes.Cut(pair, []byte("=")); ok {
					mark(off+len(pair)-len(v), v, minCookieRun, isAlnum)
				}
				off += len(pair)
			}
		}
		out = append(out, line...)
	}
	if !sawHost {
		return nil, ErrNotAHead
	}
	return &Template{Head: out, Spans: spans}, nil
}

// Valid reports whether every span lies inside the head and the spans of a
// group have one length (a template that came through JSON from another
// process is checked before use).
func (t *Template) Valid() bool {
	lens := map[int]int{} // group -> span length
	for _, s := range t.Spans {
		if s.Off < 0 || s.Len < 0 || s.Off+s.Len > len(t.Head) {
			return false
		}
		if n, ok := lens[s.Group]; ok && n != s.Len {
			return false
		}
		lens[s.Group] = s.Len
	}
	return len(t.Head) > 0
}

// withAuthority replaces the authority of an absolute URL value
// ("http://a:1/p\r\n") by host; other values are returned as they are.
func withAuthority(value []byte, host string) []byte {
	scheme, rest, ok := bytes.Cut(value, []byte("://"))
	if host == "" || !ok {
		return value
	}
	end := bytes.IndexAny(rest, "/\r\n")
	if end < 0 {
		return value
	}
	return append(append(append(bytes.Clone(scheme), "://"...), host...), rest[end:]...)
}

// Vary appends to dst a copy of the head with every span filled with fresh
// random bytes of the same kind (a digit for a digit, a lower-case letter
// for one, an upper-case letter for one), so the head keeps its length and
// shape. Spans of one group get the same bytes.
func (t *Template) Vary(dst []byte, rng *rand.Rand) []byte {
	start := len(dst)
	dst = append(dst, t.Head...)
	h := dst[start:]
	first := map[int]int{} // group -> offset of its first span
	for _, s := range t.Spans {
		if at, ok := first[s.Group]; ok {
			copy(h[s.Off:s.Off+s.Len], h[at:at+s.Len])
			continue
		}
		first[s.Group] = s.Off
		for i := s.Off; i < s.Off+s.Len; i++ {
			h[i] = randomLike(h[i], rng)
		}
	}
	return dst
}

func randomLike(c byte, rng *rand.Rand) byte {
	switch {
	case isDigit(c):
		return '0' + byte(rng.IntN(10))
	case 'a' <= c && c <= 'z':
		return 'a' + byte(rng.IntN(26))
	case 'A' <= c && c <= 'Z':
		return 'A' + byte(rng.IntN(26))
	}
	return c
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isAlnum(c byte) bool {
	return isDigit(c) || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

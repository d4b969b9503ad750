package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
)

// Wire limits.
const (
	// maxChannelToken bounds the channel part of a subject: the broker's
	// control line (default 4 KiB) holds the whole subject, so longer names
	// are hashed (see the package doc).
	maxChannelToken = 256
	// tokenLen is a token's text form (a UUID).
	tokenLen = 36
	// recordHead is a record's fixed part without the length digits:
	// kind, space, token, space, newline.
	recordHead = 1 + 1 + tokenLen + 1 + 1
	// maxLenDigits bounds a record's length field (a message is at most the
	// broker's max payload, well under 10^10 bytes).
	maxLenDigits = 10
)

// Record kinds and reply codes (package doc).
const (
	kindSend      = 'S'
	kindSendClose = 'C'

	replyOK         = 'o'
	replyBuffered   = 'b'
	replyNotFound   = 'n'
	replyBufferFull = 'f'
	replyBusy       = 'u'
	replyMalformed  = '!'
)

// closeHeader marks a channel message that ends each stream after it.
const closeHeader = "Ssegw-Close"

// Subject segments under the prefix.
const (
	channelSegment = ".ch."
	nodeSegment    = ".node."
)

// Errors of the node-subject format.
var (
	ErrBadRecord = errors.New("cluster: malformed command record")
	ErrBadReply  = errors.New("cluster: malformed reply from the owning gateway")
)

// ChannelSubject is the subject a channel's publishes travel on.
func ChannelSubject(prefix, channel string) string {
	return prefix + channelSegment + channelToken(channel)
}

// NodeSubject is the subject of the commands for streams held by node id.
func NodeSubject(prefix string, id uint16) string {
	return prefix + nodeSegment + strconv.Itoa(int(id))
}

// channelToken encodes a channel name as one subject token.
func channelToken(name string) string {
	if name == "" {
		return "%"
	}
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c > ' ' && c < 0x7f && c != '.' && c != '*' && c != '>' && c != '%' && c != '#' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	if b.Len() > maxChannelToken {
		sum := sha256.Sum256([]byte(name))
		return "#" + hex.EncodeToString(sum[:])
	}
	return b.String()
}

// validPrefix reports whether p is usable as a subject prefix: dot-separated
// non-empty tokens without whitespace or wildcards.
func validPrefix(p string) bool {
	if p == "" {
		return false
	}
	for _, tok := range strings.Split(p, ".") {
		if tok == "" || strings.ContainsAny(tok, " \t\r\n*>") {
			return false
		}
	}
	return true
}

// appendRecord appends one send record.
func appendRecord(b []byte, token string, msg []byte, close bool) []byte {
	kind := byte(kindSend)
	if close {
		kind = kindSendClose
	}
	b = append(b, kind, ' ')
	b = append(b, token...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(msg)), 10)
	b = append(b, '\n')
	return append(b, msg...)
}

// recordSize is what appendRecord adds.
func recordSize(msg []byte) int { return recordHead + maxLenDigits + len(msg) }

// record is one parsed send record; msg aliases the request payload.
type record struct {
	token string
	msg   []byte
	close bool
}

// parseRecords reads a node-subject payload.
func parseRecords(p []byte, out []record) ([]record, error) {
	for len(p) > 0 {
		if len(p) < recordHead+1 || (p[0] != kindSend && p[0] != kindSendClose) || p[1] != ' ' || p[2+tokenLen] != ' ' {
			return out, ErrBadRecord
		}
		r := record{token: string(p[2 : 2+tokenLen]), close: p[0] == kindSendClose}
		p = p[3+tokenLen:]
		nl := -1
		for i := 0; i < len(p) && i <= maxLenDigits; i++ {
			if p[i] == '\n' {
				nl = i
				break
			}
		}
		if nl <= 0 {
			return out, ErrBadRecord
		}
		n, err := strconv.Atoi(string(p[:nl]))
		if err != nil || n < 0 || n > len(p)-nl-1 {
			return out, ErrBadRecord
		}
		r.msg = p[nl+1 : nl+1+n]
		p = p[nl+1+n:]
		out = append(out, r)
	}
	return out, nil
}

package loop

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
)

// token is a stream's identity: a UUID v4, kept as 16 bytes and shown to the
// backend (never to the client) in its lowercase text form.
//
// It is also the stream's address. Byte 0 is the index of the stream's event
// loop, bytes 1-4 its slot in that loop's connection slab (big-endian), bytes 5
// and 7 the gateway's node id (cluster mode routes a command to the gateway
// that holds the stream); the other 66 bits that are not the UUID's version
// and variant are random. A control command therefore goes straight to the
// owning loop, which finds the connection in its slab and compares the whole
// token (a reused slot has a different random part). There is no shared token
// map: nothing to lock, and no map entry per stream.
type token [16]byte

// tokenRandomFrom is the first byte of the token's random part (byte 7 is
// overwritten by the node id's low byte).
const tokenRandomFrom = 6

func (t token) node() uint16 { return uint16(t[5])<<8 | uint16(t[7]) }

// TokenNode returns the node id carried by a token's text form.
func TokenNode(s string) (uint16, bool) {
	t, err := parseToken(s)
	if err != nil {
		return 0, false
	}
	return t.node(), true
}

func (t token) loopIndex() int { return int(t[0]) }

func (t token) slot() uint32 {
	return uint32(t[1])<<24 | uint32(t[2])<<16 | uint32(t[3])<<8 | uint32(t[4])
}

// tokenSource hands out tokens from a buffer of random bytes refilled in bulk,
// so a connect does not cost a getrandom call. One per loop, loop goroutine only.
type tokenSource struct {
	buf [4096]byte
	off int
}

// next makes the token of the connection in slab slot slot of loop loopIdx
// on gateway node.
func (s *tokenSource) next(node uint16, loopIdx int, slot uint32) token {
	const random = len(token{}) - tokenRandomFrom
	if s.off == 0 || s.off+random > len(s.buf) {
		if _, err := rand.Read(s.buf[:]); err != nil {
			panic("crypto/rand failed: " + err.Error()) // the OS RNG never fails on Linux
		}
		s.off = 0
	}
	var t token
	t[0] = byte(loopIdx)
	t[1], t[2], t[3], t[4] = byte(slot>>24), byte(slot>>16), byte(slot>>8), byte(slot)
	copy(t[tokenRandomFrom:], s.buf[s.off:s.off+random])
	s.off += random
	t[5], t[7] = byte(node>>8), byte(node)
	t[6] = t[6]&0x0f | 0x40 // version 4
	t[8] = t[8]&0x3f | 0x80 // RFC 4122 variant
	return t
}

// String formats the token as a lowercase UUID.
func (t token) String() string {
	var b [36]byte
	t.appendTo(b[:0])
	return string(b[:])
}

func (t token) appendTo(dst []byte) []byte {
	var b [36]byte
	hex.Encode(b[0:8], t[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], t[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], t[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], t[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], t[10:16])
	return append(dst, b[:]...)
}

// errBadToken means a string is not a UUID in the form the gateway issues.
var errBadToken = errors.New("not a gateway token")

// parseToken reads a UUID in 8-4-4-4-12 form (either case).
func parseToken(s string) (token, error) {
	var t token
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return t, errBadToken
	}
	j := 0
	for i := 0; i < 36; i += 2 {
		if s[i] == '-' {
			i--
			continue
		}
		hi, ok1 := unhex(s[i])
		lo, ok2 := unhex(s[i+1])
		if !ok1 || !ok2 {
			return t, errBadToken
		}
		t[j] = hi<<4 | lo
		j++
	}
	return t, nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

package history

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"math"
)

// Position is a point in one history: the epoch names the history (drawn when
// a gateway starts; in cluster mode derived from the JetStream stream's
// identity), Seq counts its messages from 1 (0 is "before the first").
type Position struct {
	Epoch uint64 // < MaxEpoch
	Seq   uint64
}

// The text form (CONTRACT.md section 9: at most 64 bytes of A-Za-z0-9._-):
//
//	EEEEEEEE-SSSSSSSSSSS
//
// the epoch in epochDigits and the sequence in seqDigits base-62 digits
// ("0-9A-Za-z", which ASCII orders like their values), zero-padded, joined by
// '-'. Fixed width makes byte order equal position order within an epoch, so
// a backend may sort or compare ids as strings; 20 bytes keep the `id:` line
// of every event short.
const (
	epochDigits = 8
	seqDigits   = 11 // 62^11 > 2^64
	PositionLen = epochDigits + 1 + seqDigits
	digits      = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	// MaxEpoch bounds epochs: 62^8 (about 2^47.6), what epochDigits hold.
	MaxEpoch uint64 = 62 * 62 * 62 * 62 * 62 * 62 * 62 * 62
)

// ErrMalformedPosition is ParsePosition's error for anything that is not a
// position's text form (the resync reason is "unknown").
var ErrMalformedPosition = errors.New("history: malformed position")

// AppendText appends the text form to b.
func (p Position) AppendText(b []byte) []byte {
	var t [PositionLen]byte
	putBase62(t[:epochDigits], p.Epoch)
	t[epochDigits] = '-'
	putBase62(t[epochDigits+1:], p.Seq)
	return append(b, t[:]...)
}

// AppendIDField appends the SSE field that names p, "id: <text>\n": put
// in front of a stored message (cluster mode stores messages without it),
// it makes the frame a stream receives (CONTRACT.md section 7: id first).
func (p Position) AppendIDField(b []byte) []byte {
	b = append(b, "id: "...)
	return append(p.AppendText(b), '\n')
}

// String is the text form.
func (p Position) String() string { return string(p.AppendText(nil)) }

// putBase62 writes v into dst, most significant digit first, zero-padded
// (the caller picks a width that holds v).
func putBase62(dst []byte, v uint64) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = digits[v%62]
		v /= 62
	}
}

// ParsePosition reads a position's text form; anything else is
// ErrMalformedPosition (wrong length, a byte outside the digits, a sequence
// above 2^64-1). It does not allocate.
func ParsePosition(s string) (Position, error) {
	if len(s) != PositionLen || s[epochDigits] != '-' {
		return Position{}, ErrMalformedPosition
	}
	e, ok := parseBase62(s[:epochDigits])
	if !ok {
		return Position{}, ErrMalformedPosition
	}
	q, ok := parseBase62(s[epochDigits+1:])
	if !ok {
		return Position{}, ErrMalformedPosition
	}
	return Position{Epoch: e, Seq: q}, nil
}

func parseBase62(s string) (uint64, bool) {
	var v uint64
	for i := 0; i < len(s); i++ {
		d := digitValue(s[i])
		if d < 0 {
			return 0, false
		}
		if v > (math.MaxUint64-uint64(d))/62 {
			return 0, false
		}
		v = v*62 + uint64(d)
	}
	return v, true
}

func digitValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'Z':
		return int(c-'A') + 10
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 36
	}
	return -1
}

// NewEpoch draws a random epoch in [1, MaxEpoch): a restarted gateway draws
// another one, so positions of the previous process are recognised as
// "another history" (the chance of drawing the same one is about 2^-47).
func NewEpoch() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("history: no randomness for an epoch: " + err.Error()) // crypto/rand never fails on Linux
	}
	return EpochOf(binary.LittleEndian.Uint64(b[:]))
}

// EpochOf maps any 64-bit value (a random draw, a store's identity such as
// a creation time) into the epoch range [1, MaxEpoch). It mixes the bits
// first (the splitmix64 finaliser), so inputs that differ in a few low bits
// give unrelated epochs.
func EpochOf(v uint64) uint64 {
	v ^= v >> 30
	v *= 0xbf58476d1ce4e5b9
	v ^= v >> 27
	v *= 0x94d049bb133111eb
	v ^= v >> 31
	return 1 + v%(MaxEpoch-1)
}

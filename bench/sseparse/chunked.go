package sseparse

import "errors"

// maxChunkSizeDigits bounds the hex size of one chunk (16 digits fill uint64).
const maxChunkSizeDigits = 16

// maxTrailerBytes bounds the trailer section after the last chunk.
const maxTrailerBytes = 16 << 10

var (
	// ErrBadChunk reports malformed chunked framing.
	ErrBadChunk = errors.New("sseparse: malformed chunked encoding")
	// ErrTrailerTooLarge reports a trailer section over maxTrailerBytes.
	ErrTrailerTooLarge = errors.New("sseparse: chunked trailer too large")
)

// Sink takes decoded body bytes (a *Parser is one).
type Sink interface {
	Feed(b []byte) error
}

type chunkState uint8

const (
	stSize chunkState = iota
	stExt
	stSizeLF
	stData
	stDataCR
	stDataLF
	stTrailer
	stDone
)

// ChunkDecoder removes HTTP/1.1 chunked framing (RFC 9112 section 7.1),
// incrementally. The zero value is ready to use.
type ChunkDecoder struct {
	state    chunkState
	size     uint64
	digits   int
	trailerN int // bytes of the current trailer line
	trailerT int // bytes of trailer in total
	err      error
}

// Done reports whether the terminating chunk and trailer were read.
func (d *ChunkDecoder) Done() bool { return d.state == stDone }

// Feed decodes b and passes every body piece to sink. Bytes after the end of
// the body are ignored.
func (d *ChunkDecoder) Feed(b []byte, sink Sink) error {
	for len(b) > 0 && d.err == nil && d.state != stDone {
		if d.state == stData {
			n := uint64(len(b))
			if n > d.size {
				n = d.size
			}
			if err := sink.Feed(b[:n]); err != nil {
				return err
			}
			d.size -= n
			b = b[n:]
			if d.size == 0 {
				d.state = stDataCR
			}
			continue
		}
		d.step(b[0])
		b = b[1:]
	}
	return d.err
}

// step advances the framing state machine by one byte outside chunk data.
func (d *ChunkDecoder) step(c byte) {
	switch d.state {
	case stSize:
		d.sizeByte(c)
	case stExt:
		if c == '\r' {
			d.state = stSizeLF
		} else if c == '\n' {
			d.endSizeLine()
		}
	case stSizeLF:
		if c != '\n' {
			d.err = ErrBadChunk
			return
		}
		d.endSizeLine()
	case stDataCR:
		switch c {
		case '\r':
			d.state = stDataLF
		case '\n':
			d.state = stSize
		default:
			d.err = ErrBadChunk
		}
	case stDataLF:
		if c != '\n' {
			d.err = ErrBadChunk
			return
		}
		d.state = stSize
	case stTrailer:
		d.trailerByte(c)
	}
}

func (d *ChunkDecoder) sizeByte(c byte) {
	v, ok := hexVal(c)
	switch {
	case ok:
		if d.digits == maxChunkSizeDigits {
			d.err = ErrBadChunk
			return
		}
		d.size = d.size<<4 | uint64(v)
		d.digits++
	case d.digits == 0:
		d.err = ErrBadChunk
	case c == ';' || c == ' ' || c == '\t':
		d.state = stExt
	case c == '\r':
		d.state = stSizeLF
	case c == '\n':
		d.endSizeLine()
	default:
		d.err = ErrBadChunk
	}
}

func (d *ChunkDecoder) endSizeLine() {
	d.digits = 0
	if d.size == 0 {
		d.state = stTrailer
		return
	}
	d.state = stData
}

func (d *ChunkDecoder) trailerByte(c byte) {
	d.trailerT++
	if d.trailerT > maxTrailerBytes {
		d.err = ErrTrailerTooLarge
		return
	}
	switch c {
	case '\r':
	case '\n':
		if d.trailerN == 0 {
			d.state = stDone
		}
		d.trailerN = 0
	default:
		d.trailerN++
	}
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

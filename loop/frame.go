package loop

import (
	"strconv"
	"sync/atomic"

	"github.com/valyala/bytebufferpool"

	"ssegw/sse"
)

// Frame is one encoded SSE message, shared by every connection it is written
// to. Its buffer holds the message wrapped as one HTTP chunk
// ("<hex len>\r\n<message>\r\n"); HTTP/1.0 streams get the message alone, a
// sub-slice of the same bytes. It is encoded once, off the loops, and returned
// to the pool when the last loop that writes it is done (gnet's Write copies
// what it cannot send at once, so the bytes are free as soon as Write returns).
type Frame struct {
	buf        *bytebufferpool.ByteBuffer
	chunkStart int
	msgStart   int
	msgEnd     int
	refs       atomic.Int32
}

var framePool bytebufferpool.Pool

// chunkPrefixMax is room for the hex length and CRLF in front of a message:
// 16 hex digits cover any length.
const chunkPrefixMax = 16 + 2

// NewFrame encodes ev in format f. The frame starts with one reference.
func NewFrame(ev *sse.Event, f sse.Format) *Frame {
	return newFrameFunc(func(dst []byte) []byte { return sse.AppendEvent(dst, ev, f) })
}

// NewRawFrame wraps an already encoded SSE message (a frame forwarded from
// another gateway, whose Message it was).
func NewRawFrame(msg []byte) *Frame { return newRawFrame(msg) }

// newRawFrame wraps fixed message bytes (ready, heartbeat, retry hints).
func newRawFrame(msg []byte) *Frame {
	return newFrameFunc(func(dst []byte) []byte { return append(dst, msg...) })
}

func newFrameFunc(encode func([]byte) []byte) *Frame {
	fr := &Frame{buf: framePool.Get()}
	fr.refs.Store(1)
	b := append(fr.buf.B[:0], make([]byte, chunkPrefixMax)...)
	b = encode(b)
	msgLen := len(b) - chunkPrefixMax
	var hexLen [18]byte
	h := strconv.AppendInt(hexLen[:0], int64(msgLen), 16)
	h = append(h, '\r', '\n')
	fr.msgStart = chunkPrefixMax
	copy(b[chunkPrefixMax-len(h):], h)
	fr.buf.B = append(b, '\r', '\n')
	fr.msgEnd = fr.msgStart + msgLen
	fr.chunkStart = chunkPrefixMax - len(h)
	return fr
}

// bytes returns what to write to a stream: the chunk for HTTP/1.1, the bare
// message for HTTP/1.0.
func (fr *Frame) bytes(chunked bool) []byte {
	if chunked {
		return fr.buf.B[fr.chunkStart:]
	}
	return fr.buf.B[fr.msgStart:fr.msgEnd]
}

// Message returns the bare SSE message.
func (fr *Frame) Message() []byte { return fr.buf.B[fr.msgStart:fr.msgEnd] }

// Retain adds n references (one per loop that will write it).
func (fr *Frame) Retain(n int32) { fr.refs.Add(n) }

// Release drops one reference; the last one returns the buffer to the pool.
func (fr *Frame) Release() {
	if fr.refs.Add(-1) == 0 {
		framePool.Put(fr.buf)
		fr.buf = nil
	}
}

package frame

import (
	"strconv"
	"sync/atomic"
	"unsafe"

	"github.com/valyala/bytebufferpool"

	"ssegw/sse"
)

// Frame is one encoded SSE message, shared by every stream it is written to
// (package doc).
type Frame struct {
	buf        *bytebufferpool.ByteBuffer
	chunkStart int
	msgStart   int
	msgEnd     int
	refs       atomic.Int32
}

var pool bytebufferpool.Pool

// chunkPrefixMax is room for the hex length and CRLF in front of a message:
// 16 hex digits cover any length.
const chunkPrefixMax = 16 + 2

// overhead is the memory a frame holds besides its buffer's capacity: the
// Frame and the pool's ByteBuffer header.
const overhead = int(unsafe.Sizeof(Frame{}) + unsafe.Sizeof(bytebufferpool.ByteBuffer{}))

// New encodes ev in format f. The frame starts with one reference.
func New(ev *sse.Event, f sse.Format) *Frame {
	return newFunc(func(dst []byte) []byte { return sse.AppendEvent(dst, ev, f) })
}

// NewRaw wraps an already encoded SSE message (a fixed message such as a
// heartbeat, or a message forwarded from another gateway). msg is copied. The
// frame starts with one reference.
func NewRaw(msg []byte) *Frame {
	return newFunc(func(dst []byte) []byte { return append(dst, msg...) })
}

// newFunc builds the chunk around what encode appends (package doc, Layout).
func newFunc(encode func([]byte) []byte) *Frame {
	fr := &Frame{buf: pool.Get()}
	fr.refs.Store(1)
	b := append(fr.buf.B[:0], make([]byte, chunkPrefixMax)...)
	b = encode(b)
	msgLen := len(b) - chunkPrefixMax
	var hexLen [chunkPrefixMax]byte
	h := strconv.AppendInt(hexLen[:0], int64(msgLen), 16)
	h = append(h, '\r', '\n')
	fr.msgStart = chunkPrefixMax
	copy(b[chunkPrefixMax-len(h):], h)
	fr.buf.B = append(b, '\r', '\n')
	fr.msgEnd = fr.msgStart + msgLen
	fr.chunkStart = chunkPrefixMax - len(h)
	return fr
}

// Bytes returns what to write to a stream: the chunk for HTTP/1.1 (chunked
// true), the bare message for HTTP/1.0.
func (fr *Frame) Bytes(chunked bool) []byte {
	if chunked {
		return fr.buf.B[fr.chunkStart:]
	}
	return fr.buf.B[fr.msgStart:fr.msgEnd]
}

// Message returns the bare SSE message.
func (fr *Frame) Message() []byte { return fr.buf.B[fr.msgStart:fr.msgEnd] }

// Size is the memory the frame holds while it is alive: its buffer's capacity
// (a pooled buffer may be larger than the message) plus the Frame and buffer
// headers. History charges it against HISTORY_MAX_BYTES.
func (fr *Frame) Size() int { return cap(fr.buf.B) + overhead }

// Retain adds n references (one per further holder: a loop that will write
// it, a history entry that keeps it).
func (fr *Frame) Retain(n int32) { fr.refs.Add(n) }

// Release drops one reference; the last one returns the buffer to the pool.
func (fr *Frame) Release() {
	if fr.refs.Add(-1) == 0 {
		pool.Put(fr.buf)
		fr.buf = nil
	}
}

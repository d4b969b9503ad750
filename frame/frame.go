package frame

import (
	"math"
	"strconv"
	"sync/atomic"
	"unsafe"

	"github.com/valyala/bytebufferpool"

	"ssegw/sse"
)

// Frame is one encoded SSE message, shared by every stream it is written to
// (package doc). 48 bytes besides its buffer.
type Frame struct {
	b          []byte                     // the chunk, at b[chunkStart:]
	pb         *bytebufferpool.ByteBuffer // b's pooled buffer; nil for a compact frame
	chunkStart int32
	msgStart   int32
	msgEnd     int32
	refs       atomic.Int32
}

var pool bytebufferpool.Pool

// chunkPrefixMax is room for the hex length and CRLF in front of a message:
// 16 hex digits cover any length.
const chunkPrefixMax = 16 + 2

// maxMessage bounds a message: offsets are int32 (the control port takes
// bodies of at most 1 MiB, the broker's max payload is at most 64 MiB).
const maxMessage = math.MaxInt32 - chunkPrefixMax - 2

// Memory a frame holds besides its buffer's capacity.
var (
	frameHeader  = int(unsafe.Sizeof(Frame{}))
	pooledHeader = frameHeader + int(unsafe.Sizeof(bytebufferpool.ByteBuffer{}))
)

// New encodes ev in format f into a pooled buffer. The frame starts with one
// reference.
func New(ev *sse.Event, f sse.Format) *Frame {
	return newPooled(func(dst []byte) []byte { return sse.AppendEvent(dst, ev, f) })
}

// NewRaw wraps an already encoded SSE message (a fixed message such as a
// heartbeat, or a message forwarded from another gateway) in a pooled
// buffer. msg is copied. The frame starts with one reference.
func NewRaw(msg []byte) *Frame {
	return newPooled(func(dst []byte) []byte { return append(dst, msg...) })
}

// NewCompact is New for a frame that lives long (one kept in history): the
// chunk is copied out of the pooled scratch buffer into a buffer of its own
// size, so the frame holds the message's bytes rounded up to the
// allocator's size class instead of a pooled buffer sized for the pool's
// typical message (for a 130-byte event: 144 bytes instead of 256). Its
// last Release leaves the buffer to the garbage collector.
func NewCompact(ev *sse.Event, f sse.Format) *Frame {
	return compact(New(ev, f))
}

// NewCompactRaw is NewRaw for a frame that lives long (see NewCompact).
func NewCompactRaw(msg []byte) *Frame { return compact(NewRaw(msg)) }

// newPooled builds the chunk around what encode appends (package doc, Layout).
func newPooled(encode func([]byte) []byte) *Frame {
	pb := pool.Get()
	b := append(pb.B[:0], make([]byte, chunkPrefixMax)...)
	b = encode(b)
	msgLen := len(b) - chunkPrefixMax
	if msgLen > maxMessage {
		panic("frame: message larger than 2 GiB")
	}
	var hexLen [chunkPrefixMax]byte
	h := strconv.AppendInt(hexLen[:0], int64(msgLen), 16)
	h = append(h, '\r', '\n')
	copy(b[chunkPrefixMax-len(h):], h)
	b = append(b, '\r', '\n')
	pb.B = b
	fr := &Frame{b: b, pb: pb, chunkStart: int32(chunkPrefixMax - len(h)), msgStart: chunkPrefixMax, msgEnd: int32(chunkPrefixMax + msgLen)}
	fr.refs.Store(1)
	return fr
}

// compact moves a fresh pooled frame's chunk into an exact-size buffer.
func compact(fr *Frame) *Frame {
	chunk := fr.b[fr.chunkStart:]
	b := append([]byte(nil), chunk...) // append rounds the capacity up to what was allocated
	pool.Put(fr.pb)
	fr.msgStart -= fr.chunkStart
	fr.msgEnd -= fr.chunkStart
	fr.b, fr.pb, fr.chunkStart = b, nil, 0
	return fr
}

// Bytes returns what to write to a stream: the chunk for HTTP/1.1 (chunked
// true), the bare message for HTTP/1.0.
func (fr *Frame) Bytes(chunked bool) []byte {
	if chunked {
		return fr.b[fr.chunkStart:]
	}
	return fr.b[fr.msgStart:fr.msgEnd]
}

// Message returns the bare SSE message.
func (fr *Frame) Message() []byte { return fr.b[fr.msgStart:fr.msgEnd] }

// Size is the memory the frame holds while it is alive: its buffer's
// capacity plus the Frame (and, when pooled, the pool's ByteBuffer) header.
// History charges it against HISTORY_MAX_BYTES.
func (fr *Frame) Size() int {
	if fr.pb != nil {
		return cap(fr.b) + pooledHeader
	}
	return cap(fr.b) + frameHeader
}

// Retain adds n references (one per further holder: a loop that will write
// it, a history entry that keeps it).
func (fr *Frame) Retain(n int32) { fr.refs.Add(n) }

// Refs is the current number of references (leak checks in tests).
func (fr *Frame) Refs() int32 { return fr.refs.Load() }

// Release drops one reference; the last one returns a pooled buffer to the
// pool (a compact frame's to the garbage collector).
func (fr *Frame) Release() {
	if fr.refs.Add(-1) == 0 {
		if fr.pb != nil {
			pool.Put(fr.pb)
		}
		fr.b, fr.pb = nil, nil
	}
}

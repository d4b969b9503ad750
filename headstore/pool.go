package headstore

import "math/bits"

// A stream's plain head lives only while its connect callback is pending;
// then Keep makes the compact form and the plain copy is done with. In a
// connect storm that is one dead copy per stream, the biggest allocation a
// stream makes, so the store recycles them: Plain copies a head into a
// buffer from its pool, Recycle gives the buffer back once Keep is done.
const (
	// minPooled and maxPooled bound the heads whose copies are pooled, in
	// power-of-two size classes: a short head costs little to allocate (and
	// would waste a class's slack), a head past 16 KiB (MAX_HEADER_BYTES'
	// default) is rare.
	minPooled = 256
	maxPooled = 16 << 10

	// maxPoolBytes bounds the pool of one store: the buffers of the connects
	// pending at once in a storm (10,000 a second against a backend that
	// answers in 50 ms is 500 heads of 1-2 KiB). Past it a buffer is garbage,
	// as any copy was before.
	maxPoolBytes = 1 << 20
)

var poolClasses = bits.Len(maxPooled/minPooled-1) + 1

type pool struct {
	free  [][][]byte // by class: buffers of minPooled<<class bytes
	bytes int
}

// class is the size class of n bytes (ok false: not pooled).
func class(n int) (int, bool) {
	if n < minPooled || n > maxPooled {
		return 0, false
	}
	return bits.Len(uint((n - 1) / minPooled)), true
}

// Plain returns a copy of head for the stream to keep while its connect
// callback is pending (the callback worker reads it).
func (s *Store) Plain(head []byte) []byte {
	c, ok := class(len(head))
	if !ok {
		return append(make([]byte, 0, len(head)), head...)
	}
	p := &s.pool
	if p.free == nil {
		p.free = make([][][]byte, poolClasses)
	}
	var b []byte
	if n := len(p.free[c]); n > 0 {
		b = p.free[c][n-1]
		p.free[c][n-1] = nil
		p.free[c] = p.free[c][:n-1]
		p.bytes -= cap(b)
	} else {
		b = make([]byte, 0, minPooled<<c)
	}
	return append(b[:0], head...)
}

// Recycle gives back a copy Plain made, once nothing reads it any more (the
// loop calls it after Keep: the connect callback was sent, and the stream
// keeps its compact form).
func (s *Store) Recycle(plain []byte) {
	c, ok := class(len(plain))
	p := &s.pool
	if !ok || cap(plain) != minPooled<<c || p.free == nil || p.bytes+cap(plain) > maxPoolBytes {
		return
	}
	p.free[c] = append(p.free[c], plain[:0])
	p.bytes += cap(plain)
}

package headstore

import (
	"bytes"
	"encoding/binary"
)

// The first byte of a kept form. A head that httpparse accepted never starts
// with a control byte, so Take tells a kept form from a plain head by it.
const (
	formCompact = 0x00 // Full: the pieces (see encoder)
	formURL     = 0x01 // URL: the raw request-target
)

// Store keeps the request heads of one event loop's streams. It belongs to
// that loop's goroutine: no locks, no goroutines.
type Store struct {
	mode Mode
	t    *table
	enc  encoder // scratch, reused by every Keep
	line []byte  // scratch of Target
	pool pool    // plain copies of pending heads, recycled (pool.go)
}

// New makes the Store of one event loop.
func New(m Mode) *Store { return newStore(m, defaultLimits) }

func newStore(m Mode, l limits) *Store { return &Store{mode: m, t: newTable(l)} }

// Mode is what the store keeps.
func (s *Store) Mode() Mode { return s.mode }

// Keep returns what a stream keeps of its request head in place of the plain
// copy: the compact form (Full), the request-target (URL) or nothing (None).
// head is not retained; the caller drops its plain copy. Every kept form must
// be handed back to Take exactly once, which releases it.
func (s *Store) Keep(head []byte) []byte {
	switch s.mode {
	case URL:
		t := target(head)
		return append(append(make([]byte, 0, 1+len(t)), formURL), t...)
	case None:
		return nil
	}
	return s.enc.compact(s.t, head)
}

// Take returns the bytes a disconnect callback carries for a stream and
// releases what Keep kept: the exact head (Full), the request-target (URL) or
// nil (None). kept is what Keep returned, or the plain head itself for a
// stream that never got to Keep (a client that left while its connect
// callback was pending). The result is a new slice or a part of kept, and is
// never written again.
func (s *Store) Take(kept []byte) []byte {
	if len(kept) == 0 {
		return nil
	}
	switch kept[0] {
	case formCompact:
		return s.restore(kept, true)
	case formURL:
		return kept[1:]
	}
	switch s.mode { // a plain head
	case URL:
		return target(kept)
	case None:
		return nil
	}
	return kept
}

// Target returns the request-target of a stream's head, whatever form its
// head is in (what Keep returned, or the plain head while its connect is
// pending); empty in None mode. The result may alias the store's scratch
// space: it is valid until the next call on the store.
func (s *Store) Target(kept []byte) []byte {
	if len(kept) == 0 {
		return nil
	}
	switch kept[0] {
	case formURL:
		return kept[1:]
	case formCompact:
		s.line = s.restoreLine(s.line[:0], kept)
		return target(s.line)
	}
	return target(kept)
}

// restoreLine appends the head of a compact form up to the end of its
// request line (the line after an empty first one).
func (s *Store) restoreLine(dst, kept []byte) []byte {
	start := len(dst)
	for p := 1; p < len(kept); {
		v, k := binary.Uvarint(kept[p:])
		p += k
		if v&1 == 1 {
			kind, n := int(v>>1)&3, int(v>>3)
			size := packedLen(kind, n)
			if kind == litRaw {
				dst = append(dst, kept[p:p+size]...)
			} else {
				dst = appendUnpacked(dst, kind, n, kept[p:p+size])
			}
			p += size
		} else {
			dst = append(dst, s.t.piece(uint32(v>>1))...)
		}
		if hasRequestLine(dst[start:]) {
			return dst
		}
	}
	return dst
}

// hasRequestLine reports whether b holds a whole request line (after the
// empty line a client may send first).
func hasRequestLine(b []byte) bool {
	line, rest := cutLine(b)
	if len(line) == len(b) {
		return false // no line feed yet
	}
	if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
		return bytes.IndexByte(rest, '\n') >= 0
	}
	return true
}

// Restore returns the exact head of a compact form without releasing it.
func (s *Store) Restore(kept []byte) []byte {
	if len(kept) == 0 || kept[0] != formCompact {
		return kept
	}
	return s.restore(kept, false)
}

func (s *Store) restore(kept []byte, release bool) []byte {
	out := make([]byte, 0, s.restoredLen(kept))
	for p := 1; p < len(kept); {
		v, k := binary.Uvarint(kept[p:])
		p += k
		if v&1 == 1 {
			kind, n := int(v>>1)&3, int(v>>3)
			size := packedLen(kind, n)
			if kind == litRaw {
				out = append(out, kept[p:p+size]...)
			} else {
				out = appendUnpacked(out, kind, n, kept[p:p+size])
			}
			p += size
			continue
		}
		id := uint32(v >> 1)
		out = append(out, s.t.piece(id)...)
		if release {
			s.t.release(id)
		}
	}
	return out
}

// restoredLen is the length of the head a compact form holds.
func (s *Store) restoredLen(kept []byte) int {
	n := 0
	for p := 1; p < len(kept); {
		v, k := binary.Uvarint(kept[p:])
		p += k
		if v&1 == 1 {
			kind, chars := int(v>>1)&3, int(v>>3)
			n += chars
			p += packedLen(kind, chars)
		} else {
			n += len(s.t.piece(uint32(v >> 1)))
		}
	}
	return n
}

// Stats describe a store's table.
type Stats struct {
	Pieces int // shared pieces
	Bytes  int // their bytes
	Refs   int // references that kept heads hold on them
}

// Stats reads the table's size; all zero once every kept head was taken.
func (s *Store) Stats() Stats {
	return Stats{Pieces: len(s.t.ids), Bytes: s.t.bytes, Refs: s.t.refs}
}

// target is the request-target of a head: the second word of its request
// line (after the one empty line a client may send first), or empty.
func target(head []byte) []byte {
	line, rest := cutLine(head)
	if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
		line, _ = cutLine(rest)
	}
	sp := indexByte(line, ' ')
	if sp < 0 {
		return nil
	}
	t := line[sp+1:]
	if sp2 := indexByte(t, ' '); sp2 >= 0 {
		return t[:sp2]
	}
	return nil
}

// cutLine splits b after its first line feed; line excludes the LF.
func cutLine(b []byte) (line, rest []byte) {
	if i := indexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

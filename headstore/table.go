package headstore

import "hash/maphash"

// table is a Store's shared pieces: each live piece once, with the number of
// references that kept heads hold on it. A piece whose last reference goes is
// dropped at once, so the table holds only what live streams use.
type table struct {
	ids     map[string]uint32 // piece -> id
	entries []entry           // by id
	free    []uint32          // ids of dropped pieces, reused first (small ids are short references)
	bytes   int               // sum of the live pieces' lengths
	refs    int               // sum of the live pieces' reference counts
	seen    [seenSlots]uint64 // hashes of pieces seen once and not yet shared (0: empty)
	seed    maphash.Seed
	limits  limits
	gen     uint32 // counts pieces added, so a stale id is told from a reused one
}

type entry struct {
	piece   string
	refs    uint32   // 0: the id is free
	gen     uint32   // table.gen when the piece was added
	members []uint32 // a block: the pieces it is made of, each holding a reference of the block's
	next    pieceRef // the block this piece began when last seen first in a run (a hint; may be stale)
}

// pieceRef names one piece as it was when named: a reused id has another gen.
type pieceRef struct{ id, gen uint32 }

// limits are the table's bounds (the constants in limits.go; tests lower them).
type limits struct {
	pieces, bytes, minPiece int
}

var defaultLimits = limits{pieces: maxPieces, bytes: maxTableBytes, minPiece: minPiece}

func newTable(l limits) *table {
	return &table{ids: make(map[string]uint32), seed: maphash.MakeSeed(), limits: l}
}

// ref returns the id of piece p with one more reference on it, sharing p
// now if this is the second time it is seen and there is room. ok is false
// when p stays in the caller's copy.
func (t *table) ref(p []byte) (id uint32, ok bool) {
	id, ok, _ = t.share(p, nil)
	return id, ok
}

// refBlock is ref for a block: p is the bytes of a run of references,
// members the references as written in a compact form. created says the
// block is new and holds the run's references on its members from now on.
func (t *table) refBlock(p, members []byte) (id uint32, ok, created bool) {
	return t.share(p, members)
}

func (t *table) share(p, members []byte) (id uint32, ok, created bool) {
	if len(p) < t.limits.minPiece {
		return 0, false, false
	}
	if id, ok := t.ids[string(p)]; ok {
		t.entries[id].refs++
		t.refs++
		return id, true, false
	}
	if len(t.ids) >= t.limits.pieces || t.bytes+len(p) > t.limits.bytes {
		return 0, false, false
	}
	if !t.seenBefore(t.hash(p)) {
		return 0, false, false // first sighting: shared next time
	}
	var ids []uint32
	if members != nil {
		forRefs(members, func(id uint32) { ids = append(ids, id) })
	}
	return t.add(string(p), ids), true, true
}

func (t *table) add(piece string, members []uint32) uint32 {
	var id uint32
	if n := len(t.free); n > 0 {
		id = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		id = uint32(len(t.entries))
		t.entries = append(t.entries, entry{})
	}
	t.gen++
	t.entries[id] = entry{piece: piece, refs: 1, gen: t.gen, members: members}
	t.ids[piece] = id
	t.bytes += len(piece)
	t.refs++
	return id
}

// release drops one reference on id; the piece goes with its last one (a
// block then releases its members). It is then marked as seen once, so the
// next stream that brings it shares it again at once.
func (t *table) release(id uint32) {
	e := &t.entries[id]
	e.refs--
	t.refs--
	if e.refs > 0 {
		return
	}
	delete(t.ids, e.piece)
	t.bytes -= len(e.piece)
	t.note(maphash.String(t.seed, e.piece) | 1)
	members := e.members
	*e = entry{}
	t.free = append(t.free, id)
	for _, m := range members { // a block lets go of its members
		t.release(m)
	}
}

// hint records that the run of pieces starting with piece first made up
// block.
func (t *table) hint(first, block uint32) {
	t.entries[first].next = pieceRef{block, t.entries[block].gen}
}

// hinted returns the block that the piece id began last time, with one more
// reference on it, if that block is still live and src starts with it.
func (t *table) hinted(id uint32, src []byte) (uint32, bool) {
	h := t.entries[id].next
	if h.gen == 0 || int(h.id) >= len(t.entries) {
		return 0, false
	}
	b := &t.entries[h.id]
	if b.refs == 0 || b.gen != h.gen || len(src) < len(b.piece) || string(src[:len(b.piece)]) != b.piece {
		return 0, false
	}
	b.refs++
	t.refs++
	return h.id, true
}

// piece is the bytes of a live id.
func (t *table) piece(id uint32) string { return t.entries[id].piece }

// valid reports whether id names a live piece.
func (t *table) valid(id uint64) bool {
	return id < uint64(len(t.entries)) && t.entries[id].refs > 0
}

// seenBefore reports whether hash h was noted (and forgets it, as its piece
// is about to be shared); if not, it notes it. The filter is two-way: a
// hash may sit in either of two slots, so two pieces of one head that fall
// on the same slot cannot keep pushing each other out forever (with one
// slot they would, and neither would ever be shared).
func (t *table) seenBefore(h uint64) bool {
	a, b := &t.seen[h&(seenSlots-1)], &t.seen[(h>>32)&(seenSlots-1)]
	switch h {
	case *a:
		*a = 0
		return true
	case *b:
		*b = 0
		return true
	}
	t.note(h)
	return false
}

// note records hash h in one of its two slots: an empty one, else the one
// a bit of h picks.
func (t *table) note(h uint64) {
	a, b := &t.seen[h&(seenSlots-1)], &t.seen[(h>>32)&(seenSlots-1)]
	switch {
	case *a == 0 || *a == h:
		*a = h
	case *b == 0 || *b == h:
		*b = h
	case h>>63 == 0:
		*a = h
	default:
		*b = h
	}
}

// hash is never 0, which marks an empty filter slot.
func (t *table) hash(p []byte) uint64 {
	return maphash.Bytes(t.seed, p) | 1
}

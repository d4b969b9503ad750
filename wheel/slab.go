package wheel

import "math"

// maxNodes caps the timer slab: node indices are uint32, and maxNodes itself
// marks an empty free list.
const maxNodes = math.MaxUint32

// minSlab is the smallest number of timer nodes the slab is sized for: below it
// the doubling steps would reallocate often for no memory saved.
const minSlab = 64

// node is one timer of the slab. Its size plus one list entry is the memory
// per timer; TestSizes pins it to 24 bytes.
type node struct {
	gen     uint32 // odd while armed, even while free; see Timer
	filed   uint32 // where its current entry waits: filedBatch, filedFixed, filedExpired or filedAbove(T)
	due     int64  // the caller's due time in ns (returned to fn)
	payload uint64 // the caller's payload; the next free node while free
}

// entry files a node in a list. It is current while the node's generation is
// still gen; a Cancel or an early Reset only changes the node, which turns the
// entry stale in place, and stale entries are dropped when their list is
// walked (see compact).
type entry struct{ idx, gen uint32 }

// The filed field of an armed node says whether a Reset may leave its entry
// where it is (see Wheel.keeps). An odd value filedAbove(T) means the entry is
// on a level slot that the wheel walks (and then re-files or fires) before any
// due time in bucket T or later — buckets are the clock's nanoseconds since
// Start shifted right by floor(log2(Tick)), so one is at most a tick wide and
// bucketing costs a shift, not a division — so a Reset to such a due time can
// keep it. filedExpired: on the expired list, walked by the next Advance, so
// every Reset to a time after now can keep it. The other even values pin the
// timer: a Reset files it anew.
const (
	filedBatch   = 0 // its entry is in the batch the current Advance is firing
	filedFixed   = 2 // on the expired list because it was armed already due, or on the overflow list
	filedExpired = 4 // on the expired list, due at the next Advance unless re-armed later
)

// bucketWindow bounds how far apart (in buckets, mod 2^31) a due time and a
// filedAbove threshold may be for the comparison to hold: 2^30 buckets, over
// 100 days at DefaultTick, against the 2^24 ticks a level slot can be ahead.
const bucketWindow = 1 << 30

// filedAbove encodes "walked before any due time in bucket t or later".
func filedAbove(t uint64) uint32 { return uint32(t)<<1 | 1 }

// Lists are chains of chunks of chunkLen entries in one arena. Every chunk
// holds its entries at [lo, hi); chunks in the middle of a chain may be partly
// used (after a splice), only the tail is appended to.
const (
	chunkLen    = 64
	nilChunk    = math.MaxUint32
	spareChunks = 8 // initial arena beyond one entry per timer, in chunks
)

type chunk struct {
	next   uint32 // next chunk of the list, or of the free chunk list
	lo, hi uint16
}

type list struct{ head, tail uint32 } // nilChunk when empty

// initSlab creates room for capacity timers and their list entries.
func (w *Wheel) initSlab(capacity int) {
	n := min(max(capacity, minSlab), maxNodes-1)
	w.nodes = make([]node, n)
	w.free = maxNodes
	w.threadFree(0)
	for l := range w.lists {
		w.lists[l] = list{nilChunk, nilChunk}
	}
	// One entry per timer, plus partly used chunks: a few, and one per list
	// for large wheels.
	c := (n+chunkLen-1)/chunkLen + spareChunks + min(n/chunkLen/8, numLists)
	w.ents = make([]entry, c*chunkLen)
	w.chunks = make([]chunk, c)
	w.freeChunk = nilChunk
	w.threadChunks(0)
}

// alloc takes a node from the free list, growing the slab when it is full,
// and marks it armed (odd generation).
func (w *Wheel) alloc() uint32 {
	if w.free == maxNodes {
		w.grow()
	}
	i := w.free
	w.guardGen(i)
	n := &w.nodes[i]
	w.free = uint32(n.payload)
	n.gen++
	w.live++
	return i
}

// grow doubles the slab and threads the new nodes onto the free list.
func (w *Wheel) grow() {
	old := len(w.nodes)
	n := min(2*old, maxNodes-1)
	if n == old {
		panic("wheel: slab full")
	}
	nodes := make([]node, n)
	copy(nodes, w.nodes)
	w.nodes = nodes
	w.threadFree(old)
}

// threadFree puts nodes[from:] on the free list, lowest index first.
func (w *Wheel) threadFree(from int) {
	for i := len(w.nodes) - 1; i >= from; i-- {
		w.nodes[i].payload = uint64(w.free)
		w.free = uint32(i)
	}
}

// release disarms node i and returns it to the free list; the even generation
// invalidates every handle to it and its list entry.
func (w *Wheel) release(i uint32) {
	n := &w.nodes[i]
	n.gen++
	n.payload = uint64(w.free)
	w.free = i
	w.live--
}

// current reports whether e is the entry of an armed node (entry generations
// are odd, a free node's is even).
func (w *Wheel) current(e entry) bool { return w.nodes[e.idx].gen == e.gen }

// threadChunks puts chunks[from:] on the free chunk list, lowest first.
func (w *Wheel) threadChunks(from int) {
	for c := len(w.chunks) - 1; c >= from; c-- {
		w.chunks[c] = chunk{next: w.freeChunk}
		w.freeChunk = uint32(c)
	}
}

// newChunk returns an empty chunk. When none is free it first compacts every
// list if at least a quarter of the arena is stale entries (so a compaction
// is paid for by the Cancels and Resets that made those entries), and grows
// the arena by doubling if that did not free a chunk.
func (w *Wheel) newChunk() uint32 {
	if w.freeChunk == nilChunk {
		if w.stale >= len(w.ents)/4 {
			w.compact()
		}
		if w.freeChunk == nilChunk {
			old := len(w.chunks)
			if 2*old*chunkLen > math.MaxInt32 {
				panic("wheel: list arena full")
			}
			ents := make([]entry, 2*old*chunkLen)
			copy(ents, w.ents)
			chunks := make([]chunk, 2*old)
			copy(chunks, w.chunks)
			w.ents, w.chunks = ents, chunks
			w.threadChunks(old)
		}
	}
	c := w.freeChunk
	w.freeChunk = w.chunks[c].next
	w.chunks[c] = chunk{next: nilChunk}
	return c
}

// freeChunkPush returns chunk c to the free chunk list.
func (w *Wheel) freeChunkPush(c uint32) {
	w.chunks[c] = chunk{next: w.freeChunk}
	w.freeChunk = c
}

// at returns the position of slot k of chunk c in the arena.
func at(c uint32, k uint16) int { return int(c)*chunkLen + int(k) }

// push appends e to the tail of list l.
func (w *Wheel) push(l uint32, e entry) {
	c := w.lists[l].tail
	if c == nilChunk || w.chunks[c].hi == chunkLen {
		nc := w.newChunk() // may compact list l
		L := &w.lists[l]
		if L.tail == nilChunk {
			L.head = nc
		} else {
			w.chunks[L.tail].next = nc
		}
		L.tail = nc
		c = nc
	}
	h := &w.chunks[c]
	w.ents[at(c, h.hi)] = e
	h.hi++
}

// empty reports whether list l holds no entries (current or stale).
func (w *Wheel) empty(l uint32) bool { return w.lists[l].head == nilChunk }

// trimHead drops the stale entries at the head of list l and reports whether
// a current one is left at its head.
func (w *Wheel) trimHead(l uint32) bool {
	L := &w.lists[l]
	for L.head != nilChunk {
		c := L.head
		h := &w.chunks[c]
		for ; h.lo < h.hi; h.lo++ {
			if w.current(w.ents[at(c, h.lo)]) {
				return true
			}
			w.stale--
		}
		L.head = h.next
		if L.head == nilChunk {
			L.tail = nilChunk
		}
		w.freeChunkPush(c)
	}
	return false
}

// take detaches list l whole and returns its chain.
func (w *Wheel) take(l uint32) list {
	L := w.lists[l]
	w.lists[l] = list{nilChunk, nilChunk}
	return L
}

// splice moves every entry of list src to the tail of list dst in O(1),
// keeping their order.
func (w *Wheel) splice(dst, src uint32) {
	s := w.take(src)
	if s.head == nilChunk {
		return
	}
	d := &w.lists[dst]
	if d.head == nilChunk {
		*d = s
		return
	}
	w.chunks[d.tail].next = s.head
	d.tail = s.tail
}

// compact drops every stale entry from every list, keeping the order of the
// rest, and frees the chunks that empties. Its cost is one look at the node of
// each entry; the entries are read in arena order, so those looks overlap.
func (w *Wheel) compact() {
	for l := range uint32(numLists) {
		w.compactList(l)
	}
}

// compactList compacts list l in place: a write cursor follows the read
// cursor through the same chain and never overtakes it.
func (w *Wheel) compactList(l uint32) {
	L := &w.lists[l]
	if L.head == nilChunk {
		return
	}
	wc := L.head
	wi := w.chunks[wc].lo
	for rc := L.head; rc != nilChunk; {
		h := w.chunks[rc] // a copy: the write cursor may rewrite rc's header
		for k := h.lo; k < h.hi; k++ {
			e := w.ents[at(rc, k)]
			if !w.current(e) {
				w.stale--
				continue
			}
			if wi == chunkLen {
				w.chunks[wc].hi = chunkLen
				wc = w.chunks[wc].next
				w.chunks[wc].lo, wi = 0, 0
			}
			w.ents[at(wc, wi)] = e
			wi++
		}
		rc = h.next
	}
	// Free the chunks after the write cursor's.
	for c := w.chunks[wc].next; c != nilChunk; {
		next := w.chunks[c].next
		w.freeChunkPush(c)
		c = next
	}
	if wc == L.head && wi == w.chunks[wc].lo { // nothing current is left
		w.freeChunkPush(wc)
		L.head, L.tail = nilChunk, nilChunk
		if l < numSlots {
			w.occupied[l/slotsPerLevel] &^= 1 << (l % slotsPerLevel)
		}
		return
	}
	w.chunks[wc].hi = wi
	w.chunks[wc].next = nilChunk
	L.tail = wc
}

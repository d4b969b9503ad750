package wheel

import "math"

// maxNodes caps the slab: node indices are uint32.
const maxNodes = math.MaxUint32

// minSlab is the smallest number of timer nodes the slab is sized for: below it
// the doubling steps would reallocate often for no memory saved.
const minSlab = 64

// node is one element of the slab. The first numLists nodes are the sentinels
// of the wheel's lists (slots, expired, ready, overflow); the rest are timers.
// Its size is the memory per timer and is pinned to 32 bytes by a test.
type node struct {
	next, prev uint32 // ring neighbours; next also chains the free list
	gen        uint32 // odd while armed, even while free; see Timer
	_          uint32
	due        int64 // the caller's due time in ns (returned to fn)
	payload    uint64
}

// initSlab creates the list sentinels and room for capacity timers.
func (w *Wheel) initSlab(capacity int) {
	n := numLists + max(capacity, minSlab)
	n = min(n, maxNodes)
	w.nodes = make([]node, n)
	for l := uint32(0); l < numLists; l++ {
		w.nodes[l].next, w.nodes[l].prev = l, l
	}
	w.free = maxNodes
	w.threadFree(numLists)
}

// alloc takes a node from the free list, growing the slab when it is full,
// and marks it armed (odd generation).
func (w *Wheel) alloc() uint32 {
	if w.free == maxNodes {
		w.grow()
	}
	i := w.free
	n := &w.nodes[i]
	w.free = n.next
	n.gen++
	w.live++
	return i
}

// grow doubles the slab and threads the new nodes onto the free list.
func (w *Wheel) grow() {
	old := len(w.nodes)
	n := min(2*old, maxNodes)
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
		w.nodes[i].next = w.free
		w.free = uint32(i)
	}
}

// release returns node i (already unlinked) to the free list; the even
// generation invalidates every handle to it.
func (w *Wheel) release(i uint32) {
	n := &w.nodes[i]
	n.gen++
	n.next = w.free
	w.free = i
	w.live--
}

// push appends node i to the tail of list l.
func (w *Wheel) push(l, i uint32) {
	s := &w.nodes[l]
	t := s.prev
	n := &w.nodes[i]
	n.prev, n.next = t, l
	w.nodes[t].next = i
	s.prev = i
}

// unlink removes node i from its list. When that empties a slot list it clears
// the slot's occupancy bit, so the bitmaps stay exact.
func (w *Wheel) unlink(i uint32) {
	n := &w.nodes[i]
	p, nx := n.prev, n.next
	w.nodes[p].next = nx
	w.nodes[nx].prev = p
	if p == nx && p < numSlots {
		w.occupied[p/slotsPerLevel] &^= 1 << (p % slotsPerLevel)
	}
}

// empty reports whether list l has no timers.
func (w *Wheel) empty(l uint32) bool { return w.nodes[l].next == l }

// first returns the head of list l; only valid when !empty(l).
func (w *Wheel) first(l uint32) uint32 { return w.nodes[l].next }

// take detaches list l whole and returns its first and last nodes
// (the detached chain keeps its internal links).
func (w *Wheel) take(l uint32) (head, tail uint32) {
	s := &w.nodes[l]
	head, tail = s.next, s.prev
	s.next, s.prev = l, l
	return head, tail
}

// splice moves every node of list src to the tail of list dst in O(1),
// keeping their order.
func (w *Wheel) splice(dst, src uint32) {
	if w.empty(src) {
		return
	}
	h, t := w.take(src)
	d := &w.nodes[dst]
	dt := d.prev
	w.nodes[dt].next = h
	w.nodes[h].prev = dt
	w.nodes[t].next = dst
	d.prev = t
}

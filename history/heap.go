package history

// The channels with history form a binary min-heap keyed by their oldest
// kept position, so the gateway's oldest message (what the age and byte
// bounds drop first, whatever the channel) is found at the top. Keys are
// lazy: a channel's key is its oldest position when it was last placed, and
// dropping a channel's oldest for the size bound (the busy gateway's common
// case) leaves the heap alone, so the key may lag behind the channel's true
// oldest but is never above it. Before the top is used, settle re-keys it
// while its key is stale; then the top's key is true and at most every other
// key, each at most its channel's true oldest, so the top holds the oldest
// message. Each re-keying answers at least one size drop since the channel
// was last placed, so the work stays O(log C) amortised per append. The heap
// is an array of (key, channel) pairs: sifting compares keys in the array and
// touches no channel, and a channel needs no back-pointer (it leaves the heap
// only from the top, when its last message is dropped).
// Hand-written instead of container/heap to keep interface conversions and
// allocations out of Append.

type heapItem struct {
	key uint64
	ch  *channel
}

func (h *History) heapPush(ch *channel) {
	h.heap = append(h.heap, heapItem{key: ch.front().seq, ch: ch})
	i := len(h.heap) - 1
	for i > 0 {
		p := (i - 1) / 2
		if h.heap[p].key <= h.heap[i].key {
			return
		}
		h.heap[i], h.heap[p] = h.heap[p], h.heap[i]
		i = p
	}
}

// settle makes the top's key true (heap not empty) and returns its channel,
// the one holding the gateway's oldest message.
func (h *History) settle() *channel {
	for {
		top := &h.heap[0]
		if k := top.ch.front().seq; k != top.key {
			top.key = k
			h.siftDown(0)
			continue
		}
		return top.ch
	}
}

// heapPop removes the top.
func (h *History) heapPop() {
	last := len(h.heap) - 1
	h.heap[0] = h.heap[last]
	h.heap[last] = heapItem{}
	h.heap = h.heap[:last]
	if last > 0 {
		h.siftDown(0)
	}
}

func (h *History) siftDown(i int) {
	hp := h.heap
	n := len(hp)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && hp[r].key < hp[l].key {
			c = r
		}
		if hp[c].key >= hp[i].key {
			return
		}
		hp[i], hp[c] = hp[c], hp[i]
		i = c
	}
}

package history

// A channel's kept messages live in a ring of entries, oldest first, so that
// dropping the oldest and appending the newest are O(1) and a position is
// found by binary search. The ring doubles when full, up to the history's
// Size (so a channel never holds more slots than Size), and halves when a
// quarter full.

// front is the oldest entry (n > 0).
func (ch *channel) front() *entry { return &ch.ring[ch.head] }

// at is the i-th oldest entry (0 <= i < n).
func (ch *channel) at(i int) *entry {
	j := ch.head + i
	if j >= len(ch.ring) {
		j -= len(ch.ring)
	}
	return &ch.ring[j]
}

// push appends e as the newest entry; the ring never grows past limit slots
// (the caller drops the oldest first when n == limit).
func (ch *channel) push(e entry, limit int) {
	if ch.n == len(ch.ring) {
		ch.resize(min(max(2*len(ch.ring), minRing), limit))
	}
	j := ch.head + ch.n
	if j >= len(ch.ring) {
		j -= len(ch.ring)
	}
	ch.ring[j] = e
	ch.n++
}

// popFront removes and returns the oldest entry (n > 0).
func (ch *channel) popFront() entry {
	e := ch.ring[ch.head]
	ch.ring[ch.head] = entry{}
	ch.head++
	if ch.head == len(ch.ring) {
		ch.head = 0
	}
	ch.n--
	return e
}

// shrink halves the ring when it is at most a quarter full.
func (ch *channel) shrink() {
	if len(ch.ring) > minRing && ch.n > 0 && 4*ch.n <= len(ch.ring) {
		ch.resize(len(ch.ring) / 2)
	}
}

// resize moves the entries into a ring of c slots (c >= n), oldest at 0.
func (ch *channel) resize(c int) {
	r := make([]entry, c)
	for i := range ch.n {
		r[i] = *ch.at(i)
	}
	ch.ring, ch.head = r, 0
}

// search is the index of the oldest entry after position seq (n if none).
// The two ends are tried first: a replay from before everything kept, and a
// channel with nothing new, cost one probe.
func (ch *channel) search(seq uint64) int {
	if ch.n == 0 || ch.at(ch.n-1).seq <= seq {
		return ch.n
	}
	if ch.front().seq > seq {
		return 0
	}
	lo, hi := 1, ch.n-1
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if ch.at(m).seq <= seq {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

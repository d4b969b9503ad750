package history

import "ssegw/frame"

// Status is the outcome of a Read.
type Status uint8

const (
	// More: entries were returned and more may follow; Read again from the
	// returned position.
	More Status = iota
	// Done: every kept message after the position was returned (possibly
	// none); the returned position is the history's head at the read.
	Done
	// Truncated: a bound channel dropped a message after the position
	// (size, age or byte bound), so completeness cannot be proven; nothing
	// was returned. The resync reason "truncated".
	Truncated
	// Unknown: the position is of another history (epoch) or ahead of this
	// one's head; nothing was returned. The resync reason "unknown" (as for
	// a position ParsePosition refused).
	Unknown
)

func (s Status) String() string {
	switch s {
	case More:
		return "more"
	case Done:
		return "done"
	case Truncated:
		return "truncated"
	case Unknown:
		return "unknown"
	}
	return "invalid"
}

// Entry is one replayed message.
type Entry struct {
	Seq   uint64       // its position in this history (the epoch is the history's)
	Frame *frame.Frame // one reference for the caller: Release it after writing
	Close bool         // the publish ended its streams after the event
}

// Reader reads a history for one goroutine (one per event loop): it owns the
// scratch space of the merge and the returned entries, so reads allocate
// nothing once it has grown. A Reader must not be shared; any number of
// Readers may read one History at once.
type Reader struct {
	h     *History
	heads []head
	out   []Entry
}

// head is one channel's next entry in a merge.
type head struct {
	ch  *channel
	i   int
	seq uint64
}

// NewReader makes a Reader of h.
func (h *History) NewReader() *Reader { return &Reader{h: h} }

// Read returns, in position order, up to limit (at least 1) kept messages of
// the given channels with positions after `after`, merged over the
// channels, and the position to continue from:
//
//   - More: limit entries returned, more may follow; next is the last
//     returned entry's position.
//   - Done: all of them returned; next is the head at the read (live
//     messages at or below it are either among what was returned or not on
//     these channels, those above it were appended after the read).
//   - Truncated, Unknown: nothing returned (see the constants); next is
//     after.
//
// A replay calls Read repeatedly with the position it returned: each call
// re-proves completeness from that position, so a message evicted between
// two calls of one replay (before it was read) turns the second call into
// Truncated, never into a silent gap. Names may repeat (each channel counts
// once); channels never published to are fine.
//
// The returned slice and its entries are valid until the next Read of this
// Reader; each entry holds a reference to its frame for the caller to
// Release. Read holds the history's read lock for O(k log n + m log k) work
// (k channels, n kept per channel, m entries returned) and does not allocate
// once the Reader's scratch has grown to k heads and limit entries. Safe to
// call from event loops: appends hold the lock only for their own O(log C).
func (r *Reader) Read(after Position, channels []string, limit int) ([]Entry, Position, Status) {
	h := r.h
	if after.Epoch != h.epoch {
		return nil, after, Unknown
	}
	h.mu.RLock()
	if after.Seq > h.seq {
		h.mu.RUnlock()
		return nil, after, Unknown
	}
	if !r.start(after.Seq, channels) {
		h.mu.RUnlock()
		return nil, after, Truncated
	}
	out := r.merge(max(limit, 1))
	next, st := Position{Epoch: h.epoch, Seq: h.seq}, Done
	if len(r.heads) > 0 {
		next, st = Position{Epoch: h.epoch, Seq: out[len(out)-1].Seq}, More
	}
	h.mu.RUnlock()
	return out, next, st
}

// start proves completeness after seq for every channel and sets up the
// merge heads; false if a channel dropped a message after seq.
func (r *Reader) start(seq uint64, channels []string) bool {
	r.heads = r.heads[:0]
	for _, name := range channels {
		floor, ch := r.h.floorOf(name)
		if floor > seq {
			return false
		}
		if ch == nil {
			continue
		}
		i := ch.search(seq)
		if i == ch.n || r.has(ch) {
			continue
		}
		r.heads = append(r.heads, head{ch: ch, i: i, seq: ch.at(i).seq})
	}
	for i := len(r.heads)/2 - 1; i >= 0; i-- {
		r.siftDown(i)
	}
	return true
}

func (r *Reader) has(ch *channel) bool {
	for i := range r.heads {
		if r.heads[i].ch == ch {
			return true
		}
	}
	return false
}

// merge takes up to limit entries off the heads, oldest first.
func (r *Reader) merge(limit int) []Entry {
	clear(r.out)
	r.out = r.out[:0]
	for len(r.out) < limit && len(r.heads) > 0 {
		hd := &r.heads[0]
		e := hd.ch.at(hd.i)
		e.fr.Retain(1)
		r.out = append(r.out, Entry{Seq: e.seq, Frame: e.fr, Close: e.close})
		if hd.i++; hd.i < hd.ch.n {
			hd.seq = hd.ch.at(hd.i).seq
		} else {
			last := len(r.heads) - 1
			r.heads[0] = r.heads[last]
			r.heads = r.heads[:last]
		}
		r.siftDown(0)
	}
	return r.out
}

func (r *Reader) siftDown(i int) {
	hs := r.heads
	for {
		l := 2*i + 1
		if l >= len(hs) {
			return
		}
		c := l
		if rr := l + 1; rr < len(hs) && hs[rr].seq < hs[l].seq {
			c = rr
		}
		if hs[c].seq >= hs[i].seq {
			return
		}
		hs[i], hs[c] = hs[c], hs[i]
		i = c
	}
}

package rabbitmq

import (
	"math/rand/v2"
	"testing"
)

// brokerModel is a channel's unacked deliveries as the broker sees them.
type brokerModel struct {
	t       *testing.T
	unacked map[uint64]bool
	written map[uint64]bool // reported written (may be acked)
	acked   map[uint64]int
	frames  int
}

func newBrokerModel(t *testing.T) *brokerModel {
	return &brokerModel{t: t, unacked: map[uint64]bool{}, written: map[uint64]bool{}, acked: map[uint64]int{}}
}

func (b *brokerModel) ackOne(tag uint64) {
	b.t.Helper()
	b.frames++
	if !b.written[tag] {
		b.t.Fatalf("acked tag %d that was not written", tag)
	}
	if !b.unacked[tag] {
		b.t.Fatalf("acked tag %d twice (or after its nack)", tag)
	}
	delete(b.unacked, tag)
	b.acked[tag]++
}

func (b *brokerModel) ackMultiple(upTo uint64) {
	b.t.Helper()
	b.frames++
	for tag := range b.unacked {
		if tag <= upTo {
			if !b.written[tag] {
				b.t.Fatalf("multiple ack up to %d covers tag %d, which was not written", upTo, tag)
			}
			delete(b.unacked, tag)
			b.acked[tag]++
		}
	}
}

// TestAckWindowModel settles deliveries in random order, as written or not,
// with flushes in between, and checks against the broker's view that no
// unwritten delivery is ever acked, every written one is acked once, and a
// contiguous run costs one frame.
func TestAckWindowModel(t *testing.T) {
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 7))
		b := newBrokerModel(t)
		var w ackWindow
		w.reset()
		n := 1 + r.IntN(400)
		order := r.Perm(n)
		var held []uint64
		flush := func(all bool) {
			if m := w.take(); m > 0 {
				b.ackMultiple(m)
			}
			if all {
				held = w.takeHeld(held[:0])
				for _, tag := range held {
					b.ackOne(tag)
				}
			}
		}
		for tag := uint64(1); tag <= uint64(n); tag++ {
			b.unacked[tag] = true
		}
		for _, i := range order {
			tag := uint64(i + 1)
			if r.IntN(5) == 0 { // not written: nacked at once
				delete(b.unacked, tag)
				w.settled(tag)
			} else {
				b.written[tag] = true
				if w.ack(tag) {
					b.ackOne(tag)
				}
			}
			if r.IntN(10) == 0 {
				flush(r.IntN(3) == 0)
			}
		}
		flush(true)
		if len(b.unacked) != 0 {
			t.Fatalf("seed %d: %d deliveries never settled", seed, len(b.unacked))
		}
		for tag := range b.written {
			if b.acked[tag] != 1 {
				t.Fatalf("seed %d: written tag %d acked %d times", seed, tag, b.acked[tag])
			}
		}
		if w.pending() || len(w.state) != 0 {
			t.Fatalf("seed %d: window not empty: held %d state %d", seed, w.held, len(w.state))
		}
	}
}

func TestAckWindowInOrderRunIsOneFrame(t *testing.T) {
	var w ackWindow
	w.reset()
	for tag := uint64(1); tag <= 1000; tag++ {
		if w.ack(tag) {
			t.Fatal("in-window tag reported alone")
		}
	}
	if m := w.take(); m != 1000 || w.pending() {
		t.Fatalf("take = %d pending %v, want 1000 and nothing left", m, w.pending())
	}
	// A gap holds the tags after it until it is settled.
	w.ack(1002)
	w.ack(1003)
	if m := w.take(); m != 0 || !w.pending() {
		t.Fatalf("take over a gap = %d pending %v", m, w.pending())
	}
	w.settled(1001) // nacked
	if m := w.take(); m != 1003 || w.pending() {
		t.Fatalf("after the gap: take = %d pending %v, want 1003", m, w.pending())
	}
}

// TestAckWindowBound: a tag that is never settled does not grow the window
// past maxAckWindow; the acks behind it still go out (spilled, then alone),
// and the stuck tag, settled late, is acked alone.
func TestAckWindowBound(t *testing.T) {
	b := newBrokerModel(t)
	var w ackWindow
	w.reset()
	total := uint64(3*maxAckWindow + 17)
	for tag := uint64(1); tag <= total; tag++ {
		b.unacked[tag] = true
		if tag == 1 {
			continue // stuck
		}
		b.written[tag] = true
		if w.ack(tag) {
			b.ackOne(tag)
		}
		if len(w.state) > maxAckWindow {
			t.Fatalf("window grew to %d", len(w.state))
		}
	}
	if m := w.take(); m > 0 {
		b.ackMultiple(m)
	}
	for _, tag := range w.takeHeld(nil) {
		b.ackOne(tag)
	}
	if len(b.unacked) != 1 || !b.unacked[1] {
		t.Fatalf("unacked after flush: %d (want only the stuck tag)", len(b.unacked))
	}
	b.written[1] = true
	if !w.ack(1) {
		t.Fatal("the forgotten tag should be acked alone")
	}
	b.ackOne(1)
}

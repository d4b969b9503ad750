package rabbitmq

// ackWindow coalesces the acks of one AMQP channel. The broker numbers the
// deliveries of a channel 1, 2, 3, ... and basic.ack(tag, multiple) acks every
// unacked delivery up to tag, so once every tag below some T is settled, one
// frame acks all the acks among them. A fan-out that delivers one message to
// thousands of consumers on a channel is then acked with a handful of frames
// instead of one frame (and one write syscall, one broker operation) per
// stream.
//
// It never acks a delivery that was not reported written: a multiple ack
// covers only a prefix in which every tag is settled (acked-and-waiting, or
// already nacked or acked alone). A tag settled behind a tag that is still out
// is held; the lane sends held acks alone at its second ack tick (see
// lane.ackTick), so a stuck delivery holds the others back for at most about
// 2*ackHold. Pure data: the lane goroutine
// owns it, sends the frames, and passes the time in.
type ackWindow struct {
	base    uint64     // lowest tag not known to be settled (0: not started)
	state   []tagState // state[i] is the state of tag base+i
	held    int        // tags in state that are ackWaiting
	spilled []uint64   // ackWaiting tags pushed out of state by its bound
	// stuck are the unsettled tags the bound pushed out of state. A multiple
	// ack would ack them too, so while there are any, every ack goes alone.
	stuck map[uint64]struct{}
}

type tagState uint8

const (
	tagOut        tagState = iota // delivered, not yet settled
	tagAckWaiting                 // written: to be acked (by a multiple ack, or alone)
	tagSettled                    // nacked, or acked alone
)

// maxAckWindow bounds state. Only a gateway that never calls a done leaves a
// tag out for good; with this many tags behind it, the window moves past it:
// the acks waiting below the new base are spilled, to be sent alone, and the
// tag is stuck (acked or nacked alone if it is settled after all). stuck is
// bounded too: the broker sends a consumer nothing more once prefetch of its
// deliveries are unsettled.
const maxAckWindow = 1 << 16

// reset starts the window of a new channel.
func (w *ackWindow) reset() {
	w.base, w.state, w.held, w.spilled = 1, w.state[:0], 0, w.spilled[:0]
	clear(w.stuck)
}

// pending reports whether acks are waiting (the lane then arms its ackHold
// timer).
func (w *ackWindow) pending() bool { return w.held > 0 || len(w.spilled) > 0 }

// ack records that tag was written. It reports true when the tag is below the
// window (forgotten): the caller then acks it alone, now.
func (w *ackWindow) ack(tag uint64) (alone bool) {
	if tag < w.base {
		delete(w.stuck, tag)
		return true
	}
	if w.set(tag, tagAckWaiting) != tagAckWaiting {
		w.held++
	}
	return false
}

// settled records that the caller nacked tag (or acked it alone).
func (w *ackWindow) settled(tag uint64) {
	if tag < w.base {
		delete(w.stuck, tag)
		return
	}
	if w.set(tag, tagSettled) == tagAckWaiting {
		w.held--
	}
}

// set stores a tag's state and returns the previous one.
func (w *ackWindow) set(tag uint64, s tagState) tagState {
	if w.base == 0 {
		w.reset()
	}
	if i := tag - w.base; i >= maxAckWindow {
		w.forget(i - maxAckWindow + 1)
	}
	i := tag - w.base
	for uint64(len(w.state)) <= i {
		w.state = append(w.state, tagOut)
	}
	prev := w.state[i]
	w.state[i] = s
	return prev
}

// forget moves the window up by n tags, spilling the acks waiting among them.
func (w *ackWindow) forget(n uint64) {
	k := min(n, uint64(len(w.state)))
	for i, s := range w.state[:k] {
		switch s {
		case tagAckWaiting:
			w.spilled = append(w.spilled, w.base+uint64(i))
			w.held--
		case tagOut:
			if w.stuck == nil {
				w.stuck = make(map[uint64]struct{})
			}
			w.stuck[w.base+uint64(i)] = struct{}{}
		}
	}
	w.base += n
	w.state = w.state[k:]
}

// take moves the window over its settled prefix and returns the highest
// ack-waiting tag in it (0: none): the caller sends basic.ack(tag, multiple).
func (w *ackWindow) take() (multiple uint64) {
	n := 0
	for n < len(w.state) && w.state[n] != tagOut {
		if w.state[n] == tagAckWaiting {
			w.held--
			if len(w.stuck) > 0 {
				w.spilled = append(w.spilled, w.base+uint64(n))
			} else {
				multiple = w.base + uint64(n)
			}
		}
		n++
	}
	w.base += uint64(n)
	w.state = w.state[n:]
	return multiple
}

// takeHeld returns the ack-waiting tags that are held behind an unsettled one
// or were spilled, marked settled: the caller acks each alone.
func (w *ackWindow) takeHeld(dst []uint64) []uint64 {
	dst = append(dst, w.spilled...)
	w.spilled = w.spilled[:0]
	for i, s := range w.state {
		if s == tagAckWaiting {
			dst = append(dst, w.base+uint64(i))
			w.state[i] = tagSettled
		}
	}
	w.held = 0
	return dst
}

package loop

import (
	"ssegw/sse"
)

// The setup phase. A stream whose connect callback returned 2xx gets its SSE
// headers and the sends buffered during the callback at once; when it also
// needs work that finishes later — its RabbitMQ queue declared, bound and
// consumed (queues.go); its missed history replayed — `ready` waits for that
// work. Meanwhile the stream is in its setup phase (fSetup, with its pending
// entry kept): sends to it are buffered as during the callback (answered
// "buffered"), and publishes and queue deliveries are held in the same FIFO;
// each setup task reports its end with endSetupTask. When the last one has
// ended, `ready` is written, heartbeats start, and the held items follow in
// order. Nothing of this runs off the loop.
//
// The held FIFO shares the connect window's bound (maxBufferedPerConn): a
// send beyond it is refused with 503 BUFFER_FULL, a delivery beyond it is
// answered done(false) (its message requeued), and a publish beyond it
// closes the stream as a slow consumer (it cannot keep up).

// beginSetup puts an accepted stream into its setup phase with pend.setup
// tasks running; the connect window's buffer (already written) is reused.
func (ls *loopState) beginSetup(cs *conn, pend *pending) {
	clear(pend.ops)
	pend.ops, pend.closeReq = pend.ops[:0], false
	ls.pending[cs.slot] = pend
	cs.set(fSetup)
}

// endSetupTask reports the end of one setup task of a stream; after the
// last, the stream becomes ready and gets what was held for it.
func (ls *loopState) endSetupTask(cs *conn, now int64) {
	pend := ls.pending[cs.slot]
	if !cs.has(fSetup) || pend == nil {
		return
	}
	if pend.setup--; pend.setup > 0 {
		return
	}
	delete(ls.pending, cs.slot)
	cs.clear(fSetup)
	ls.ready(cs, now)
	for i := range pend.ops {
		o := &pend.ops[i]
		if cs.state != stStream || cs.has(fSetup) {
			ls.dropHeld(pend.ops[i:])
			return
		}
		ls.applyHeld(cs, o, now)
	}
}

// ready writes `ready` and starts the heartbeats (or, while the gateway
// drains, schedules the stream's end like the others').
func (ls *loopState) ready(cs *conn, now int64) {
	ls.writeFixed(cs, readyChunk, sse.Ready)
	ls.started(cs, now)
}

// started follows `ready` once written: heartbeats start (or the stream's
// end is scheduled while the gateway drains).
func (ls *loopState) started(cs *conn, now int64) {
	if cs.state != stStream {
		return
	}
	if ls.srv.stopping.Load() { // accepted while draining: end it like the others
		ls.scheduleDrain(cs, now)
		return
	}
	iv := ls.srv.opts.HeartbeatInterval
	due := firstBeat(now, iv, ls.rng.upTo(min(heartbeatSpreadMax, iv/10)))
	cs.timer = ls.wheel.AddAt(now, due, payload(cs, tkHeartbeat))
	ls.armed(due)
}

// holdPublish keeps a publish's frame (and close) for a stream in setup.
func (ls *loopState) holdPublish(cs *conn, fr *Frame, closeAfter bool, pos uint64) {
	pend := ls.pending[cs.slot]
	if len(pend.ops) >= maxBufferedPerConn {
		slowConsumers.Inc()
		ls.closeNow(cs, ReasonError)
		return
	}
	if fr != nil {
		fr.Retain(1)
	}
	pend.ops = append(pend.ops, op{kind: opPublish, frame: fr, close: closeAfter, pos: pos})
}

// holdDelivery keeps a queue delivery for a stream in setup, or refuses it.
func (ls *loopState) holdDelivery(cs *conn, o *op) {
	pend := ls.pending[cs.slot]
	if len(pend.ops) >= maxBufferedPerConn {
		releaseFrame(o)
		o.done(false)
		return
	}
	pend.ops = append(pend.ops, op{kind: opDeliver, frame: o.frame, done: o.done})
	o.frame = nil
}

// applyHeld writes one held item after the setup.
func (ls *loopState) applyHeld(cs *conn, o *op, now int64) {
	switch o.kind {
	case opDeliver:
		ls.deliver(cs, o)
	case opPublish:
		if ls.skipLive(cs, o.pos) {
			releaseFrame(o)
			return
		}
		ls.applySend(cs, o.frame, o.close, now)
		o.frame = nil
	default: // a buffered send
		ls.applySend(cs, o.frame, o.close, now)
		o.frame = nil
	}
}

// dropHeld releases held items that will not be written.
func (ls *loopState) dropHeld(ops []op) {
	for i := range ops {
		releaseFrame(&ops[i])
		if ops[i].kind == opDeliver {
			ops[i].done(false)
		}
	}
}

// leaveSetup forgets the setup of a stream that ends before it is ready.
func (ls *loopState) leaveSetup(cs *conn) {
	if !cs.has(fSetup) {
		return
	}
	cs.clear(fSetup)
	if pend := ls.pending[cs.slot]; pend != nil {
		ls.dropHeld(pend.ops)
		delete(ls.pending, cs.slot)
	}
}

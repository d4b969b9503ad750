package loop

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// drainPoll is how often Drain checks whether the last streams have ended.
const drainPoll = 10 * time.Millisecond

// cutWait bounds how long Drain waits for the loops to cut what is left at
// the deadline; only a wedged loop would hit it.
const cutWait = time.Second

// ErrDrainCut means the drain's deadline passed with streams whose bytes had
// not all reached the kernel (a client that does not read, or streams still
// waiting for their turn): they were cut, and the shutdown is not clean.
var ErrDrainCut = errors.New("loop: drain deadline passed; streams cut")

// DrainCutError reports how many connections a drain cut at its deadline.
type DrainCutError struct {
	Streams int64 // streams still open, or ended with bytes still queued
	Pending int64 // connect callbacks still unanswered
}

func (e *DrainCutError) Error() string {
	return fmt.Sprintf("%v: %d streams cut with bytes still queued or not yet ended, %d connects still pending", ErrDrainCut, e.Streams, e.Pending)
}

func (e *DrainCutError) Unwrap() error { return ErrDrainCut }

// Drain ends every stream gracefully, as CONTRACT.md section 8 says for
// SIGTERM: /readyz turns 503, the public listener stops accepting (new
// connections are refused; a request on a kept-alive connection is shed); each open
// stream gets a randomised retry hint and the end of its body at a random
// moment within window (so reconnects spread out) and its server_closed
// disconnect callback. Drain returns nil once every stream has ended and
// every byte queued for it — its last events, the retry hint, the end of the
// body — was taken by the kernel (the socket is closed only then). When ctx
// ends first, the streams left (a client that does not read, typically) are
// cut — closed at once, each still owed a disconnect getting server_closed —
// and Drain returns a *DrainCutError. It does not stop the engine or the
// callback client (see Stop).
func (s *Server) Drain(ctx context.Context, window time.Duration) error {
	s.stopping.Store(true)
	s.drainWindow.Store(int64(window))
	s.log.Info("drain: public listener closed", "listeners", s.stopAccepting())
	for _, ls := range s.allLoops() {
		ls.post(op{kind: opDrain})
	}
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for s.streams.Load() > 0 || s.pendingN.Load() > 0 || s.flushing.Load() > 0 {
		select {
		case <-ctx.Done():
			return s.cut()
		case <-t.C:
		}
	}
	return nil
}

// cut closes, on every loop, the streams a drain could not finish.
func (s *Server) cut() error {
	e := &DrainCutError{Pending: s.pendingN.Load()}
	res, _ := s.everyLoop(opCut, cutWait)
	e.Streams = res.conns.Load()
	s.log.Warn("drain deadline passed: streams cut", "streams", e.Streams, "pending_connects", e.Pending)
	return e
}

// drainAll schedules the end of every stream on this loop.
func (ls *loopState) drainAll(now int64) {
	for _, cs := range ls.conns {
		if cs == nil {
			continue
		}
		switch cs.state {
		case stStream:
			ls.scheduleDrain(cs, now)
		case stHead:
			// An idle keep-alive connection or a head still arriving; the end
			// of a previous response may still be queued.
			ls.closeAfterFlush(cs, ReasonNone, now)
		}
	}
}

// cutAll closes every stream left at the drain's deadline and counts them.
func (ls *loopState) cutAll(o *op) {
	n := int64(0)
	for _, cs := range ls.conns {
		if cs == nil || !(cs.state == stStream || cs.has(fFlushing)) {
			continue
		}
		n++
		if ls.srv.debug {
			ls.srv.log.Debug("stream cut at the drain deadline", "token", cs.token.String(), "unsent_bytes", cs.c.OutboundBuffered())
		}
		ls.closeNow(cs, ReasonServerClosed)
	}
	o.res.conns.Add(n)
	o.w.finish()
}

func (ls *loopState) scheduleDrain(cs *conn, now int64) {
	d := ls.rng.upTo(time.Duration(ls.srv.drainWindow.Load()))
	ls.setTimer(cs, now, d, tkDrain)
}

// drainOne ends one stream for shutdown: a retry hint, the disconnect
// callback, the end of the body, and the connection closed once the kernel
// has taken every byte.
func (ls *loopState) drainOne(cs *conn) {
	if cs.state != stStream {
		return
	}
	ls.writeMessage(cs, appendRetry(ls.rng.between(drainRetryMin, drainRetryMax)))
	cs.clear(fKeepAlive)
	ls.endStream(cs, ReasonServerClosed, ls.now())
}

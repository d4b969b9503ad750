package loop

import (
	"context"
	"time"
)

// drainPoll is how often Drain checks whether the last streams have ended.
const drainPoll = 10 * time.Millisecond

// Drain ends every stream gracefully, as CONTRACT.md section 8 says for
// SIGTERM: /readyz turns 503 and new connections are shed at once; each open
// stream gets a randomised retry hint and the end of its body at a random
// moment within window (so reconnects spread out) and its server_closed
// disconnect callback. Drain returns when no stream is left, or with ctx's
// error. It does not stop the engine or the callback client (see Stop).
func (s *Server) Drain(ctx context.Context, window time.Duration) error {
	s.stopping.Store(true)
	s.drainWindow.Store(int64(window))
	for _, ls := range s.allLoops() {
		ls.post(op{kind: opDrain})
	}
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for s.streams.Load() > 0 || s.pendingN.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
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
			ls.closeNow(cs, ReasonNone) // idle keep-alive or a head still arriving
		}
	}
}

func (ls *loopState) scheduleDrain(cs *conn, now int64) {
	d := ls.rng.upTo(time.Duration(ls.srv.drainWindow.Load()))
	ls.setTimer(cs, now, d, tkDrain)
}

// drainOne ends one stream for shutdown: a retry hint, the disconnect
// callback, the end of the body, and the connection closed.
func (ls *loopState) drainOne(cs *conn) {
	if cs.state != stStream {
		return
	}
	ls.writeMessage(cs, appendRetry(ls.rng.between(drainRetryMin, drainRetryMax)))
	cs.clear(fKeepAlive)
	ls.endStream(cs, ReasonServerClosed, ls.now())
}

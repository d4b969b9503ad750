package loop

import (
	"ssegw/callback"
	"ssegw/sse"
)

// RabbitMQ mode (CONTRACT.md section 10; the transport is package rabbitmq,
// beside the loops, like package cluster). A stream accepted with a string
// request_id and non-empty bindings gets a queue: the loop asks the transport
// (Queues.Open, which only enqueues) and the stream waits in its setup phase
// (setup.go) until the transport reports the queue consuming
// (Server.StreamReady), then `ready` is written; each message of the queue
// comes back through Server.Deliver and is written like a send. After a
// broker reconnect the transport re-establishes the queue and reports it
// again: `ready` is written again. A queue that cannot be set up ends the
// stream with disconnect reason error (Server.StreamFailed). When the stream
// ends for any reason its consumer is cancelled (Queues.Close). The
// transport's callbacks run on its goroutines: they only post ops to the
// stream's loop, which applies them like every other op.

// Queues is the RabbitMQ transport as the loops see it (*rabbitmq.Transport).
type Queues interface {
	// Open starts setting up the stream's queue; it must not block. An error
	// means the broker is not there: the stream is answered as a connect
	// failure (RABBITMQ_UNAVAILABLE).
	Open(t [16]byte, requestID string, bindings []string) error
	// Close cancels the stream's consumer; it must not block.
	Close(t [16]byte)
}

// wantsQueue reports whether an accepted stream gets a RabbitMQ queue (the
// Node service's rule: a string request_id and non-empty bindings).
func (ls *loopState) wantsQueue(r *callback.Result) bool {
	return ls.srv.opts.Queues != nil && r.HasRequestID && len(r.Bindings) > 0
}

// queueUnavailable answers a stream whose queue cannot be set up because the
// broker is away: a connect failure (CONNECT_FAILURE), code
// RABBITMQ_UNAVAILABLE in status mode. The backend accepted the stream, so it
// is owed its disconnect (reason error), sent at once.
func (ls *loopState) queueUnavailable(cs *conn, now int64) {
	cs.set(fOwesDisc)
	ls.sendDisconnect(cs, ReasonError)
	ls.endUnaccepted(cs)
	if !ls.srv.opts.ConnectFailureStatus {
		connectFailureAnswers[answerRetry].Inc()
		ls.answerRetry(cs, now)
		return
	}
	connectFailureAnswers[answerStatus].Inc()
	ls.respondError(cs, 503, "RABBITMQ_UNAVAILABLE", "RabbitMQ unavailable", cs.has(fKeepAlive))
}

// closeQueue cancels a stream's consumer when the stream ends.
func (ls *loopState) closeQueue(cs *conn) {
	if cs.has(fQueue) {
		cs.clear(fQueue)
		ls.srv.opts.Queues.Close(cs.token)
	}
}

// StreamReady is called by the transport (rabbitmq.Gateway) once the
// stream's queue consumes, and again after it was re-established.
func (s *Server) StreamReady(t [16]byte, again bool) {
	s.postToken(token(t), op{kind: opQueueReady, token: token(t), close: again})
}

// StreamFailed is called by the transport when the stream's queue could not
// be set up (or re-established, or the broker cancelled its consumer).
func (s *Server) StreamFailed(t [16]byte, _ error) {
	s.postToken(token(t), op{kind: opQueueFailed, token: token(t)})
}

// Deliver is called by the transport with one message for the stream; done
// reports whether it was queued on the connection (the message is acked) or
// not (it is requeued). The op owns fr's reference.
func (s *Server) Deliver(t [16]byte, fr *Frame, done func(written bool)) {
	if !s.postToken(token(t), op{kind: opDeliver, token: token(t), frame: fr, done: done}) {
		fr.Release()
		done(false)
	}
}

// postToken posts an op to the loop a token names; false if there is none.
func (s *Server) postToken(t token, o op) bool {
	loops := s.allLoops()
	if t.loopIndex() >= len(loops) {
		return false
	}
	loops[t.loopIndex()].post(o)
	return true
}

// queueReady applies StreamReady on the loop.
func (ls *loopState) queueReady(o *op, now int64) {
	cs := ls.lookup(o.token)
	if cs == nil || !cs.has(fQueue) || cs.state != stStream {
		return
	}
	if cs.has(fSetup) {
		if !o.close {
			ls.endSetupTask(cs, now)
		}
		return
	}
	if o.close { // re-established: the page learns it is live again
		ls.writeFixed(cs, readyChunk, sse.Ready)
	}
}

// queueFailed applies StreamFailed on the loop.
func (ls *loopState) queueFailed(o *op, now int64) {
	cs := ls.lookup(o.token)
	if cs == nil || !cs.has(fQueue) {
		return
	}
	cs.clear(fQueue) // the transport has forgotten it
	if cs.state == stStream {
		ls.endStream(cs, ReasonError, now)
	}
}

// applyDeliver applies Deliver on the loop.
func (ls *loopState) applyDeliver(o *op) {
	cs := ls.lookup(o.token)
	if cs == nil || !cs.has(fQueue) || cs.state != stStream {
		releaseFrame(o)
		o.done(false)
		return
	}
	if cs.has(fSetup) {
		ls.holdDelivery(cs, o)
		return
	}
	ls.deliver(cs, o)
}

// deliver writes one queue message and reports whether it is on the
// connection (a write that closed the stream, e.g. past the slow-consumer
// bound, is not).
func (ls *loopState) deliver(cs *conn, o *op) {
	ls.writeFrame(cs, o.frame)
	releaseFrame(o)
	o.done(cs.state == stStream)
}

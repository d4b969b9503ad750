package loop

import (
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"ssegw/callback"
	"ssegw/httpparse"
	"ssegw/sse"
	"ssegw/wheel"
)

// Shed causes, as metrics label them.
const (
	shedShuttingDown = iota
	shedTooMany
	shedOverloaded
)

// openStream runs the SSE pre-checks and, if they pass, registers the stream
// and asks the backend (CONTRACT.md section 4.1).
func (ls *loopState) openStream(cs *conn, req *httpparse.Request, head []byte, now int64) {
	s := ls.srv
	keep := req.KeepAlive
	if !s.opts.CallbackConfigured {
		ls.respond(cs, 503, "", jsonCT, errorBody("Service not configured", "SERVICE_NOT_CONFIGURED"), keep, now)
		return
	}
	chunked := req.Version == httpparse.HTTP11
	if s.stopping.Load() {
		ls.shed(cs, shedShuttingDown, chunked, now)
		return
	}
	// Claim a stream slot and a pending slot atomically: loops admit in
	// parallel, and a check-then-add would let them overshoot the bounds.
	if s.streams.Add(1) > int64(s.opts.MaxConnections) {
		s.streams.Add(-1)
		ls.shed(cs, shedTooMany, chunked, now)
		return
	}
	if s.pendingN.Add(1) > int64(s.opts.MaxPendingConnects) {
		s.pendingN.Add(-1)
		s.streams.Add(-1)
		ls.shed(cs, shedOverloaded, chunked, now)
		return
	}
	cs.head = ls.heads.Plain(head) // for the connect callback; kept compact once accepted (heads.go)
	cs.opened = now
	cs.token = ls.tokens.next(s.opts.NodeID, ls.idx, cs.slot)
	if chunked {
		cs.set(fChunked)
	}
	// One allocation for the pending entry, its connect job and the job's
	// result (connectDone).
	pend := &pending{cs: cs}
	job := &pend.job
	*job = callback.Job{Action: callback.ActionConnect, Token: cs.token.String(), Head: cs.head, Done: ls.connectDone, Ctx: pend}
	if s.opts.Callbacks.Connect(job) != nil {
		cs.head = nil
		s.pendingN.Add(-1)
		s.streams.Add(-1)
		ls.shed(cs, shedOverloaded, chunked, now)
		return
	}
	cs.state = stPending
	if id := req.LastEventID(head); id != nil {
		ls.keepLastEventID(pend, id, true)
	}
	ls.pending[cs.slot] = pend
	cs.set(fStream | fRegistered)
	s.registered.Add(1)
	if s.debug {
		s.log.Debug("stream requested", "token", job.Token, "loop", ls.idx, "url", string(req.Target.In(head)))
	}
	ls.wheel.Cancel(cs.timer)
	cs.timer = wheel.Timer{}
	ls.putParser(cs)
}

// connectDone runs on a callback worker: it hands the result to the loop,
// in the job's pending entry (the post orders this write before the loop's
// read; the loop touches no other field of the entry's job).
func (ls *loopState) connectDone(j *callback.Job, r callback.Result) {
	pend := j.Ctx.(*pending)
	pend.result = r
	ls.post(op{kind: opConnectResult, conn: pend.cs, result: &pend.result})
}

// connectResult applies a connect callback's outcome on the loop.
func (ls *loopState) connectResult(cs *conn, r *callback.Result, now int64) {
	ls.srv.pendingN.Add(-1)
	connectOutcomes[r.Outcome].Inc()
	if cs.has(fGone) || cs.state == stClosed {
		// The client left while we waited: the backend accepted a stream that
		// is already gone, so it is owed its disconnect.
		if r.Outcome == callback.Accepted {
			cs.set(fOwesDisc)
			ls.sendDisconnect(cs, ReasonClientClosed)
		}
		cs.head = nil
		return
	}
	pend := ls.pending[cs.slot]
	delete(ls.pending, cs.slot)
	if ls.srv.debug && r.Outcome != callback.Accepted {
		ls.srv.log.Debug("stream refused by the connect callback", "token", cs.token.String(), "outcome", r.Outcome.String(), "status", r.Status)
	}
	switch r.Outcome {
	case callback.Accepted:
		ls.accept(cs, pend, r, now)
	case callback.Rejected:
		ls.endUnaccepted(cs)
		ls.writeRaw(cs, sseHead(cs))
		ls.writeMessage(cs, sse.AppendRejected(nil, r.Status, r.Phrase))
		ls.endBody(cs, now)
	default:
		ls.endUnaccepted(cs)
		if r.Outcome.Failed() && !ls.srv.opts.ConnectFailureStatus {
			connectFailureAnswers[answerRetry].Inc()
			ls.answerRetry(cs, now)
			return
		}
		if r.Outcome.Failed() {
			connectFailureAnswers[answerStatus].Inc()
		}
		status, code, msg := failureResponse(r)
		ls.respondError(cs, status, code, msg, cs.has(fKeepAlive))
	}
}

// answerRetry answers a stream whose connect callback failed (CONNECT_FAILURE
// =retry) exactly like a shed request: 200, the SSE headers, a randomised
// retry hint and the end of the stream. A browser's EventSource treats any
// non-200 as final; this way it comes back by itself once the backend has
// recovered, spread over the hint's window.
func (ls *loopState) answerRetry(cs *conn, now int64) {
	_, _ = cs.c.Write(ls.shedResponse(cs.has(fChunked)))
	ls.closeAfterFlush(cs, ReasonNone, now)
}

func failureResponse(r *callback.Result) (int, string, string) {
	switch r.Outcome {
	case callback.Timeout:
		return 504, "GATEWAY_TIMEOUT", "Gateway timeout"
	case callback.Unavailable:
		return 503, "BACKEND_UNAVAILABLE", "Backend unavailable"
	}
	return r.Status, "BACKEND_ERROR", "Backend returned " + itoa(r.Status)
}

// The SSE response heads as bytes, and each followed by `ready` (chunked on
// HTTP/1.1): made once, written as they are.
var (
	sseHead1      = []byte(sseHeaders1)
	sseHead0      = []byte(sseHeaders0)
	sseHeadReady1 = append([]byte(sseHeaders1), readyChunk...)
	sseHeadReady0 = append([]byte(sseHeaders0), sse.Ready...)
)

func sseHead(cs *conn) []byte {
	if cs.has(fChunked) {
		return sseHead1
	}
	return sseHead0
}

// accept starts the stream: headers, buffered sends in order, then ready and
// heartbeats — at once, or after its setup work (setup.go).
func (ls *loopState) accept(cs *conn, pend *pending, r *callback.Result, now int64) {
	ls.keepHead(cs)
	queue := ls.wantsQueue(r)
	if queue {
		if ls.srv.opts.Queues.Open(cs.token, r.RequestID, r.Bindings) != nil {
			ls.queueUnavailable(cs, now)
			return
		}
		cs.set(fQueue)
		pend.setup++
	}
	cs.set(fOwesDisc)
	cs.state = stStream
	streamsOpened.Inc()
	if ls.srv.debug {
		ls.srv.log.Debug("stream accepted", "token", cs.token.String(), "loop", ls.idx, "bindings", len(r.Bindings), "buffered", len(pend.ops),
			"queue", queue)
	}
	if len(pend.ops) == 0 && pend.setup == 0 && !ls.mayResume(r) {
		// Nothing goes between the head and `ready`: one write.
		ls.bind(cs, r.Bindings)
		ls.writeFixed(cs, sseHeadReady1, sseHeadReady0)
		ls.started(cs, now)
		return
	}
	ls.writeRaw(cs, sseHead(cs))
	for i := range pend.ops {
		o := &pend.ops[i]
		ls.applySend(cs, o.frame, o.close, now)
		o.frame = nil
		if cs.state != stStream {
			ls.releaseOps(pend.ops[i+1:])
			return // a buffered close ended it
		}
	}
	ls.bind(cs, r.Bindings)
	ls.startResume(cs, pend, r)
	if cs.state != stStream {
		return // its replay could not start: ended with a retry hint
	}
	if pend.setup > 0 {
		ls.beginSetup(cs, pend)
		return
	}
	ls.ready(cs, now)
}

// firstBeat is when a stream that became ready at now beats first: within
// one interval iv, never later — the interval minus spread, rounded down onto
// the grid (see heartbeatGrid), so at least iv - spread - heartbeatGrid on.
func firstBeat(now int64, iv, spread time.Duration) int64 {
	due := now + int64(iv-spread)
	return due - due%int64(heartbeatGrid)
}

func (ls *loopState) releaseOps(ops []op) {
	for i := range ops {
		if ops[i].frame != nil {
			ops[i].frame.Release()
			ops[i].frame = nil
		}
	}
}

// endUnaccepted forgets a stream whose connect failed or was rejected: no
// disconnect is owed.
func (ls *loopState) endUnaccepted(cs *conn) {
	ls.unregister(cs)
	ls.untrackStream(cs)
	cs.head = nil
	cs.state = stStream // so writes go out; the caller ends the body
}

// heartbeat writes `: heartbeat` unless the link still has unsent bytes, and
// re-arms on the stream's cadence.
func (ls *loopState) heartbeat(cs *conn, due int64) {
	if cs.state != stStream {
		return
	}
	now := ls.now()
	next := due + int64(ls.srv.opts.HeartbeatInterval)
	if next <= now { // we fell behind (a long stall): skip the missed beats
		next = now + int64(ls.srv.opts.HeartbeatInterval)
	}
	cs.timer = ls.wheel.AddAt(now, next, payload(cs, tkHeartbeat))
	if cs.c.OutboundBuffered() > 0 {
		ls.counters.heartbeatsSkipped.Add(1)
		return
	}
	ls.counters.heartbeats.Add(1)
	ls.writeFixed(cs, heartbeatChunk, sse.Heartbeat)
}

// The fixed messages every stream gets, wrapped as chunks once.
var (
	heartbeatChunk = newRawFrame(sse.Heartbeat).Bytes(true)
	readyChunk     = newRawFrame(sse.Ready).Bytes(true)
)

// writeFixed writes one of the fixed messages: its pre-wrapped chunk on
// HTTP/1.1, the bare message on HTTP/1.0.
func (ls *loopState) writeFixed(cs *conn, chunk, msg []byte) {
	if cs.has(fChunked) {
		ls.writeRaw(cs, chunk)
	} else {
		ls.writeRaw(cs, msg)
	}
}

// applySend writes one send (event and/or close) to a streaming connection.
func (ls *loopState) applySend(cs *conn, fr *Frame, closeAfter bool, now int64) {
	if fr != nil {
		ls.writeFrame(cs, fr)
		fr.Release()
	}
	if closeAfter && cs.state == stStream {
		ls.endStream(cs, ReasonServerClosed, now)
	}
}

// writeFrame writes a shared frame to one stream and applies the slow-consumer rule.
func (ls *loopState) writeFrame(cs *conn, fr *Frame) {
	if cs.state != stStream {
		return
	}
	ls.budget--
	b := fr.Bytes(cs.has(fChunked))
	ls.counters.events.Add(1)
	ls.counters.bytes.Add(uint64(len(b)))
	ls.counters.writes.Add(1)
	_, _ = cs.c.Write(b)
	ls.afterWrite(cs)
}

// writeMessage wraps one message as a chunk (HTTP/1.1) and writes it.
func (ls *loopState) writeMessage(cs *conn, msg []byte) {
	if cs.has(fChunked) {
		b := appendHex(make([]byte, 0, len(msg)+12), len(msg))
		b = append(b, "\r\n"...)
		b = append(b, msg...)
		msg = append(b, "\r\n"...)
	}
	ls.writeRaw(cs, msg)
}

func (ls *loopState) writeRaw(cs *conn, b []byte) {
	if cs.state == stClosed || cs.state == stClosing {
		return
	}
	ls.budget--
	ls.counters.bytes.Add(uint64(len(b)))
	ls.counters.writes.Add(1)
	_, _ = cs.c.Write(b)
	ls.afterWrite(cs)
}

// afterWrite enforces WRITE_BUFFER_LIMIT_BYTES and arms the write-progress
// deadline while bytes are pending.
func (ls *loopState) afterWrite(cs *conn) {
	if cs.state == stClosed {
		return // the write failed and gnet closed it (OnClose already ran)
	}
	pendingBytes := cs.c.OutboundBuffered()
	if pendingBytes > ls.srv.opts.WriteBufferLimit {
		slowConsumers.Inc()
		ls.srv.logSlow(cs, pendingBytes)
		ls.closeNow(cs, ReasonError)
		return
	}
	if pendingBytes > 0 && !cs.wtimer.Armed() {
		now := ls.now()
		cs.wmark = int32(pendingBytes)
		cs.wtimer = ls.wheel.Add(now, ls.srv.opts.WriteTimeout, payload(cs, tkWrite))
		ls.armed(now + int64(ls.srv.opts.WriteTimeout))
	}
}

// writeDeadline fires WRITE_TIMEOUT after bytes became pending: if none of them
// left since, the peer is stuck and the connection is closed.
func (ls *loopState) writeDeadline(cs *conn, due int64) {
	if cs.state == stClosed {
		return
	}
	p := cs.c.OutboundBuffered()
	if p == 0 {
		return
	}
	if int32(p) >= cs.wmark {
		writeTimeouts.Inc()
		ls.closeNow(cs, ReasonError)
		return
	}
	cs.wmark = int32(p)
	now := ls.now()
	cs.wtimer = ls.wheel.Add(now, ls.srv.opts.WriteTimeout, payload(cs, tkWrite))
}

// endStream ends a streaming connection from our side: disconnect callback,
// then the end of the body; on a kept-alive HTTP/1.1 connection the next
// request may follow.
func (ls *loopState) endStream(cs *conn, r Reason, now int64) {
	if cs.state != stStream {
		return
	}
	ls.sendDisconnect(cs, r)
	ls.unregister(cs)
	ls.endBody(cs, now)
}

// endBody ends the response body of a stream.
func (ls *loopState) endBody(cs *conn, now int64) {
	ls.untrackStream(cs)
	ls.wheel.Cancel(cs.timer)
	cs.timer = wheel.Timer{}
	cs.head = nil
	if cs.has(fChunked) {
		ls.writeRaw(cs, []byte(lastChunk))
		if cs.has(fKeepAlive) && cs.state == stStream {
			cs.inbound = 0
			ls.startHead(cs, now)
			return
		}
	}
	ls.closeAfterFlush(cs, ReasonNone, now)
}

// untrackStream takes the connection out of the open-stream count.
func (ls *loopState) untrackStream(cs *conn) {
	if cs.has(fStream) {
		cs.clear(fStream)
		ls.srv.streams.Add(-1)
	}
}

func (ls *loopState) unregister(cs *conn) {
	if cs.has(fRegistered) {
		cs.clear(fRegistered)
		ls.srv.registered.Add(-1)
	}
	ls.unbind(cs)
	ls.leaveSetup(cs)
	ls.closeQueue(cs)
	ls.forgetResume(cs)
}

// sendDisconnect sends the disconnect callback if the stream still owes one.
func (ls *loopState) sendDisconnect(cs *conn, r Reason) {
	if !cs.has(fOwesDisc) {
		return
	}
	cs.clear(fOwesDisc)
	disconnects[r].Inc()
	head, kept := ls.takeHead(cs)
	ls.srv.opts.Callbacks.Disconnect(&callback.Job{Action: callback.ActionDisconnect, Reason: r.String(), Token: cs.token.String(),
		Head: head, Request: kept})
}

// closeNow ends a connection now (slow consumer, protocol error, write
// deadline, idle head): gnet closes it and OnClose does the bookkeeping.
func (ls *loopState) closeNow(cs *conn, r Reason) {
	if cs.state == stClosed || (cs.state == stClosing && cs.reason != ReasonNone) {
		return
	}
	if cs.reason == ReasonNone {
		cs.reason = r
	}
	if cs.state != stPending {
		cs.state = stClosing
	}
	_ = cs.c.Close()
}

// closeAfterFlush closes once the kernel has taken every byte we wrote.
func (ls *loopState) closeAfterFlush(cs *conn, r Reason, now int64) {
	if cs.state == stClosed {
		return
	}
	cs.state = stClosing
	cs.reason = r
	ls.putParser(cs)
	if cs.c.OutboundBuffered() == 0 {
		_ = cs.c.Close()
		return
	}
	if !cs.has(fFlushing) { // a drain waits until the kernel has taken these bytes
		cs.set(fFlushing)
		ls.srv.flushing.Add(1)
	}
	ls.setTimer(cs, now, lingerCheck, tkLinger)
}

func (ls *loopState) linger(cs *conn) {
	if cs.state != stClosing {
		return
	}
	if cs.c.OutboundBuffered() == 0 {
		_ = cs.c.Close()
		return
	}
	ls.setTimer(cs, ls.now(), lingerCheck, tkLinger) // the write-progress deadline bounds this
}

// closed is OnClose's work: settle the connection's debts and free its slot.
func (ls *loopState) closed(cs *conn, err error) {
	prev := cs.state
	cs.state = stClosed
	ls.stopTimers(cs)
	ls.putParser(cs)
	r := cs.reason
	if r == ReasonNone {
		r = ReasonError
		if peerGone(err) {
			r = ReasonClientClosed
		}
	}
	if prev == stPending {
		cs.set(fGone) // the connect result will settle the disconnect
		if p := ls.pending[cs.slot]; p != nil {
			ls.releaseOps(p.ops)
			delete(ls.pending, cs.slot)
		}
	}
	if ls.srv.debug {
		ls.srv.log.Debug("connection closed", "token", cs.token.String(), "loop", ls.idx, "state", prev, "reason", r.String(),
			"owed_disconnect", cs.has(fOwesDisc), "err", err)
	}
	ls.sendDisconnect(cs, r)
	ls.unregister(cs)
	ls.untrackStream(cs)
	if prev != stPending {
		cs.head = nil
	}
	ls.release(cs)
	connsClosed.Inc()
}

// shed answers an SSE request we will not take right now: 200, the SSE
// headers, a randomised retry hint and the end of the stream, then close
// (a non-200 would make a browser's EventSource give up for good).
func (ls *loopState) shed(cs *conn, cause int, chunked bool, now int64) {
	shedCount(cause)
	cs.state = stStream
	if chunked {
		cs.set(fChunked)
	}
	_, _ = cs.c.Write(ls.shedResponse(chunked))
	ls.closeAfterFlush(cs, ReasonNone, now)
}

// shedAtAccept answers a connection accepted past the socket cap (or while
// draining) before its request is read: the shed answer, then a half-close, so
// the client reads the retry hint and a clean end instead of a reset (closing a
// socket with an unread request in it sends RST). The socket is kept until the
// client's FIN or shedLingerTime, for at most shedLingerMax sockets at once;
// beyond that it is closed at once.
func (ls *loopState) shedAtAccept(cs *conn) ([]byte, gnet.Action) {
	s := ls.srv
	cause := shedTooMany
	if s.stopping.Load() {
		cause = shedShuttingDown
	}
	shedCount(cause)
	cs.state = stClosing
	if s.shedLingering.Add(1) > shedLingerMax {
		s.shedLingering.Add(-1)
		return ls.shedResponse(false), gnet.Close
	}
	cs.set(fShedLinger)
	_, _ = cs.c.Write(ls.shedResponse(false))
	if cs.state == stClosed || cs.c.OutboundBuffered() > 0 {
		return nil, gnet.Close
	}
	_ = unix.Shutdown(cs.c.Fd(), unix.SHUT_WR)
	ls.setTimer(cs, ls.now(), shedLingerTime, tkLinger)
	return nil, gnet.None
}

// shedResponse is a whole shed answer.
func (ls *loopState) shedResponse(chunked bool) []byte {
	msg := sse.AppendRetry(nil, ls.rng.between(shedRetryMin, shedRetryMax))
	if !chunked {
		return append([]byte(sseHeaders0), msg...)
	}
	b := append([]byte(sseHeaders1), appendHex(nil, len(msg))...)
	b = append(b, "\r\n"...)
	b = append(b, msg...)
	return append(b, "\r\n"+lastChunk...)
}

func appendRetry(ms uint64) []byte { return sse.AppendRetry(nil, ms) }

func appendHex(b []byte, n int) []byte {
	const digits = "0123456789abcdef"
	var tmp [16]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = digits[n&0xf]
		n >>= 4
		if n == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

func itoa(n int) string {
	return string(appendInt(nil, n))
}

func appendInt(b []byte, n int) []byte {
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

package loop

import (
	"context"
	"errors"
	"math"

	"github.com/VictoriaMetrics/metrics"

	"ssegw/callback"
	"ssegw/frame"
	"ssegw/history"
)

// Resume (CONTRACT.md section 9; the history itself is package history). With
// history on, a stream accepted with bindings and a position — the connect
// answer's `since`, else the request's Last-Event-ID — gets, after its
// buffered sends and before `ready`, every kept message of its channels after
// that position, once each, in position order; or, when that cannot be
// proven complete, `event: resync` and no replay.
//
// The replay runs on the stream's loop, in bounded steps like a fan-out (it is
// a fan-out in reverse: kept frames written to one stream): each step reads at
// most what is left of its write budget (half of it while a fan-out or inbox
// work waits), and at most replayBatch frames, from the loop's history.Reader
// and writes them with one writev, charged as one write (as buffered sends
// are): a storm of resuming streams costs a syscall per stream and step, not
// one per missed event. The stream is in
// its setup phase meanwhile (setup.go), so `ready` follows the replay.
//
// The race with live publishes: a publish is appended to the history before
// its frame is posted to any loop, in position order (history.Begin). While a
// stream replays, the live frames of its channels that reach it are skipped:
// the replay reads the history up to its head and writes them itself. When a
// read answers Done with the head H, the stream skips live frames at or below
// H (they were queued to the loop before the read but the replay already
// wrote them) and takes those above. One number per resumed stream, in the
// loop's skips map (math.MaxUint64 while the replay runs), dropped at the
// first live frame above it.

// replayShare bounds the writes replays take from a step while a fan-out or
// inbox work waits, so a storm of resuming streams slows live delivery to
// half speed but never stops it (and heartbeats, advanced first, never wait).
const replayShare = stepBudget / 2

// replayBatch bounds the frames a replay writes to a stream in one writev
// (one unit of the step's budget, as writeFrames charges buffered sends):
// well under IOV_MAX. One write per frame made a storm of resuming streams
// cost a syscall (about 20 µs on loopback, the receiver's TCP path included)
// per missed event: BENCHMARKS.md "Resume (issue 14)".
const replayBatch = 64

// writeReplayed writes the replayed frames gathered in ls.iov to cs in one
// writev, then ends the stream if the last of them closes it; ls.iov is
// empty afterwards.
func (ls *loopState) writeReplayed(cs *conn, closing bool, now int64) {
	if len(ls.iov) == 0 || cs.state != stStream {
		clear(ls.iov)
		ls.iov = ls.iov[:0]
		return
	}
	replayedMessages.Add(len(ls.iov))
	ls.writeIOV(cs)
	if closing && cs.state == stStream {
		ls.endStream(cs, ReasonServerClosed, now)
	}
}

// replayAll is the skip value of a stream whose replay is still running on
// the loop (the history in memory): live frames are skipped, the replay
// writes them. replayHold is that of a stream whose replay runs elsewhere
// (the cluster's, in JetStream): live frames are held (setup.go) until it
// says how far it got.
const (
	replayAll  = math.MaxUint64
	replayHold = math.MaxUint64 - 1
)

// Resumer is the cluster's history (package cluster over package jetstore):
// it replays off the loops, since it talks to the broker.
type Resumer interface {
	// Replay starts replaying a stream's channels after a position (it
	// checks the epoch itself); it must not block. Its results come back
	// through Server.ReplayChunk. False: it cannot now (the stream is ended
	// with a retry hint and comes back with the same position).
	Replay(t [16]byte, after history.Position, channels []string) bool
}

// ReplayStatus is how far an asynchronous replay got (Server.ReplayChunk).
type ReplayStatus uint8

const (
	ReplayMore      ReplayStatus = iota // frames follow in later chunks
	ReplayDone                          // caught up through the chunk's position
	ReplayTruncated                     // messages after the position were dropped: resync
	ReplayUnknown                       // the position is of another history: resync
	ReplayFailed                        // the history did not answer: end the stream with a retry hint
)

// ReplayFrame is one replayed message for Server.ReplayChunk.
type ReplayFrame struct {
	Frame *Frame // one reference, owned by the chunk
	Close bool
}

// replayChunk is one ReplayChunk call as an op carries it.
type replayChunk struct {
	frames  []ReplayFrame
	status  ReplayStatus
	through uint64
	going   bool // answer: the stream still waits for more
}

// ReplayChunk hands one chunk of an asynchronous replay to the stream's loop
// and waits (at most commandWait) until it is written. through is, with
// ReplayDone, the position the replay caught up to. It reports whether the
// stream is still replaying (false: it ended, stop). Any goroutine but a
// loop's.
func (s *Server) ReplayChunk(t [16]byte, frames []ReplayFrame, st ReplayStatus, through uint64) bool {
	rc := &replayChunk{frames: frames, status: st, through: through}
	loops := s.allLoops()
	if token(t).loopIndex() >= len(loops) {
		releaseReplayFrames(frames)
		return false
	}
	if err := loops[token(t).loopIndex()].run(context.Background(), op{kind: opReplayChunk, token: token(t), chunk: rc}); err != nil {
		return false // a wedged loop: the frames are its to release when it gets to them
	}
	return rc.going
}

func releaseReplayFrames(frames []ReplayFrame) {
	for i := range frames {
		if frames[i].Frame != nil {
			frames[i].Frame.Release()
			frames[i].Frame = nil
		}
	}
}

// applyReplayChunk writes one chunk of an asynchronous replay on the loop.
func (ls *loopState) applyReplayChunk(o *op, now int64) {
	rc := o.chunk
	defer o.w.finish()
	cs := ls.lookup(o.token)
	if cs == nil || cs.state != stStream || !cs.has(fSetup) || ls.skips[cs.slot] != replayHold {
		releaseReplayFrames(rc.frames)
		return
	}
	ls.iov = ls.iov[:0]
	closing := false
	for i := range rc.frames {
		if !closing {
			ls.iov = append(ls.iov, rc.frames[i].Frame.Bytes(cs.has(fChunked)))
			closing = rc.frames[i].Close
		}
		if len(ls.iov) == replayBatch {
			ls.writeReplayed(cs, closing, now)
		}
	}
	ls.writeReplayed(cs, closing, now)
	releaseReplayFrames(rc.frames)
	if cs.state != stStream {
		return
	}
	switch rc.status {
	case ReplayMore:
		rc.going = true
		return
	case ReplayDone:
		ls.skips[cs.slot] = rc.through
	case ReplayTruncated, ReplayUnknown:
		reason := resyncTruncated
		if rc.status == ReplayUnknown {
			reason = resyncUnknown
		}
		ls.resync(cs, reason)
		delete(ls.skips, cs.slot) // what was held follows the resync: the page reloads first
	case ReplayFailed:
		ls.retryLater(cs, now)
		return
	}
	ls.endSetupTask(cs, now)
}

// Replay metrics.
var (
	replaysStarted   = metrics.NewCounter(`ssegw_replays_total`)
	replayedMessages = metrics.NewCounter(`ssegw_replayed_messages_total`)
	replayFailures   = metrics.NewCounter(`ssegw_replay_failures_total`)
	resyncs          = [...]*metrics.Counter{
		resyncUnknown:   metrics.NewCounter(`ssegw_resyncs_total{reason="unknown"}`),
		resyncTruncated: metrics.NewCounter(`ssegw_resyncs_total{reason="truncated"}`),
	}
)

// Resync reasons.
const (
	resyncUnknown = iota
	resyncTruncated
)

var resyncChunks = [...][2][]byte{
	resyncUnknown:   fixedChunk(`event: resync` + "\n" + `data: {"reason":"unknown"}` + "\n\n"),
	resyncTruncated: fixedChunk(`event: resync` + "\n" + `data: {"reason":"truncated"}` + "\n\n"),
}

// fixedChunk is a fixed message as [chunk, bare message].
func fixedChunk(msg string) [2][]byte {
	fr := frame.NewRaw([]byte(msg))
	return [2][]byte{append([]byte(nil), fr.Bytes(true)...), []byte(msg)}
}

// replay is one stream's replay in progress.
type replay struct {
	cs       *conn
	tok      token
	after    history.Position
	channels []string
	wrote    bool
}

// resumePosition is where an accepted stream resumes from, if anywhere: the
// connect answer's since, else the request's Last-Event-ID.
func resumePosition(r *callback.Result, pend *pending) (string, bool) {
	if r.HasSince {
		return r.Since, true
	}
	return pend.lastEventID, pend.hasLastEventID
}

// mayResume reports whether startResume could do anything for a stream
// accepted with r: history (or the cluster's) is on and it has bindings.
func (ls *loopState) mayResume(r *callback.Result) bool {
	return (ls.srv.opts.History != nil || ls.srv.opts.Resumer != nil) && len(r.Bindings) > 0
}

// startResume begins an accepted stream's resume, if it has one: a replay
// (a setup task, counted in pend.setup) or, for a position that is not of
// this history, the resync event at once.
func (ls *loopState) startResume(cs *conn, pend *pending, r *callback.Result) {
	if !ls.mayResume(r) {
		return
	}
	h, rs := ls.srv.opts.History, ls.srv.opts.Resumer
	text, ok := resumePosition(r, pend)
	if !ok {
		return
	}
	pos, err := history.ParsePosition(text)
	if err != nil || (h != nil && pos.Epoch != h.Epoch()) {
		ls.resync(cs, resyncUnknown)
		return
	}
	replaysStarted.Inc()
	pend.setup++
	if rs != nil { // the cluster's history: off the loop; live frames held meanwhile
		ls.skips[cs.slot] = replayHold
		if !rs.Replay(cs.token, pos, boundNames(cs)) {
			pend.setup--
			delete(ls.skips, cs.slot)
			ls.retryLater(cs, ls.now())
		}
		return
	}
	ls.skips[cs.slot] = replayAll
	ls.replays = append(ls.replays, &replay{cs: cs, tok: cs.token, after: pos, channels: boundNames(cs)})
}

// boundNames lists the channels a stream is bound to.
func boundNames(cs *conn) []string {
	names := make([]string, len(cs.subs))
	for i, r := range cs.subs {
		names[i] = r.list.name
	}
	return names
}

// resync tells the page its state cannot be caught up: it reloads instead.
func (ls *loopState) resync(cs *conn, reason int) {
	resyncs[reason].Inc()
	ls.writeFixed(cs, resyncChunks[reason][0], resyncChunks[reason][1])
}

// continueReplays runs the replays of this loop within the step's budget.
func (ls *loopState) continueReplays(now int64) {
	if len(ls.replays) == 0 {
		return
	}
	floor := 0
	if ls.fanout != nil || len(ls.work) > 0 {
		floor = ls.budget - replayShare
	}
	if ls.reader == nil {
		ls.reader = ls.srv.opts.History.NewReader()
	}
	kept := ls.replays[:0]
	for _, rp := range ls.replays {
		if ls.budget > floor && !ls.replayStep(rp, now) {
			continue // finished, or its stream is gone
		}
		kept = append(kept, rp)
	}
	clear(ls.replays[len(kept):])
	ls.replays = kept
}

// replayStep writes one chunk of a replay; false once it is over.
func (ls *loopState) replayStep(rp *replay, now int64) bool {
	cs := rp.cs
	if cs.state != stStream || cs.token != rp.tok || !cs.has(fSetup) {
		return false
	}
	entries, next, st := ls.reader.Read(rp.after, rp.channels, min(max(ls.budget, 1), replayBatch))
	ls.iov = ls.iov[:0]
	closing := false
	for i := range entries {
		if !closing {
			ls.iov = append(ls.iov, entries[i].Frame.Bytes(cs.has(fChunked)))
			closing = entries[i].Close
		}
	}
	if len(ls.iov) > 0 {
		rp.wrote = true
	}
	ls.writeReplayed(cs, closing, now)
	for i := range entries {
		entries[i].Frame.Release()
		entries[i].Frame = nil
	}
	if cs.state != stStream {
		return false
	}
	switch st {
	case history.More:
		rp.after = next
		return true
	case history.Done:
		ls.skips[cs.slot] = next.Seq
	default: // the position is of another history, or part of what followed it was dropped
		reason := resyncTruncated
		if st == history.Unknown {
			reason = resyncUnknown
		}
		ls.resync(cs, reason)
		// The page reloads its state after this; what was published up to
		// now is in that state, what follows arrives live.
		ls.skips[cs.slot] = ls.srv.opts.History.Head().Seq
	}
	ls.endSetupTask(cs, now)
	return false
}

// skipLive reports whether a live publish at position pos is not to be
// written to a resumed stream: its replay is still running (it will write
// it), or wrote it already.
func (ls *loopState) skipLive(cs *conn, pos uint64) bool {
	if len(ls.skips) == 0 || pos == 0 {
		return false
	}
	through, ok := ls.skips[cs.slot]
	if !ok || through == replayHold {
		return false // not resumed, or its replay runs elsewhere: hold (setup.go)
	}
	if pos <= through {
		return true
	}
	delete(ls.skips, cs.slot) // live from here on: positions only grow
	return false
}

// forgetResume drops a stream's resume state when it ends.
func (ls *loopState) forgetResume(cs *conn) {
	if len(ls.skips) > 0 {
		delete(ls.skips, cs.slot)
	}
}

// keepLastEventID copies a request's Last-Event-ID when history is on (a
// replay may need it once the connect callback answers).
func (ls *loopState) keepLastEventID(p *pending, id []byte, present bool) {
	if (ls.srv.opts.History != nil || ls.srv.opts.Resumer != nil) && present {
		p.lastEventID, p.hasLastEventID = string(id), true
	}
}

// Position is the position of the latest publish kept in the history (GET
// /internal/position); ok is false with history off.
func (s *Server) Position(context.Context) (string, error) {
	if s.opts.History == nil {
		return "", ErrHistoryOff
	}
	return s.opts.History.Head().String(), nil
}

// ErrHistoryOff answers a position asked of a gateway without history.
var ErrHistoryOff = errors.New("loop: history is off (HISTORY_SIZE=0)")

// ErrHistoryUnavailable: the cluster's history did not answer (a publish
// that was to be kept, a position).
var ErrHistoryUnavailable = errors.New("loop: the history is not available")

// retryLater ends a resuming stream whose replay could not run: nothing
// could be proven, so it gets a retry hint and comes back with the same
// position once the history answers.
func (ls *loopState) retryLater(cs *conn, now int64) {
	replayFailures.Inc()
	ls.writeMessage(cs, appendRetry(ls.rng.between(drainRetryMin, drainRetryMax)))
	cs.clear(fKeepAlive)
	ls.endStream(cs, ReasonServerClosed, now)
}

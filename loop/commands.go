package loop

import (
	"errors"
	"sync/atomic"
	"time"

	"ssegw/callback"
	"ssegw/frame"
	"ssegw/history"
	"ssegw/sse"
)

// opKind is what an inbox item asks the loop to do.
type opKind uint8

const (
	opSend          opKind = iota // an event and/or close for one stream
	opPublish                     // an event and/or close for a channel's streams on this loop
	opConnectResult               // a connect callback came back
	opDrain                       // shutdown: end every stream on this loop
	opStats                       // count this loop's connections and timers
	opCut                         // drain deadline: close what is left
	opList                        // hand out one chunk of a listing (listing.go)
	opQueueReady                  // a stream's RabbitMQ queue consumes (close: again, after a reconnect)
	opQueueFailed                 // a stream's RabbitMQ queue could not be set up
	opDeliver                     // a message from a stream's RabbitMQ queue (queues.go)
	opReplayChunk                 // a chunk of a replay run off the loop (resume.go)
	opDone                        // already applied out of order (see expedite)
)

// op is one inbox item.
type op struct {
	kind    opKind
	close   bool
	token   token
	conn    *conn
	frame   *Frame // one reference owned by the op
	channel string
	result  *callback.Result
	res     *CmdResult
	w       *waiter
	list    *listReq
	done    func(written bool) // opDeliver: the transport's ack/requeue
	pos     uint64             // opPublish with history on: the event's position (resume.go)
	chunk   *replayChunk       // opReplayChunk
}

// Command is one backend command (CONTRACT.md 6.1 and 6.2), validated by the
// control port. Do takes ownership of Frame's reference.
type Command struct {
	Publish bool
	Token   string // send
	Channel string // publish
	Frame   *Frame // nil when the command carries no event
	Close   bool
	// Event, for a publish with history on (Options.History), is the event
	// itself instead of Frame: Do gives it its position as id and encodes
	// it under the history's order lock (CONTRACT.md section 9).
	Event *sse.Event
	// Pos is a publish's position given elsewhere (the cluster's history):
	// its frame already carries it as id.
	Pos uint64
}

// CmdResult is the outcome of one Command.
type CmdResult struct {
	Status   int  // 200, 404 (token not found) or 503 (buffer full)
	Buffered bool // send: the connect callback is still pending
	// Pos is a publish's position with history on (HasPos): the id the
	// publish answer names.
	Pos      history.Position
	HasPos   bool
	conns    atomic.Int64
	timers   atomic.Int64
	channels atomic.Int64
	heads    atomic.Int64
}

// Connections is how many streams a publish reached.
func (r *CmdResult) Connections() int64 { return r.conns.Load() }

// AddConnections adds streams reached elsewhere (a cluster router counting
// other gateways' deliveries).
func (r *CmdResult) AddConnections(n int64) { r.conns.Add(n) }

// waiter lets Do wait until every op it posted was applied.
type waiter struct {
	n    atomic.Int32
	done chan struct{}
}

func (w *waiter) finish() {
	if w != nil && w.n.Add(-1) == 0 {
		close(w.done)
	}
}

// ErrLoopsBusy means the loops did not apply a command within commandWait.
var ErrLoopsBusy = errors.New("loop: event loops did not answer in time")

// Do applies commands in order and fills results (len(results) == len(cmds)).
// Commands for one loop reach it together and in order, so per-stream order is
// the order of cmds. Safe for concurrent use.
func (s *Server) Do(cmds []Command, results []CmdResult) error {
	w := &waiter{done: make(chan struct{})}
	loops := s.allLoops()
	var app *history.Appender
	if a, ok := s.beginHistory(cmds); ok {
		// Positions are given in the order the frames reach the loops'
		// inboxes: the order lock is held until they are posted.
		defer a.End()
		app = &a
	}
	batches := make([][]op, len(loops))
	total := int32(0)
	for i := range cmds {
		c := &cmds[i]
		res := &results[i]
		res.Status = 200
		if c.Publish {
			total += s.planPublish(c, res, w, loops, batches, app)
		} else {
			total += s.planSend(c, res, w, loops, batches)
		}
	}
	if total == 0 {
		return nil
	}
	w.n.Store(total)
	for i, b := range batches {
		if len(b) > 0 {
			loops[i].post(b...)
		}
	}
	t := time.NewTimer(commandWait)
	defer t.Stop()
	select {
	case <-w.done:
		return nil
	case <-t.C:
		return ErrLoopsBusy
	}
}

func (s *Server) planSend(c *Command, res *CmdResult, w *waiter, loops []*loopState, batches [][]op) int32 {
	t, err := parseToken(c.Token)
	if err != nil || t.loopIndex() >= len(loops) {
		res.Status = 404
		if c.Frame != nil {
			c.Frame.Release()
		}
		return 0
	}
	i := t.loopIndex()
	batches[i] = append(batches[i], op{kind: opSend, token: t, frame: c.Frame, close: c.Close, res: res, w: w})
	return 1
}

func (s *Server) planPublish(c *Command, res *CmdResult, w *waiter, loops []*loopState, batches [][]op, app *history.Appender) int32 {
	pos := s.keep(c, res, app)
	if pos == 0 {
		pos = c.Pos
	}
	if len(loops) == 0 {
		if c.Frame != nil {
			c.Frame.Release()
		}
		return 0
	}
	if c.Frame != nil {
		c.Frame.Retain(int32(len(loops) - 1))
	}
	for i := range loops {
		batches[i] = append(batches[i], op{kind: opPublish, channel: c.Channel, frame: c.Frame, close: c.Close, res: res, w: w, pos: pos})
	}
	publishes.Inc()
	return int32(len(loops))
}

// maxCoalesce bounds how many sends to one stream go out in one writev.
const maxCoalesce = 64

// applyRun applies ops[0], or, when ops starts with several sends of an event
// to the same open stream, writes all of them with one writev (several events
// pending for one stream go out in one write). It returns how many ops it used.
func (ls *loopState) applyRun(ops []op, now int64) int {
	o := &ops[0]
	k := 1
	var cs *conn
	if o.kind == opSend && o.frame != nil && !o.close {
		cs = ls.lookup(o.token)
	}
	if cs != nil && cs.state == stStream && !cs.has(fSetup) {
		for k < len(ops) && k < maxCoalesce && ops[k].kind == opSend && ops[k].token == o.token &&
			ops[k].frame != nil && !ops[k].close {
			k++
		}
	}
	if k == 1 {
		ls.apply(o, now)
		return 1
	}
	ls.writeFrames(cs, ops[:k])
	for j := range ops[:k] {
		releaseFrame(&ops[j])
		ops[j].w.finish()
	}
	return k
}

// writeFrames writes the frames of several ops to one stream in one writev.
func (ls *loopState) writeFrames(cs *conn, ops []op) {
	ls.iov = ls.iov[:0]
	for j := range ops {
		ls.iov = append(ls.iov, ops[j].frame.Bytes(cs.has(fChunked)))
	}
	ls.writeIOV(cs)
}

// writeIOV writes the frames gathered in ls.iov to cs in one writev, charged
// as one write of the step's budget; ls.iov is empty afterwards.
func (ls *loopState) writeIOV(cs *conn) {
	n := 0
	for _, b := range ls.iov {
		n += len(b)
	}
	ls.budget--
	ls.counters.events.Add(uint64(len(ls.iov)))
	ls.counters.bytes.Add(uint64(n))
	ls.counters.writes.Add(1)
	_, _ = cs.c.Writev(ls.iov)
	clear(ls.iov)
	ls.iov = ls.iov[:0]
	ls.afterWrite(cs)
}

// apply runs one inbox op on the loop.
func (ls *loopState) apply(o *op, now int64) {
	switch o.kind {
	case opSend:
		ls.applySendOp(o, now)
		o.w.finish()
	case opPublish:
		ls.startFanout(o)
	case opConnectResult:
		ls.connectResult(o.conn, o.result, now)
	case opDrain:
		ls.drainAll(now)
	case opCut:
		ls.cutAll(o)
	case opList:
		ls.listStep(o)
	case opQueueReady:
		ls.queueReady(o, now)
	case opQueueFailed:
		ls.queueFailed(o, now)
	case opDeliver:
		ls.applyDeliver(o)
	case opReplayChunk:
		ls.applyReplayChunk(o, now)
	case opDone:
	case opStats:
		o.res.conns.Add(int64(len(ls.conns) - len(ls.free)))
		o.res.timers.Add(int64(ls.wheel.Len()))
		o.res.channels.Add(int64(len(ls.channels)))
		o.res.heads.Add(int64(ls.heads.Stats().Pieces))
		o.w.finish()
	}
}

// lookup finds the stream a token names on this loop, or nil.
func (ls *loopState) lookup(t token) *conn {
	slot := t.slot()
	if slot >= uint32(len(ls.conns)) {
		return nil
	}
	cs := ls.conns[slot]
	if cs == nil || cs.token != t || !cs.has(fRegistered) {
		return nil
	}
	return cs
}

func (ls *loopState) applySendOp(o *op, now int64) {
	cs := ls.lookup(o.token)
	if cs == nil {
		o.res.Status = 404
		releaseFrame(o)
		return
	}
	switch {
	case cs.state == stPending || (cs.state == stStream && cs.has(fSetup)):
		ls.buffer(cs, o)
	case cs.state == stStream:
		ls.applySend(cs, o.frame, o.close, now)
		o.frame = nil
	default:
		o.res.Status = 404
		releaseFrame(o)
	}
}

func releaseFrame(o *op) {
	if o.frame != nil {
		o.frame.Release()
		o.frame = nil
	}
}

// buffer keeps a send that arrived while the connect callback is pending.
func (ls *loopState) buffer(cs *conn, o *op) {
	p := ls.pending[cs.slot]
	switch {
	case p.closeReq: // a buffered close was honoured: later items are dropped
		o.res.Buffered = true
		releaseFrame(o)
	case len(p.ops) >= maxBufferedPerConn:
		o.res.Status = 503
		releaseFrame(o)
	default:
		o.res.Buffered = true
		p.ops = append(p.ops, op{frame: o.frame, close: o.close})
		o.frame = nil
		p.closeReq = o.close
	}
}

// LoopStats are counts taken on the loops themselves (exact, unlike the
// gauges; for leak checks).
type LoopStats struct {
	Conns      int64 // connections in the loops' slabs
	Timers     int64 // live wheel timers
	Channels   int64 // channels with subscribers, summed over loops
	HeadPieces int64 // request-head pieces shared in the loops' head tables (0 once no stream keeps a head)
}

// Stats counts every loop's connections, timers, channels and shared head pieces.
func (s *Server) Stats() (LoopStats, error) {
	res, ok := s.everyLoop(opStats, commandWait)
	if !ok {
		return LoopStats{}, ErrLoopsBusy
	}
	return LoopStats{Conns: res.conns.Load(), Timers: res.timers.Load(), Channels: res.channels.Load(),
		HeadPieces: res.heads.Load()}, nil
}

// beginHistory takes the history's order lock if cmds hold a publish to be
// kept (Command.Event).
func (s *Server) beginHistory(cmds []Command) (history.Appender, bool) {
	h := s.opts.History
	if h == nil {
		return history.Appender{}, false
	}
	for i := range cmds {
		if cmds[i].Publish && cmds[i].Event != nil {
			return h.Begin(), true
		}
	}
	return history.Appender{}, false
}

// keep gives a publish's event its position, encodes it and appends it to
// the history (under the order lock Do holds); it returns the position (0:
// not kept).
func (s *Server) keep(c *Command, res *CmdResult, app *history.Appender) uint64 {
	if c.Event == nil || app == nil {
		return 0
	}
	a := *app
	ev := *c.Event
	ev.ID, ev.HasID = a.Next().String(), true
	c.Frame = frame.NewCompact(&ev, s.opts.EventFormat)
	res.Pos, res.HasPos = a.Append(c.Channel, c.Frame, c.Close, s.now()), true
	return res.Pos.Seq
}

// everyLoop posts one op of kind to every loop, with one shared result, and
// waits at most d for all of them to apply it (false: some did not in time).
func (s *Server) everyLoop(kind opKind, d time.Duration) (*CmdResult, bool) {
	res := &CmdResult{}
	loops := s.allLoops()
	if len(loops) == 0 {
		return res, true
	}
	w := &waiter{done: make(chan struct{})}
	w.n.Store(int32(len(loops)))
	for _, ls := range loops {
		ls.post(op{kind: kind, res: res, w: w})
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.done:
		return res, true
	case <-t.C:
		return res, false
	}
}

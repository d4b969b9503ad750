package loop

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"ssegw/headstore"
	"ssegw/history"
	"ssegw/httpparse"
	"ssegw/wheel"
)

// loopState is everything one event loop owns. Fields below the inbox are
// loop-goroutine only; the inbox and the atomics are shared with other
// goroutines, as their comments say.
type loopState struct {
	srv *Server
	el  gnet.EventLoop
	idx int

	// Shared: posted to by control handlers and callback workers.
	inboxMu sync.Mutex
	inbox   []op
	kick    chan struct{} // wakes the dispatcher (capacity 1)

	// Shared, written by the loop after each step.
	nextDue     atomic.Int64 // wheel's next expiry (ns since epoch), or 0 when empty
	timersGauge atomic.Int64

	// Dispatcher <-> step hand-off.
	stepDone chan bool // the step's "more work" answer
	runStep  gnet.Runnable
	queuedAt time.Time // when the dispatcher queued the step (handed over by Execute)

	// Loop goroutine only.
	wheel    *wheel.Wheel
	conns    []*conn  // slab indexed by conn.slot
	free     []uint32 // free slab slots
	work     []op     // inbox items taken but not yet applied
	spare    []op     // recycled inbox backing array
	fanout   *fanout  // publish in progress, resumed by the next step
	parsers  []*httpparse.Parser
	tokens   tokenSource
	rng      rng
	channels map[string]*subList
	pending  map[uint32]*pending // by slab slot: streams whose connect callback is in flight
	heads    *headstore.Store    // what accepted streams keep of their request heads (heads.go)
	budget   int                 // writes left in the current step
	replays  []*replay           // resumes in progress (resume.go)
	skips    map[uint32]uint64   // by slab slot: live positions a resumed stream skips
	reader   *history.Reader     // this loop's history reader (history on)
	iov      [][]byte
	fireFn   func(wheel.Timer, uint64, int64) // ls.fire, made once (a method value allocates)

	// Shared: counters written by this loop only, read by /metrics.
	counters loopCounters
}

func newLoopState(s *Server, el gnet.EventLoop, idx int) *loopState {
	ls := &loopState{
		srv:      s,
		el:       el,
		idx:      idx,
		kick:     make(chan struct{}, 1),
		stepDone: make(chan bool, 1),
		channels: make(map[string]*subList),
		pending:  make(map[uint32]*pending),
		skips:    make(map[uint32]uint64),
		heads:    headstore.New(s.opts.DisconnectRequest),
	}
	ls.wheel = wheel.New(wheel.Config{Start: ls.now(), Capacity: 1024})
	ls.rng = rng{wheel.NewRand(uint64(time.Now().UnixNano()) + uint64(idx))}
	ls.runStep = gnet.RunnableFunc(ls.step)
	ls.fireFn = ls.fire
	return ls
}

// now is the loop's clock: nanoseconds since the server started.
func (ls *loopState) now() int64 { return int64(time.Since(ls.srv.epoch)) }

// alloc gives a connection a slab slot.
func (ls *loopState) alloc(cs *conn) uint32 {
	if n := len(ls.free); n > 0 {
		slot := ls.free[n-1]
		ls.free = ls.free[:n-1]
		ls.conns[slot] = cs
		return slot
	}
	ls.conns = append(ls.conns, cs)
	return uint32(len(ls.conns) - 1)
}

func (ls *loopState) release(cs *conn) {
	ls.conns[cs.slot] = nil
	ls.free = append(ls.free, cs.slot)
}

// post appends ops to the inbox and wakes the dispatcher. Any goroutine.
func (ls *loopState) post(ops ...op) {
	ls.inboxMu.Lock()
	ls.inbox = append(ls.inbox, ops...)
	ls.inboxMu.Unlock()
	ls.wake()
}

func (ls *loopState) wake() {
	select {
	case ls.kick <- struct{}{}:
	default:
	}
}

// armed tells the dispatcher about a timer armed outside a step, if it is due
// before the dispatcher's current sleep ends. Loop goroutine.
func (ls *loopState) armed(due int64) {
	if cur := ls.nextDue.Load(); cur == 0 || due < cur {
		ls.nextDue.Store(due)
		ls.wake()
	}
}

// stepHook, when set, runs on the loop goroutine at the start of every step.
// It is a test seam only (export_test.go): it lets a test hold a loop at a
// known point of a fan-out. Production code never sets it.
var stepHook atomic.Pointer[func(*loopState)]

// idleSleep is how long the dispatcher sleeps when nothing is scheduled; it is
// only a backstop, every new timer or op wakes it.
const idleSleep = time.Second

// dispatch runs on its own goroutine, one per loop: it feeds steps to the loop
// one at a time (see the package doc).
func (ls *loopState) dispatch() {
	t := time.NewTimer(idleSleep)
	defer t.Stop()
	more := false
	for {
		if !more {
			ls.sleep(t)
		}
		ls.queuedAt = time.Now()
		if err := ls.el.Execute(context.Background(), ls.runStep); err != nil {
			return // engine stopped
		}
		select {
		case more = <-ls.stepDone:
		case <-ls.srv.runDone: // the engine stopped: the step will never run
			return
		}
	}
}

// sleep waits for a kick, the next timer or the stop signal.
func (ls *loopState) sleep(t *time.Timer) {
	d := idleSleep
	if due := ls.nextDue.Load(); due != 0 {
		d = time.Duration(due - ls.now())
		if d < 0 {
			d = 0
		}
	}
	t.Reset(d)
	select {
	case <-ls.kick:
	case <-t.C:
	case <-ls.srv.runDone:
	}
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
}

// step is one bounded slice of work on the loop goroutine.
func (ls *loopState) step(context.Context) error {
	began := time.Now()
	stepLag.Update(began.Sub(ls.queuedAt).Seconds())
	defer func() { stepDuration.Update(time.Since(began).Seconds()) }()
	if h := stepHook.Load(); h != nil {
		(*h)(ls)
	}
	ls.budget = stepBudget
	now := ls.now()
	ls.advanceWheel(now)
	ls.expediteConnects(now)
	ls.continueReplays(now)
	ls.continueFanout()
	ls.applyInbox(now)
	more := ls.budget <= 0 || ls.fanout != nil || len(ls.work) > 0 || len(ls.replays) > 0
	if !more {
		ls.inboxMu.Lock()
		more = len(ls.inbox) > 0
		ls.inboxMu.Unlock()
	}
	ls.publishTimers()
	ls.stepDone <- more
	return nil
}

func (ls *loopState) publishTimers() {
	if at, ok := ls.wheel.NextExpiry(); ok {
		ls.nextDue.Store(max(at, 1))
	} else {
		ls.nextDue.Store(0)
	}
	ls.timersGauge.Store(int64(ls.wheel.Len()))
}

// applyInbox takes what other goroutines posted and applies it in order,
// within the step's budget; the rest waits for the next step. While a fan-out
// is in progress, connect results are applied ahead of it (see expedite).
func (ls *loopState) applyInbox(now int64) {
	ls.takeInbox()
	i := 0
	for i < len(ls.work) && ls.budget > 0 && ls.fanout == nil {
		n := ls.applyRun(ls.work[i:], now)
		clear(ls.work[i : i+n])
		i += n
	}
	if i == len(ls.work) {
		ls.spare = ls.work[:0]
		ls.work = nil
		return
	}
	ls.work = ls.work[i:]
	if ls.fanout != nil {
		ls.expedite(now, 0)
	}
}

// takeInbox moves everything posted so far behind the work already taken.
func (ls *loopState) takeInbox() {
	ls.inboxMu.Lock()
	defer ls.inboxMu.Unlock()
	if len(ls.inbox) == 0 {
		return
	}
	if len(ls.work) == 0 {
		ls.work, ls.inbox = ls.inbox, ls.spare[:0]
		ls.spare = nil
		return
	}
	ls.work = append(ls.work, ls.inbox...)
	clear(ls.inbox)
	ls.inbox = ls.inbox[:0]
}

// expediteConnects runs before a fan-out in progress takes the step's budget:
// connect results queued meanwhile are applied first, with at most
// expediteShare of the budget, so a new stream waits one step for its ready,
// not for the whole fan-out (which would take every step's budget until its
// end). The fan-out gets the rest of the step.
func (ls *loopState) expediteConnects(now int64) {
	if ls.fanout == nil {
		return
	}
	ls.takeInbox()
	ls.expedite(now, max(ls.budget-expediteShare, 0))
}

// expedite applies queued connect results that would otherwise wait behind a
// fan-out in progress, while the step's budget is above floor: a new stream's
// ready must not wait for a publish that cannot reach it anyway (it is not
// bound yet). Sends for that stream queued before its result are applied
// first (they are buffered, so they still come before ready), which keeps
// every stream's own order.
func (ls *loopState) expedite(now int64, floor int) {
	for j := range ls.work {
		o := &ls.work[j]
		if o.kind != opConnectResult || ls.budget <= floor {
			continue
		}
		cs := o.conn
		for k := range ls.work[:j] {
			if e := &ls.work[k]; e.kind == opSend && e.token == cs.token {
				ls.apply(e, now)
				*e = op{kind: opDone}
			}
		}
		ls.apply(o, now)
		*o = op{kind: opDone}
		ls.counters.connectsAhead.Add(1)
	}
}

// Timer kinds, in the low bits of a wheel payload; the slab slot is above.
const (
	tkHead        = iota // request-head deadline
	tkHeartbeat          // next heartbeat
	tkLinger             // closing: has the kernel taken the last bytes?
	tkWrite              // write-progress deadline
	tkDrain              // shutdown: end this stream now
	timerKindBits = 3
)

func payload(cs *conn, kind uint64) uint64 { return uint64(cs.slot)<<timerKindBits | kind }

func (ls *loopState) advanceWheel(now int64) {
	for ls.budget > 0 {
		_, more := ls.wheel.Advance(now, ls.budget, ls.fireFn)
		if !more {
			return
		}
	}
}

// fire handles one expired timer.
func (ls *loopState) fire(t wheel.Timer, p uint64, due int64) {
	cs := ls.conns[p>>timerKindBits]
	if cs == nil {
		return
	}
	kind := p & (1<<timerKindBits - 1)
	if kind == tkWrite {
		if cs.wtimer == t {
			cs.wtimer = wheel.Timer{}
			ls.writeDeadline(cs, due)
		}
		return
	}
	if cs.timer != t {
		return // a stale handle: the connection re-armed since
	}
	cs.timer = wheel.Timer{}
	switch kind {
	case tkHead:
		ls.headTimeout(cs)
	case tkHeartbeat:
		ls.heartbeat(cs, due)
	case tkLinger:
		ls.linger(cs)
	case tkDrain:
		ls.drainOne(cs)
	}
}

func (ls *loopState) setTimer(cs *conn, now int64, d time.Duration, kind uint64) {
	cs.timer = ls.wheel.Reset(cs.timer, now, d, payload(cs, kind))
	ls.armed(now + int64(d))
}

func (ls *loopState) stopTimers(cs *conn) {
	ls.wheel.Cancel(cs.timer)
	ls.wheel.Cancel(cs.wtimer)
	cs.timer, cs.wtimer = wheel.Timer{}, wheel.Timer{}
}

package wheel

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"slices"
	"testing"
	"time"
)

// The model is the brute-force reference for the wheel: a flat set of timers,
// each with the effective tick the package documentation defines,
//
//	e = cur        if due <= now or ceil((due-Start)/Tick) <= cur
//	e = ceil((due-Start)/Tick) otherwise,
//
// where cur is the largest floor((now-Start)/Tick) Advance has seen. An Advance
// first raises cur, then appends the timers that have become due (e <= cur)
// since the last Advance, ordered by (e, due time, slab index), to the ones a
// bounded Advance left pending, and fires at most max of them from the front;
// timers armed by callbacks wait for the next Advance. A Reset is a new arming
// of the same slab index. Its arithmetic is done in math/big so that it shares
// no overflow corner with the wheel's.

type modelTimer struct {
	id, e uint64
	idx   uint32 // the wheel's slab index: the last tie-break of the order
	due   int64
}

type model struct {
	start   *big.Int
	tick    *big.Int
	cur     uint64
	alive   map[uint64]*modelTimer
	pending []*modelTimer // due, left over by a bounded Advance, in firing order
}

func newModel(start int64, tick time.Duration) *model {
	return &model{start: big.NewInt(start), tick: big.NewInt(int64(tick)), alive: map[uint64]*modelTimer{}}
}

// ticks returns (x-start)/tick rounded down or up, clamped at 0.
func (m *model) ticks(x int64, up bool) uint64 {
	d := new(big.Int).Sub(big.NewInt(x), m.start)
	if d.Sign() <= 0 {
		return 0
	}
	q, r := new(big.Int).QuoRem(d, m.tick, new(big.Int))
	if up && r.Sign() != 0 {
		q.Add(q, big.NewInt(1))
	}
	return q.Uint64()
}

func (m *model) timeOf(t uint64) int64 {
	v := new(big.Int).Mul(new(big.Int).SetUint64(t), m.tick)
	v.Add(v, m.start)
	if !v.IsInt64() {
		return math.MaxInt64
	}
	return v.Int64()
}

func satAdd(now int64, d time.Duration) int64 {
	v := new(big.Int).Add(big.NewInt(now), big.NewInt(int64(d)))
	if v.IsInt64() {
		return v.Int64()
	}
	if v.Sign() > 0 {
		return math.MaxInt64
	}
	return math.MinInt64
}

func (m *model) arm(id uint64, idx uint32, now, due int64) {
	e := min(m.ticks(due, true), m.ticks(math.MaxInt64, false))
	if due <= now || e <= m.cur {
		e = m.cur
	}
	m.alive[id] = &modelTimer{id: id, idx: idx, e: e, due: due}
}

func (m *model) advance(now int64) { m.cur = max(m.cur, m.ticks(now, false)) }

func (m *model) live(t *modelTimer) bool { return m.alive[t.id] == t }

// due appends the newly due timers to the pending ones and returns them all,
// in firing order (some may die in callbacks before their turn).
func (m *model) due() []*modelTimer {
	var d []*modelTimer
	pending := make(map[*modelTimer]bool, len(m.pending))
	for _, t := range m.pending {
		if m.live(t) {
			d = append(d, t)
			pending[t] = true
		}
	}
	n := len(d)
	for _, t := range m.alive {
		if t.e <= m.cur && !pending[t] {
			d = append(d, t)
		}
	}
	slices.SortFunc(d[n:], func(a, b *modelTimer) int {
		return cmp.Or(cmp.Compare(a.e, b.e), cmp.Compare(a.due, b.due), cmp.Compare(a.idx, b.idx))
	})
	return d
}

// keep records what an Advance left unfired.
func (m *model) keep(rest []*modelTimer) {
	m.pending = m.pending[:0]
	for _, t := range rest {
		if m.live(t) {
			m.pending = append(m.pending, t)
		}
	}
}

func (m *model) earliest() (uint64, bool) {
	e, ok := uint64(math.MaxUint64), false
	for _, t := range m.alive {
		e, ok = min(e, t.e), true
	}
	return e, ok
}

// byteReader decodes operations from fuzz bytes; past the end it yields zeros.
type byteReader struct {
	b []byte
	i int
}

func (r *byteReader) done() bool { return r.i >= len(r.b) }

func (r *byteReader) byte() byte {
	if r.i >= len(r.b) {
		return 0
	}
	r.i++
	return r.b[r.i-1]
}

func (r *byteReader) uint(n int) uint64 {
	var v uint64
	for range n {
		v = v<<8 | uint64(r.byte())
	}
	return v
}

// maxModelTimers bounds the population of one run, so that the model's
// linear scans keep a fuzz execution in milliseconds.
const maxModelTimers = 1024

var modelTicks = []time.Duration{1, 3, 64, 1000, time.Millisecond, DefaultTick}

// duration decodes a delay or a clock jump spanning every level, the overflow
// list, saturation and negative values.
func (r *byteReader) duration(tick time.Duration) time.Duration {
	sub := time.Duration(r.byte()) % tick
	switch r.byte() % 10 {
	case 0:
		return 0
	case 1:
		return -time.Duration(r.uint(2))
	case 2:
		return time.Duration(r.byte()%4)*tick + sub
	case 3, 4:
		lvl := r.byte() % 5
		return time.Duration(r.uint(4)%(1<<(6*lvl+6)))*tick + sub
	case 5:
		return time.Duration(1<<spanBits+r.uint(4))*tick + sub
	case 6:
		return math.MaxInt64 - time.Duration(r.byte())
	case 7:
		return time.Duration(r.byte()) * tick
	default:
		return time.Duration(r.uint(2)) * tick / 8
	}
}

// harness drives a Wheel and the model in lockstep and compares them.
type harness struct {
	tb      testing.TB
	r       *byteReader
	w       *Wheel
	m       *model
	now     int64
	maxNow  int64
	nextID  uint64
	handles []Timer          // a pool of live and stale handles
	ids     map[Timer]uint64 // handle -> id of its latest arming
	full    bool             // check walks every list
}

func (h *harness) fail(format string, args ...any) {
	h.tb.Helper()
	h.tb.Fatalf(format, args...)
}

func (h *harness) remember(t Timer, id uint64) {
	h.ids[t] = id
	if len(h.handles) < 32 {
		h.handles = append(h.handles, t)
		return
	}
	h.handles[int(h.r.byte())%len(h.handles)] = t
}

func (h *harness) pick() Timer {
	if len(h.handles) == 0 || h.r.byte()%8 == 0 {
		return Timer{}
	}
	return h.handles[int(h.r.byte())%len(h.handles)]
}

func (h *harness) liveID(t Timer) (uint64, bool) {
	id, ok := h.ids[t]
	if !ok || h.m.alive[id] == nil {
		return 0, false
	}
	return id, true
}

func (h *harness) add(now int64, delay time.Duration) {
	h.nextID++
	t := h.w.Add(now, delay, h.nextID)
	h.m.arm(h.nextID, t.idx, now, satAdd(now, delay))
	h.remember(t, h.nextID)
}

func (h *harness) addAt(now, due int64) {
	h.nextID++
	t := h.w.AddAt(now, due, h.nextID)
	h.m.arm(h.nextID, t.idx, now, due)
	h.remember(t, h.nextID)
}

func (h *harness) cancel(t Timer) {
	id, live := h.liveID(t)
	if got := h.w.Cancel(t); got != live {
		h.fail("Cancel(%v) = %v, model says live=%v", t, got, live)
	}
	if live {
		delete(h.m.alive, id)
	}
}

// reset re-arms t with Reset, or with ResetAt at the same due time.
func (h *harness) reset(t Timer, now int64, delay time.Duration) {
	id, live := h.liveID(t)
	h.nextID++
	var nt Timer
	if h.r.byte()%2 == 0 {
		nt = h.w.Reset(t, now, delay, h.nextID)
	} else {
		nt = h.w.ResetAt(t, now, satAdd(now, delay), h.nextID)
	}
	if live {
		delete(h.m.alive, id)
		if nt.idx != t.idx {
			h.fail("Reset of live %v moved it to %v", t, nt)
		}
	}
	h.m.arm(h.nextID, nt.idx, now, satAdd(now, delay))
	h.remember(nt, h.nextID)
}

func (h *harness) advance(now int64, limit int) {
	h.maxNow = max(h.maxNow, now)
	h.m.advance(now)
	expect := h.m.due()
	k := 0
	fired, more := h.w.Advance(now, limit, func(t Timer, payload uint64, due int64) {
		for k < len(expect) && h.m.alive[expect[k].id] == nil {
			k++ // cancelled by an earlier callback
		}
		if k == len(expect) {
			h.fail("fired unexpected timer %d", payload)
		}
		want := expect[k]
		k++
		if payload != want.id || due != want.due || h.ids[t] != want.id {
			h.fail("fired %d (due %d, %v), model expects %d (due %d, e %d)", payload, due, t, want.id, want.due, want.e)
		}
		if due > h.maxNow && due > h.m.timeOf(h.m.cur) {
			h.fail("timer %d due %d fired early at %d", payload, due, now)
		}
		if h.w.Cancel(t) {
			h.fail("handle of firing timer still cancellable")
		}
		delete(h.m.alive, want.id)
		h.callback(t, due, now)
	})
	for k < len(expect) && h.m.alive[expect[k].id] == nil {
		k++
	}
	if rest := len(expect) - k; rest > 0 && (limit <= 0 || fired < limit) {
		h.fail("Advance(%d, %d) fired %d, stopped with %d due", now, limit, fired, rest)
	}
	h.m.keep(expect[k:])
	e, ok := h.m.earliest()
	if wantMore := ok && e <= h.m.cur; more != wantMore {
		h.fail("Advance more = %v, model %v", more, wantMore)
	}
}

// callback runs a decoded action from inside fn, mirroring it in the model.
func (h *harness) callback(self Timer, due, now int64) {
	switch h.r.byte() % 12 {
	case 0:
		h.cancel(h.pick())
	case 1:
		h.cancel(self)
	case 2:
		h.reset(self, now, h.r.duration(h.w.Tick()))
	case 3:
		h.addAt(now, satAdd(due, h.r.duration(h.w.Tick())))
	case 4:
		h.add(now, 0)
	case 5:
		h.reset(h.pick(), now, h.r.duration(h.w.Tick()))
	case 6:
		h.w.compact() // drops stale entries while a batch is being fired
	}
}

var traceOn bool

func (h *harness) check() {
	if traceOn {
		h.tb.Logf("now=%d cur=%d len=%d occ=%x exp=%v far=%v", h.now, h.w.cur, h.w.Len(), h.w.occupied, h.w.empty(expiredList), h.w.empty(overflowList))
		for _, t := range h.m.alive {
			h.tb.Logf("  model %+v", *t)
		}
	}
	if h.full {
		checkLists(h.tb, h.w)
	}
	if h.w.Len() != len(h.m.alive) {
		h.fail("Len = %d, model %d", h.w.Len(), len(h.m.alive))
	}
	at, ok := h.w.NextExpiry()
	e, mok := h.m.earliest()
	if ok != mok {
		h.fail("NextExpiry ok = %v, model %v", ok, mok)
	}
	switch {
	case !ok:
	case e <= h.m.cur && at > h.m.timeOf(h.m.cur):
		h.fail("NextExpiry = %d with timers due at tick %d", at, h.m.cur)
	case e > h.m.cur && (at > h.m.timeOf(e) || at <= h.m.timeOf(h.m.cur)):
		h.fail("NextExpiry = %d, want in (%d, %d]", at, h.m.timeOf(h.m.cur), h.m.timeOf(e))
	}
}

// runModel decodes and runs one operation sequence.
func runModel(tb testing.TB, data []byte) {
	r := &byteReader{b: data}
	tick := modelTicks[int(r.byte())%len(modelTicks)]
	start := int64(int32(r.uint(4))) << (r.byte() % 31)
	h := &harness{
		tb: tb, r: r,
		w:   New(Config{Tick: tick, Start: start, Capacity: int(r.byte() % 8)}),
		m:   newModel(start, tick),
		now: start, maxNow: start,
		ids: map[Timer]uint64{},
	}
	for step := 0; !r.done() && step < 4000; step++ {
		switch r.byte() % 10 {
		case 0, 1:
			h.add(h.now, r.duration(tick))
		case 9:
			d := r.duration(tick) // a burst in one tick: stable order, slab growth
			for range r.byte() % 128 {
				if len(h.m.alive) < maxModelTimers {
					h.add(h.now, d)
				}
			}
		case 2:
			h.addAt(h.now, satAdd(h.now, r.duration(tick)))
		case 3:
			h.cancel(h.pick())
		case 4:
			h.reset(h.pick(), h.now, r.duration(tick))
		default:
			d := r.duration(tick)
			if d < 0 || d > 1<<50 {
				d %= 1 << 50 // keep the clock far from saturation; negative = backwards
			}
			h.now = satAdd(h.now, d)
			h.advance(h.now, int(r.byte()%6))
		}
		h.full = step%16 == 15 // a full list walk costs as much as the step
		if h.full {
			checkLists(h.tb, h.w)
			h.w.compact() // as the arena does when it is full of stale entries
		}
		h.check()
	}
	h.drain()
}

// drain advances to the end of time and checks that everything fires in order.
func (h *harness) drain() {
	for i := 0; h.w.Len() > 0; i++ {
		if i > 1000 {
			h.fail("wheel does not drain: %d left", h.w.Len())
		}
		h.advance(math.MaxInt64, 0)
		h.full = true
		h.check()
	}
}

func FuzzModel(f *testing.F) {
	for seed := range uint64(8) {
		f.Add(randomOps(seed, 300))
	}
	f.Fuzz(func(t *testing.T, data []byte) { runModel(t, data) })
}

func randomOps(seed uint64, n int) []byte {
	r := NewRand(seed)
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint64())
	}
	return b
}

func TestModelRandomized(t *testing.T) {
	runs, size := 3000, 2000
	if testing.Short() || raceEnabled {
		runs = 300
	}
	for seed := range uint64(runs) {
		data := randomOps(seed, size)
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModel(t, data) })
		if t.Failed() {
			return
		}
	}
}

package wheel

import (
	"math"
	"math/bits"
	"time"
)

// DefaultTick is the base tick used when Config.Tick is zero: fine enough for
// heartbeats and deadlines of seconds, coarse enough that the four levels span
// 46.6 hours, and a divisor of every whole-second and whole-10ms interval.
const DefaultTick = 10 * time.Millisecond

// Geometry. 64 slots per level, so one uint64 bitmap per level marks the busy
// slots; 4 levels, so 64^4 ticks (46.6 h at DefaultTick) are covered before the
// overflow list is needed, enough for every timer the gateway sets.
const (
	slotBits      = 6
	slotsPerLevel = 1 << slotBits
	slotMask      = slotsPerLevel - 1
	numLevels     = 4
	spanBits      = slotBits * numLevels // log2 of the ticks the levels cover
	numSlots      = numLevels * slotsPerLevel
)

// Lists. Each is a ring through a sentinel node; the sentinels are the first
// numLists nodes of the slab (8 KB per wheel), so list i's sentinel is node i.
const (
	expiredList  = numSlots     // due, to fire on the next Advance
	readyList    = numSlots + 1 // due, being fired by the current Advance
	overflowList = numSlots + 2 // due beyond the span the levels cover
	numLists     = numSlots + 3
)

// Timer is a handle to an armed timer: a slab index and the generation the node
// had when armed. It is 8 bytes, meant to be embedded in the caller's record.
// The zero value is not armed. A handle goes stale when its timer fires or is
// cancelled; a node's generation advances by two per use, so a stale handle
// could only match again after 2^31 later uses of the same node.
type Timer struct {
	idx uint32
	gen uint32 // odd: a node generation is odd while armed, so 0 never matches
}

// Armed reports whether t was returned by Add, AddAt or Reset. It does not know
// whether the timer has fired or been cancelled since (the handle may be
// stale); Cancel and Reset are safe on stale handles.
func (t Timer) Armed() bool { return t.gen != 0 }

// Config configures a Wheel. Zero values mean defaults.
type Config struct {
	Tick     time.Duration // base tick; zero means DefaultTick
	Start    int64         // the clock value at creation, ns
	Capacity int           // initial slab capacity hint, in timers
}

// Wheel is a hierarchical timing wheel. It belongs to one goroutine; see the
// package documentation.
type Wheel struct {
	tick     uint64 // base tick, ns
	start    int64  // clock value of tick 0
	cur      uint64 // current tick: every timer in a slot is due after it
	lastTick uint64 // tickOf(MaxInt64): due ticks are capped here so every timer can fire
	farMin   uint64 // lower bound of the due ticks on the overflow list
	occupied [numLevels]uint64
	nodes    []node // list sentinels, then the timer slab
	free     uint32 // free list head, maxNodes when empty
	live     int
	firing   bool // Advance is calling fn
}

// New returns an empty wheel whose clock reads c.Start.
func New(c Config) *Wheel {
	tick := c.Tick
	if tick <= 0 {
		tick = DefaultTick
	}
	w := &Wheel{tick: uint64(tick), start: c.Start, farMin: math.MaxUint64}
	w.lastTick = w.tickOf(math.MaxInt64)
	w.initSlab(c.Capacity)
	return w
}

// Tick returns the wheel's base tick.
func (w *Wheel) Tick() time.Duration { return time.Duration(w.tick) }

// Len returns the number of live (armed, not yet fired) timers.
func (w *Wheel) Len() int { return w.live }

// Add arms a timer that fires at now+delay (delay <= 0 fires on the next
// Advance). payload is returned to fn.
func (w *Wheel) Add(now int64, delay time.Duration, payload uint64) Timer {
	return w.AddAt(now, addSat(now, delay), payload)
}

// AddAt arms a timer at an absolute due time; due <= now fires on the next
// Advance. Re-arming a periodic timer from its callback with AddAt(now,
// due+interval) keeps its cadence without drift.
func (w *Wheel) AddAt(now, due int64, payload uint64) Timer {
	i := w.alloc()
	w.arm(i, now, due, payload)
	return Timer{idx: i, gen: w.nodes[i].gen}
}

// Reset re-arms t to fire at now+delay with payload. If t is still armed the
// same node (and handle) is reused; otherwise (zero or stale handle) it arms a
// new timer. Either way the timer counts as newly armed for firing order.
func (w *Wheel) Reset(t Timer, now int64, delay time.Duration, payload uint64) Timer {
	return w.ResetAt(t, now, addSat(now, delay), payload)
}

// ResetAt is Reset with an absolute due time, as AddAt is to Add.
func (w *Wheel) ResetAt(t Timer, now, due int64, payload uint64) Timer {
	if !w.valid(t) {
		return w.AddAt(now, due, payload)
	}
	w.unlink(t.idx)
	w.arm(t.idx, now, due, payload)
	return t
}

// Cancel disarms t. It returns false if t is zero, has already fired or been
// cancelled, or its node has been reused (the generation tells them apart).
func (w *Wheel) Cancel(t Timer) bool {
	if !w.valid(t) {
		return false
	}
	w.unlink(t.idx)
	w.release(t.idx)
	return true
}

// valid reports whether t names a currently armed timer.
func (w *Wheel) valid(t Timer) bool {
	return t.gen&1 == 1 && t.idx >= numLists && int64(t.idx) < int64(len(w.nodes)) &&
		w.nodes[t.idx].gen == t.gen
}

// arm records due and payload in node i and files it.
func (w *Wheel) arm(i uint32, now, due int64, payload uint64) {
	n := &w.nodes[i]
	n.due, n.payload = due, payload
	if due <= now {
		w.push(expiredList, i)
		return
	}
	w.file(i)
}

// file puts node i into the list its due tick belongs to, given w.cur: the
// expired list if already due, the level slot chosen by the highest bit in
// which the due tick differs from cur, or the overflow list beyond the span.
func (w *Wheel) file(i uint32) {
	e := w.dueTick(w.nodes[i].due)
	if e <= w.cur {
		w.push(expiredList, i)
		return
	}
	lvl := (bits.Len64(e^w.cur) - 1) / slotBits
	if lvl >= numLevels {
		w.farMin = min(w.farMin, e)
		w.push(overflowList, i)
		return
	}
	s := uint32(e>>(lvl*slotBits)) & slotMask
	w.push(uint32(lvl)*slotsPerLevel+s, i)
	w.occupied[lvl] |= 1 << s
}

// dueTick is the first tick at or after due: ceil((due-start)/tick), 0 if
// due is before the start, capped at the tick of MaxInt64 (an Advance at
// MaxInt64 is not early for any due time).
func (w *Wheel) dueTick(due int64) uint64 {
	if due <= w.start {
		return 0
	}
	d := uint64(due) - uint64(w.start)
	q := d / w.tick
	if q*w.tick != d {
		q++
	}
	return min(q, w.lastTick)
}

// tickOf is the tick now falls in: floor((now-start)/tick), 0 before the start.
func (w *Wheel) tickOf(now int64) uint64 {
	if now <= w.start {
		return 0
	}
	return (uint64(now) - uint64(w.start)) / w.tick
}

// timeOf is the clock value at which tick t begins, saturated at MaxInt64.
func (w *Wheel) timeOf(t uint64) int64 {
	hi, off := bits.Mul64(t, w.tick)
	if hi != 0 || off > uint64(math.MaxInt64)-uint64(w.start) {
		return math.MaxInt64
	}
	return int64(uint64(w.start) + off)
}

// addSat returns now+d, saturated to the int64 range.
func addSat(now int64, d time.Duration) int64 {
	r := now + int64(d)
	if d > 0 && r < now {
		return math.MaxInt64
	}
	if d < 0 && r > now {
		return math.MinInt64
	}
	return r
}

// NextExpiry returns the earliest clock value at which Advance could fire a
// timer, and ok=false if the wheel is empty. It is exact when something is
// already due (it then returns a value <= the last now passed to Advance) or
// when the next busy slot is on level 0; otherwise it is the start of the next
// busy higher-level slot (or of the next span for overflow timers), a lower
// bound at which Advance cascades and NextExpiry becomes more precise.
func (w *Wheel) NextExpiry() (at int64, ok bool) {
	if w.live == 0 {
		return 0, false
	}
	if !w.empty(expiredList) || !w.empty(readyList) {
		return w.timeOf(w.cur), true
	}
	t, _ := w.nextEvent()
	return w.timeOf(t), true
}

// nextEvent returns the tick of the next slot (or overflow span) to process and
// the list holding it; ok=false when no timer is filed in the levels or the
// overflow list. Every slot of level L lies beyond every slot of level L-1, so
// the lowest busy slot of the lowest busy level comes first.
func (w *Wheel) nextEvent() (t uint64, list uint32) {
	for lvl := range numLevels {
		occ := w.occupied[lvl]
		if occ == 0 {
			continue
		}
		s := uint64(bits.TrailingZeros64(occ))
		shift := uint(lvl * slotBits)
		block := w.cur >> (shift + slotBits) << (shift + slotBits)
		return block | s<<shift, uint32(lvl)*slotsPerLevel + uint32(s)
	}
	if w.empty(overflowList) {
		return math.MaxUint64, nilList
	}
	return max(w.cur|(1<<spanBits-1)+1, w.farMin>>spanBits<<spanBits), overflowList
}

// nilList is what nextEvent returns when nothing is filed.
const nilList = math.MaxUint32

// advanceTo moves cur to target, processing every busy slot on the way in
// tick order: a level-0 slot is due and moves whole to the expired list; a
// higher slot (or the overflow list at a span boundary) is re-filed relative to
// its start tick, which moves its timers to lower levels.
func (w *Wheel) advanceTo(target uint64) {
	for {
		t, l := w.nextEvent()
		if l == nilList || t > target {
			break
		}
		w.cur = t
		if l < slotsPerLevel {
			w.splice(expiredList, l)
			w.occupied[0] &^= 1 << l
			continue
		}
		if l < numSlots {
			w.occupied[l/slotsPerLevel] &^= 1 << (l % slotsPerLevel)
		} else {
			w.farMin = math.MaxUint64
		}
		w.refile(l)
	}
	w.cur = max(w.cur, target)
}

// refile takes every timer off list l and files it again, in list order.
func (w *Wheel) refile(l uint32) {
	h, t := w.take(l)
	for i := h; ; {
		next := w.nodes[i].next
		w.file(i)
		if i == t {
			return
		}
		i = next
	}
}

// Advance moves the wheel to now and calls fn for at most max due timers
// (max <= 0 means no bound), in the order the package documentation defines.
// fn may call Add, AddAt, Reset and Cancel on this wheel — cancelling another
// due timer stops it from firing — but not Advance. The handle passed to fn is
// already stale (the timer is disarmed before fn runs). Timers armed by fn that
// are already due fire on the next Advance. Advance returns how many fired and
// whether more are already due, in which case the caller should call again soon.
func (w *Wheel) Advance(now int64, max int, fn func(t Timer, payload uint64, due int64)) (fired int, more bool) {
	if w.firing {
		panic("wheel: Advance called from its own callback")
	}
	if target := w.tickOf(now); target > w.cur {
		w.advanceTo(target)
	}
	w.splice(readyList, expiredList)
	w.firing = true
	defer func() { w.firing = false }()
	for !w.empty(readyList) {
		if max > 0 && fired == max {
			return fired, true
		}
		i := w.first(readyList)
		n := &w.nodes[i]
		t, payload, due := Timer{idx: i, gen: n.gen}, n.payload, n.due
		w.unlink(i)
		w.release(i)
		fn(t, payload, due)
		fired++
	}
	return fired, !w.empty(expiredList)
}

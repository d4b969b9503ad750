package wheel

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
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

// Lists: one per slot, then these two.
const (
	expiredList  = numSlots     // due (or re-armed later, see ResetAt), collected by the next Advance
	overflowList = numSlots + 1 // due beyond the span the levels cover
	numLists     = numSlots + 2
)

// Timer is a handle to an armed timer: a slab index and the generation the node
// had when armed. It is 8 bytes, meant to be embedded in the caller's record.
// The zero value is not armed. A handle goes stale when its timer fires or is
// cancelled, or when a Reset has to file it anew (Reset returns the handle to
// keep); a node's generation advances by two per use, so a stale handle could
// only match again after 2^31 later uses of the same node.
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
	tick      uint64            // base tick, ns
	start     int64             // clock value of tick 0
	cur       uint64            // current tick: every timer in a slot is due after it
	lastTick  uint64            // tickOf(MaxInt64): due ticks are capped here so every timer can fire
	farMin    uint64            // lower bound of the due ticks on the overflow list
	occupied  [numLevels]uint64 // a bit per slot list that holds entries
	nodes     []node            // the timer slab
	free      uint32            // free node list head, maxNodes when empty
	live      int               // armed timers
	stale     int               // stale entries in the lists (and in a chain being re-filed)
	lists     [numLists]list
	batch     []batchEntry // the due timers of the current Advance, in firing order
	batchPos  int          // batch[:batchPos] are fired (or were stale)
	ents      []entry      // the list arena: chunks of chunkLen entries
	chunks    []chunk      // chunk headers
	freeChunk uint32       // free chunk list head, nilChunk when empty
	firing    bool         // Advance is calling fn

	// The due times (fastLo, fastHi] file into list fastList on level fastLvl
	// at the current cur: the last level slot filed into, cached so that a
	// run of timers for the same slot skips the tick arithmetic. Emptied
	// (fastLo >= fastHi) whenever cur moves.
	fastLo, fastHi    int64
	fastList, fastLvl uint32
	fastFiled         uint32 // the filed value of fastList's timers

	curTime     int64 // timeOf(cur), for Reset's keeps
	bucketShift uint  // floor(log2(tick)): see filedAbove
}

// batchEntry is one due timer in the batch: its effective tick e, due time,
// node and the generation it was collected with (a Cancel or Reset from a
// callback changes the node's generation, and the entry is skipped).
type batchEntry struct {
	e        uint64
	due      int64
	idx, gen uint32
}

// cmpBatch is the firing order: effective tick, then due time, then slab index.
func cmpBatch(a, b batchEntry) int {
	if c := cmp.Compare(a.e, b.e); c != 0 {
		return c
	}
	if c := cmp.Compare(a.due, b.due); c != 0 {
		return c
	}
	return cmp.Compare(a.idx, b.idx)
}

// New returns an empty wheel whose clock reads c.Start.
func New(c Config) *Wheel {
	tick := c.Tick
	if tick <= 0 {
		tick = DefaultTick
	}
	w := &Wheel{tick: uint64(tick), start: c.Start, curTime: c.Start, farMin: math.MaxUint64,
		bucketShift: uint(bits.Len64(uint64(tick)) - 1)}
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

// Reset re-arms t to fire at now+delay with payload and returns the handle to
// keep (t itself, or a new one when the timer had to be filed anew). If t is
// no longer armed (zero or stale handle) it arms a new timer.
//
// A Reset that moves the due time later does not move anything: the timer's
// entry stays on the list it is on, which the wheel walks no later than the
// new due tick, and is re-filed then (the common case: a deadline pushed on
// by activity, a timer moved from one phase of a stream to a later one). A Reset to an
// earlier tick, to a due time <= now, or of a timer in the batch being fired
// gives the node a new generation and files a new entry; the old one is left
// in place, stale (see the package documentation, Memory).
func (w *Wheel) Reset(t Timer, now int64, delay time.Duration, payload uint64) Timer {
	// The fast path is written out here and in ResetAt: it is too big for
	// the inliner, and a call more costs as much as the node look itself.
	due := addSat(now, delay)
	if t.gen&1 == 1 && int64(t.idx) < int64(len(w.nodes)) {
		n := &w.nodes[t.idx]
		if n.gen == t.gen && due > now && w.keeps(n.filed, due) {
			n.due, n.payload = due, payload // the entry stays where it is
			return t
		}
	}
	return w.refileReset(t, now, due, payload)
}

// ResetAt is Reset with an absolute due time, as AddAt is to Add.
func (w *Wheel) ResetAt(t Timer, now, due int64, payload uint64) Timer {
	if t.gen&1 == 1 && int64(t.idx) < int64(len(w.nodes)) {
		n := &w.nodes[t.idx]
		if n.gen == t.gen && due > now && w.keeps(n.filed, due) {
			n.due, n.payload = due, payload
			return t
		}
	}
	return w.refileReset(t, now, due, payload)
}

// keeps reports whether a timer filed as f may stay where it is when re-armed
// for due > now: on the expired list, or on a level slot walked before due's
// bucket. A due time before cur's own tick start (time going backwards) never
// keeps a slot entry. The bucket is computed while the node is fetched; after
// that the test is a subtraction.
func (w *Wheel) keeps(f uint32, due int64) bool {
	if f == filedExpired {
		return true
	}
	b := uint32(w.bucket(due))
	return f&1 == 1 && due >= w.curTime && (b-f>>1)&(1<<31-1) < bucketWindow
}

// bucket is the filedAbove bucket of time x >= start.
func (w *Wheel) bucket(x int64) uint64 { return (uint64(x) - uint64(w.start)) >> w.bucketShift }

// slotFiled is the filed value of a level slot walked at tick lo >= 1: due
// times above timeOf(lo-1) may stay, so the first bucket wholly above it.
// Where time saturates the slot pins its timers instead.
func (w *Wheel) slotFiled(lo uint64) uint32 {
	t := w.timeOf(lo - 1)
	if t == math.MaxInt64 {
		return filedFixed
	}
	return filedAbove(w.bucket(t) + 1)
}

// refileReset is ResetAt when the entry cannot stay: the timer gets a new
// generation and a new entry, or is armed anew if t is not armed.
func (w *Wheel) refileReset(t Timer, now, due int64, payload uint64) Timer {
	if !w.valid(t) {
		return w.AddAt(now, due, payload)
	}
	w.guardGen(t.idx)
	n := &w.nodes[t.idx]
	n.gen += 2
	w.dropEntry(n.filed)
	w.arm(t.idx, now, due, payload)
	return Timer{idx: t.idx, gen: n.gen}
}

// Cancel disarms t. It returns false if t is zero, has already fired or been
// cancelled, or its node has been reused (the generation tells them apart).
// It touches only t's node, which it frees at once; its list entry is left in
// place, stale.
func (w *Wheel) Cancel(t Timer) bool {
	if !w.valid(t) {
		return false
	}
	w.dropEntry(w.nodes[t.idx].filed)
	w.release(t.idx)
	return true
}

// dropEntry counts the entry of a node filed as f as stale, unless it is in
// the batch (which is walked once, soon, and not compacted).
func (w *Wheel) dropEntry(f uint32) {
	if f != filedBatch {
		w.stale++
	}
}

// valid reports whether t names a currently armed timer.
func (w *Wheel) valid(t Timer) bool {
	return t.gen&1 == 1 && int64(t.idx) < int64(len(w.nodes)) && w.nodes[t.idx].gen == t.gen
}

// arm records due and payload in armed node i and files its entry.
func (w *Wheel) arm(i uint32, now, due int64, payload uint64) {
	n := &w.nodes[i]
	n.due, n.payload = due, payload
	e := entry{idx: i, gen: n.gen}
	if due <= now {
		n.filed = filedFixed
		w.push(expiredList, e)
		return
	}
	w.file(e)
}

// guardGen runs before node i's generation advances: when it is about to wrap,
// every stale entry is dropped first, so no old entry of the node can match a
// generation it reaches again.
func (w *Wheel) guardGen(i uint32) {
	if w.nodes[i].gen >= math.MaxUint32-3 {
		w.compact()
	}
}

// file appends entry x to the list its node's due tick belongs to, given
// w.cur, and records in the node when that list is walked: the expired list if
// already due, the level slot chosen by the highest bit in which the due tick
// differs from cur, or the overflow list beyond the span.
func (w *Wheel) file(x entry) {
	n := &w.nodes[x.idx]
	if n.due > w.fastLo && n.due <= w.fastHi {
		n.filed = w.fastFiled
		w.push(w.fastList, x)
		w.occupied[w.fastLvl] |= 1 << (w.fastList % slotsPerLevel)
		return
	}
	e := w.dueTick(n.due)
	if e <= w.cur {
		n.filed = filedExpired
		w.push(expiredList, x)
		return
	}
	lvl := (bits.Len64(e^w.cur) - 1) / slotBits
	if lvl >= numLevels {
		w.farMin = min(w.farMin, e)
		n.filed = filedFixed
		w.push(overflowList, x)
		return
	}
	s := uint32(e>>(lvl*slotBits)) & slotMask
	l := uint32(lvl)*slotsPerLevel + s
	// The slot holds the due ticks [lo, hi), all after cur, so the due times
	// (timeOf(lo-1), timeOf(hi-1)], and is walked at tick lo.
	shift := uint(lvl * slotBits)
	lo := e >> shift << shift
	n.filed = w.slotFiled(lo)
	w.push(l, x)
	w.occupied[lvl] |= 1 << s
	// Cached unless tick or time saturate.
	if hi := lo + 1<<shift; hi-1 < w.lastTick {
		w.fastLo, w.fastHi = w.timeOf(lo-1), w.timeOf(hi-1)
		w.fastList, w.fastLvl, w.fastFiled = l, uint32(lvl), n.filed
	}
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
	if (r < now) != (d < 0) { // overflowed: saturate towards d's sign
		r = math.MaxInt64
		if d < 0 {
			r = math.MinInt64
		}
	}
	return r
}

// NextExpiry returns the earliest clock value at which Advance could fire a
// timer, and ok=false if the wheel is empty. It is exact when something is
// already due (it then returns a value <= the last now passed to Advance).
// Otherwise it is the start of the next busy slot (or of the next span for
// overflow timers): exact for a level-0 slot of timers that were not re-armed
// later since, a lower bound in general — at a higher-level slot Advance
// cascades, and a slot may hold only timers that were cancelled or re-armed
// later — after which NextExpiry is more precise.
func (w *Wheel) NextExpiry() (at int64, ok bool) {
	if w.live == 0 {
		return 0, false
	}
	if w.batchLive() || w.expiredDue() {
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
		w.fastLo, w.fastHi = 0, 0
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
	w.curTime = w.timeOf(w.cur)
	w.fastLo, w.fastHi = 0, 0
}

// refile takes every entry off list l and files the current ones again, in
// list order; stale ones are dropped.
func (w *Wheel) refile(l uint32) {
	for c := w.take(l).head; c != nilChunk; {
		h := w.chunks[c] // a copy: file may grow the arena
		for k := h.lo; k < h.hi; k++ {
			e := w.ents[at(c, k)]
			if !w.current(e) {
				w.stale--
				continue
			}
			w.file(e)
		}
		w.freeChunkPush(c)
		c = h.next
	}
}

// Advance moves the wheel to now and calls fn for at most max due timers
// (max <= 0 means no bound), in the order the package documentation defines.
// fn may call Add, AddAt, Reset and Cancel on this wheel — cancelling or
// re-arming another due timer stops it from firing in this call — but not
// Advance. The handle passed to fn is already stale (the timer is disarmed
// before fn runs). Timers armed by fn that are already due fire on the next
// Advance. Advance returns how many fired and whether more are already due,
// in which case the caller should call again soon.
func (w *Wheel) Advance(now int64, max int, fn func(t Timer, payload uint64, due int64)) (fired int, more bool) {
	if w.firing {
		panic("wheel: Advance called from its own callback")
	}
	prev := w.cur
	if target := w.tickOf(now); target > w.cur {
		w.advanceTo(target)
	}
	w.collect(prev)
	w.firing = true
	defer func() { w.firing = false }()
	for w.batchLive() {
		if max > 0 && fired == max {
			return fired, true
		}
		b := w.batch[w.batchPos]
		w.batchPos++
		n := &w.nodes[b.idx]
		t, payload := Timer{idx: b.idx, gen: n.gen}, n.payload
		w.release(b.idx)
		fn(t, payload, b.due)
		fired++
	}
	return fired, w.expiredDue()
}

// collect moves the due timers of the expired list to the batch, after what
// is left of it from a bounded Advance, sorted in firing order. prev is cur
// before this Advance: the effective tick of a timer armed already due since.
// A timer re-armed later than cur goes back into the levels; stale entries
// are dropped.
func (w *Wheel) collect(prev uint64) {
	if w.batchPos == len(w.batch) {
		w.batch, w.batchPos = w.batch[:0], 0
	}
	from := len(w.batch)
	for c := w.take(expiredList).head; c != nilChunk; {
		h := w.chunks[c] // a copy: file may grow the arena
		for k := h.lo; k < h.hi; k++ {
			w.collectEntry(w.ents[at(c, k)], prev)
		}
		w.freeChunkPush(c)
		c = h.next
	}
	if b := w.batch[from:]; !slices.IsSortedFunc(b, cmpBatch) {
		slices.SortFunc(b, cmpBatch)
	}
}

// collectEntry puts one entry of the expired list into the batch, back into
// the levels, or away if stale.
func (w *Wheel) collectEntry(x entry, prev uint64) {
	if !w.current(x) {
		w.stale--
		return
	}
	n := &w.nodes[x.idx]
	e := prev
	if n.filed != filedFixed {
		if e = w.dueTick(n.due); e > w.cur {
			w.file(x) // re-armed later while waiting here
			return
		}
		e = max(e, prev)
	}
	n.filed = filedBatch
	w.batch = append(w.batch, batchEntry{e: e, due: n.due, idx: x.idx, gen: x.gen})
}

// batchLive skips the batch entries whose timers were cancelled or re-armed
// since they were collected and reports whether one is left to fire.
func (w *Wheel) batchLive() bool {
	for ; w.batchPos < len(w.batch); w.batchPos++ {
		if b := w.batch[w.batchPos]; w.nodes[b.idx].gen == b.gen {
			return true
		}
	}
	return false
}

// expiredDue reports whether the expired list holds a timer that the next
// Advance fires. It drops the stale entries at its head and moves those
// re-armed later than cur back into the levels, until it meets one.
func (w *Wheel) expiredDue() bool {
	for w.trimHead(expiredList) {
		c := w.lists[expiredList].head
		h := &w.chunks[c]
		x := w.ents[at(c, h.lo)]
		n := &w.nodes[x.idx]
		if n.filed == filedFixed || w.dueTick(n.due) <= w.cur {
			return true
		}
		h.lo++ // before file, which may compact or grow the arena
		w.file(x)
	}
	return false
}

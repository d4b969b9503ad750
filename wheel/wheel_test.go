package wheel

import (
	"math"
	"testing"
	"time"
	"unsafe"
)

const tick = DefaultTick

// fired records what an Advance fired.
type fired struct {
	t       Timer
	payload uint64
	due     int64
}

func collect(w *Wheel, now int64, limit int) (got []fired, more bool) {
	_, more = w.Advance(now, limit, func(t Timer, p uint64, due int64) {
		got = append(got, fired{t, p, due})
	})
	return got, more
}

func payloads(fs []fired) []uint64 {
	p := make([]uint64, len(fs))
	for i, f := range fs {
		p[i] = f.payload
	}
	return p
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestSizes(t *testing.T) {
	if s := unsafe.Sizeof(node{}); s > 24 {
		t.Fatalf("node is %d bytes, budget 24", s)
	}
	if s := unsafe.Sizeof(entry{}) + unsafe.Sizeof(chunk{})/chunkLen; s > 8 {
		t.Fatalf("list entry is %d bytes, budget 8", s)
	}
	if s := unsafe.Sizeof(Timer{}); s != 8 {
		t.Fatalf("Timer is %d bytes, want 8", s)
	}
}

func TestZeroTimer(t *testing.T) {
	w := New(Config{})
	var z Timer
	if z.Armed() || w.Cancel(z) {
		t.Fatal("zero Timer armed or cancellable")
	}
	a := w.Reset(z, 0, time.Second, 1)
	if !a.Armed() || w.Len() != 1 {
		t.Fatal("Reset of zero Timer did not arm")
	}
	if w.Tick() != DefaultTick {
		t.Fatalf("Tick = %v", w.Tick())
	}
}

func TestFiresAtTick(t *testing.T) {
	const start = 1000
	tk := int64(tick)
	f := func(delay time.Duration, lastQuiet, fireAt int64) {
		t.Helper()
		w := New(Config{Start: start})
		w.Add(start, delay, 7)
		if got, _ := collect(w, start+lastQuiet, 0); len(got) != 0 {
			t.Fatalf("delay %v fired at +%d", delay, lastQuiet)
		}
		got, _ := collect(w, start+fireAt, 0)
		if len(got) != 1 || got[0].due != start+int64(delay) || got[0].payload != 7 {
			t.Fatalf("delay %v: at +%d got %+v", delay, fireAt, got)
		}
	}
	f(tick, tk-1, tk)
	f(tick+1, 2*tk-1, 2*tk) // rounded up to the next tick: never early
	f(15*time.Second, int64(15*time.Second)-1, int64(15*time.Second))
	f(time.Hour+3, int64(time.Hour)+tk-1, int64(time.Hour)+tk)
}

func TestZeroAndNegativeDelay(t *testing.T) {
	w := New(Config{Start: 5})
	w.Add(5, 0, 1)
	w.Add(5, -time.Hour, 2)
	w.AddAt(5, math.MinInt64, 3)
	w.Add(5, 1, 4)                // due in the current tick's future: waits for the next tick
	got, more := collect(w, 5, 0) // same now, no tick boundary crossed: by due time
	if !equal(payloads(got), []uint64{3, 2, 1}) || more {
		t.Fatalf("got %v more=%v", payloads(got), more)
	}
	if got, _ := collect(w, 5+int64(tick), 0); !equal(payloads(got), []uint64{4}) {
		t.Fatalf("got %v", payloads(got))
	}
}

func TestCancelInsideCallback(t *testing.T) {
	w := New(Config{})
	var a, b, c Timer
	a = w.Add(0, tick, 1)
	b = w.Add(0, tick, 2)
	c = w.Add(0, tick, 3)
	var order []uint64
	w.Advance(int64(tick), 0, func(t2 Timer, p uint64, _ int64) {
		order = append(order, p)
		if p == 1 {
			if w.Cancel(a) {
				t.Error("cancel of the firing timer itself succeeded")
			}
			if !w.Cancel(b) {
				t.Error("cancel of another due timer failed")
			}
		}
	})
	if !equal(order, []uint64{1, 3}) || w.Len() != 0 || w.Cancel(c) {
		t.Fatalf("order %v len %d", order, w.Len())
	}
}

func TestRearmInsideCallback(t *testing.T) {
	w := New(Config{})
	self := w.Add(0, tick, 1)
	var again, zero Timer
	w.Advance(int64(tick), 0, func(t2 Timer, p uint64, due int64) {
		if t2 != self {
			t.Errorf("fn got %v, want %v", t2, self)
		}
		again = w.Reset(t2, int64(tick), 2*tick, 10) // stale handle: a new arming
		zero = w.Add(int64(tick), 0, 11)             // due, but waits for the next Advance
	})
	if !again.Armed() || again == self || w.Cancel(self) || w.Len() != 2 {
		t.Fatalf("re-arm: again=%v self=%v len=%d", again, self, w.Len())
	}
	got, _ := collect(w, int64(tick), 0)
	if !equal(payloads(got), []uint64{11}) {
		t.Fatalf("got %v", payloads(got))
	}
	got, _ = collect(w, 3*int64(tick), 0)
	if !equal(payloads(got), []uint64{10}) || got[0].t != again {
		t.Fatalf("got %+v", got)
	}
	_ = zero
}

func TestZeroDelayRearmDoesNotSpin(t *testing.T) {
	w := New(Config{})
	w.Add(0, 0, 1)
	calls := 0
	fn := func(t2 Timer, p uint64, _ int64) { calls++; w.Add(0, 0, p) }
	for i := 1; i <= 3; i++ {
		if n, more := w.Advance(0, 0, fn); n != 1 || !more || calls != i {
			t.Fatalf("Advance %d: fired %d more %v calls %d", i, n, more, calls)
		}
	}
}

func TestCancelFiredAndStale(t *testing.T) {
	w := New(Config{})
	a := w.Add(0, tick, 1)
	collect(w, int64(tick), 0)
	if w.Cancel(a) {
		t.Fatal("cancel of a fired timer succeeded")
	}
	b := w.Add(int64(tick), tick, 2) // reuses a's node
	if b.idx != a.idx || b == a {
		t.Fatalf("expected node reuse with a new generation: a=%v b=%v", a, b)
	}
	if w.Cancel(a) || w.Len() != 1 {
		t.Fatal("stale handle cancelled the node's new timer")
	}
	if r := w.Reset(a, int64(tick), tick, 3); r == b || w.Len() != 2 {
		t.Fatal("Reset of a stale handle touched the node's new timer")
	}
	if !w.Cancel(b) || w.Cancel(b) {
		t.Fatal("cancel of the live timer failed, or succeeded twice")
	}
}

// A Reset to a later time keeps the handle and moves nothing; a Reset to an
// earlier tick files the timer anew under a new handle, and the old handle is
// stale.
func TestResetHandles(t *testing.T) {
	w := New(Config{})
	a := w.Add(0, time.Second, 1)
	if r := w.Reset(a, 0, time.Hour, 2); r != a {
		t.Fatalf("Reset later returned %v, want %v", r, a)
	}
	if w.stale != 0 {
		t.Fatal("Reset later left a stale entry")
	}
	b := w.Reset(a, 0, tick, 3)
	if b == a || b.idx != a.idx || w.stale != 1 {
		t.Fatalf("Reset earlier returned %v (was %v), %d stale", b, a, w.stale)
	}
	if w.Cancel(a) || w.Len() != 1 {
		t.Fatal("the old handle still works")
	}
	checkLists(t, w)
	got, _ := collect(w, int64(time.Second), 0) // the second has passed: fires at tick 1 only
	if !equal(payloads(got), []uint64{3}) || w.Len() != 0 {
		t.Fatalf("got %v len %d", payloads(got), w.Len())
	}
}

// A timer re-armed later while its entry waits in an earlier slot, or on the
// expired list, is re-filed when the wheel reaches that slot and fires at its
// new time, not before.
func TestResetLaterRefiles(t *testing.T) {
	w := New(Config{})
	a := w.Add(0, 5*tick, 1)   // level 0, slot 5
	b := w.Add(0, 100*tick, 2) // level 1
	c := w.AddAt(0, int64(tick)/2, 3)
	collect(w, 0, 0)                // nothing due yet; c waits in slot 1
	w.Reset(a, 0, 70*tick, 4)       // still in slot 5
	w.Reset(b, 0, 200*tick, 5)      // still in its level-1 slot
	w.Reset(c, 0, 3*time.Second, 6) // still in slot 1
	if w.stale != 0 {
		t.Fatalf("%d stale entries", w.stale)
	}
	for _, step := range []struct {
		now  time.Duration
		want []uint64
	}{{69 * tick, nil}, {70 * tick, []uint64{4}}, {199 * tick, nil}, {200 * tick, []uint64{5}},
		{3*time.Second - tick, nil}, {3 * time.Second, []uint64{6}}} {
		got, _ := collect(w, int64(step.now), 0)
		if !equal(payloads(got), step.want) {
			t.Fatalf("at %v got %v, want %v", step.now, payloads(got), step.want)
		}
		checkLists(t, w)
	}
	if w.Len() != 0 {
		t.Fatalf("%d left", w.Len())
	}
}

// Order: due timers fire by effective tick, then due time, then slab index,
// whatever level they were filed on and whatever Resets they went through.
func TestStableOrder(t *testing.T) {
	w := New(Config{})
	target := int64(100*time.Second) + int64(tick)/2 // mid-tick
	a := w.AddAt(0, target, 1)                       // filed on level 2, node 0
	w.AddAt(0, target-int64(tick)/4, 2)              // earlier inside the same tick
	x := w.AddAt(0, target-int64(tick)/3, 9)         // earlier still, re-armed below
	collect(w, int64(99*time.Second), 0)             // cascade them down
	d := w.AddAt(int64(99*time.Second), target, 3)   // filed straight on level 0, node 3
	w.ResetAt(x, int64(99*time.Second), target, 4)   // later: stays where it is, node 2
	w.ResetAt(a, int64(99*time.Second), target, 5)   // same time: node 0
	got, _ := collect(w, target+int64(tick), 0)
	if !equal(payloads(got), []uint64{2, 5, 4, 3}) || d.idx != 3 {
		t.Fatalf("order %v", payloads(got))
	}
}

func TestAdvanceMaxOne(t *testing.T) {
	w := New(Config{})
	for i := range uint64(10) {
		w.Add(0, time.Second, i)
	}
	now := int64(time.Second)
	for i := range uint64(10) {
		got, more := collect(w, now, 1)
		if len(got) != 1 || got[0].payload != i || more != (i < 9) {
			t.Fatalf("call %d: %v more=%v", i, payloads(got), more)
		}
		now += 1 // the caller's clock moves a little between calls
	}
	if n, more := w.Advance(now, 1, nil); n != 0 || more {
		t.Fatal("empty wheel fired")
	}
}

func TestFarTimers(t *testing.T) {
	for _, d := range []time.Duration{47 * time.Hour, 48 * time.Hour, 30 * 24 * time.Hour, 400 * 24 * time.Hour} {
		w := New(Config{})
		w.Add(0, d, 1)
		w.Add(0, time.Minute, 2)
		var got []fired
		// Walk in 10-minute steps up to the last step before d, then cross it.
		for now := int64(0); now < int64(d); now += int64(10 * time.Minute) {
			g, _ := collect(w, min(now, int64(d)-1), 0)
			got = append(got, g...)
		}
		if !equal(payloads(got), []uint64{2}) {
			t.Fatalf("%v: before due fired %v", d, payloads(got))
		}
		if at, ok := w.NextExpiry(); !ok || at > int64(d) {
			t.Fatalf("%v: NextExpiry %d %v", d, at, ok)
		}
		g, _ := collect(w, int64(d), 0)
		if !equal(payloads(g), []uint64{1}) || g[0].due != int64(d) {
			t.Fatalf("%v: at due got %+v", d, g)
		}
	}
}

func TestHugeJump(t *testing.T) {
	w := New(Config{})
	ds := []time.Duration{30 * 24 * time.Hour, 5 * time.Hour, time.Hour, tick, time.Minute, 3 * time.Hour}
	for i, d := range ds {
		w.Add(0, d, uint64(i))
	}
	got, more := collect(w, int64(6*time.Hour), 0)
	if !equal(payloads(got), []uint64{3, 4, 2, 5, 1}) || more || w.Len() != 1 {
		t.Fatalf("got %v more %v len %d", payloads(got), more, w.Len())
	}
	for _, f := range got {
		if f.due != int64(ds[f.payload]) {
			t.Fatalf("due %d for %d", f.due, f.payload)
		}
	}
	if got, _ := collect(w, math.MaxInt64, 0); !equal(payloads(got), []uint64{0}) {
		t.Fatalf("end of time: %v", payloads(got))
	}
}

// Time going backwards is clamped: the wheel's clock never moves back, nothing
// new fires, and nothing panics.
func TestTimeBackwards(t *testing.T) {
	w := New(Config{Start: int64(time.Hour)})
	w.Add(int64(time.Hour), time.Minute, 1)
	collect(w, int64(time.Hour+30*time.Second), 0)
	if got, _ := collect(w, 0, 0); len(got) != 0 {
		t.Fatalf("backwards fired %v", payloads(got))
	}
	w.Add(0, time.Second, 2) // due long before Start: already due
	w.Add(math.MinInt64, 0, 3)
	got, _ := collect(w, math.MinInt64, 0) // by due time
	if !equal(payloads(got), []uint64{3, 2}) {
		t.Fatalf("got %v", payloads(got))
	}
	if got, _ := collect(w, int64(time.Hour+time.Minute), 0); !equal(payloads(got), []uint64{1}) {
		t.Fatalf("got %v", payloads(got))
	}
}

func TestPeriodicNoDrift(t *testing.T) {
	const periods = 10000
	interval := 15*time.Second + 3*time.Millisecond // not a multiple of the tick
	w := New(Config{})
	first := int64(interval)
	w.AddAt(0, first, 0)
	var n int64
	var now int64
	for n < periods {
		at, ok := w.NextExpiry()
		if !ok {
			t.Fatal("periodic timer lost")
		}
		now = max(now, at)
		w.Advance(now, 0, func(_ Timer, _ uint64, due int64) {
			if want := first + n*int64(interval); due != want {
				t.Fatalf("period %d: due %d, want %d (drift %d)", n, due, want, due-want)
			}
			if late := now - due; late < 0 || late >= int64(tick) {
				t.Fatalf("period %d: fired %d ns after due", n, late)
			}
			n++
			w.AddAt(now, due+int64(interval), 0)
		})
	}
}

func TestNextExpiry(t *testing.T) {
	w := New(Config{Start: 100})
	if _, ok := w.NextExpiry(); ok {
		t.Fatal("empty wheel has an expiry")
	}
	w.Add(100, 3*tick+1, 1)
	if at, _ := w.NextExpiry(); at != 100+4*int64(tick) {
		t.Fatalf("level-0 NextExpiry = %d", at)
	}
	w.Add(100, 0, 2)
	if at, _ := w.NextExpiry(); at > 100 {
		t.Fatalf("due timer: NextExpiry = %d", at)
	}
	collect(w, 100, 0)
	far := w.Add(100, time.Hour, 3)
	if at, _ := w.NextExpiry(); at != 100+4*int64(tick) {
		t.Fatalf("NextExpiry = %d", at)
	}
	collect(w, 100+4*int64(tick), 0)
	if at, _ := w.NextExpiry(); at <= 100+4*int64(tick) || at > 100+int64(time.Hour) {
		t.Fatalf("higher-level NextExpiry = %d, want a lower bound of the hour", at)
	}
	w.Cancel(far)
	if _, ok := w.NextExpiry(); ok {
		t.Fatal("cancelled timer still reported")
	}
}

func TestAdvanceReentryPanics(t *testing.T) {
	w := New(Config{})
	w.Add(0, 0, 1)
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
		w.Add(0, 0, 2) // the wheel is still usable
		if n, _ := w.Advance(0, 0, func(Timer, uint64, int64) {}); n != 1 {
			t.Fatalf("after panic fired %d", n)
		}
	}()
	w.Advance(0, 0, func(Timer, uint64, int64) { w.Advance(0, 0, nil) })
}

func TestSlabGrowth(t *testing.T) {
	w := New(Config{})
	hs := make([]Timer, 5000)
	for i := range hs {
		hs[i] = w.Add(0, time.Duration(i%97)*tick, uint64(i))
	}
	for i := 0; i < len(hs); i += 2 {
		if !w.Cancel(hs[i]) {
			t.Fatalf("cancel %d after growth", i)
		}
	}
	got, _ := collect(w, int64(time.Hour), 0)
	if len(got) != len(hs)/2 || w.Len() != 0 {
		t.Fatalf("fired %d of %d", len(got), len(hs)/2)
	}
}

func TestNoAllocs(t *testing.T) {
	w := New(Config{Capacity: 1024})
	hs := make([]Timer, 1000)
	now := int64(0)
	fn := func(t Timer, p uint64, due int64) { hs[p] = w.AddAt(now, due+int64(time.Second), p) }
	allocs := testing.AllocsPerRun(20, func() {
		for i := range hs {
			hs[i] = w.Reset(hs[i], now, time.Duration(i)*time.Millisecond, uint64(i))
		}
		for range 200 {
			now += int64(tick)
			w.Advance(now, 100, fn)
		}
		for i := range hs[:500] {
			w.Cancel(hs[i])
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per run", allocs)
	}
}

func TestJitter(t *testing.T) {
	r := NewRand(1)
	if r.Jitter(time.Second, 0) != time.Second || r.Jitter(time.Second, -1) != time.Second {
		t.Fatal("no spread must return d")
	}
	const n = 100000
	interval := 15 * time.Second
	w := New(Config{Capacity: n})
	for i := range n {
		j := r.Jitter(interval, interval)
		if j < interval || j >= 2*interval {
			t.Fatalf("Jitter = %v out of [d, d+spread)", j)
		}
		w.Add(0, j, uint64(i))
	}
	// 100k heartbeats armed at once spread over the 1,500 ticks of the interval.
	perTick := map[int64]int{}
	for now := int64(interval); w.Len() > 0; now += int64(tick) {
		n, _ := w.Advance(now, 0, func(Timer, uint64, int64) {})
		perTick[now] = n
	}
	busiest := 0
	for _, n := range perTick {
		busiest = max(busiest, n)
	}
	if mean := n / int(interval/tick); busiest > 2*mean {
		t.Fatalf("busiest tick fires %d, mean %d", busiest, mean)
	}
	if a := testing.AllocsPerRun(100, func() { r.Jitter(interval, interval) }); a != 0 {
		t.Fatalf("Jitter allocates %v", a)
	}
}

// checkLists verifies the list bookkeeping against a full walk: every armed
// timer has exactly one current entry, w.stale counts the rest, every chunk is
// either in one list or free, and every non-empty slot has its occupancy bit.
func checkLists(tb testing.TB, w *Wheel) {
	tb.Helper()
	seen := make([]bool, len(w.chunks))
	mark := func(c uint32, what string) {
		if seen[c] {
			tb.Fatalf("chunk %d reached twice (%s)", c, what)
		}
		seen[c] = true
	}
	current := map[uint32]int{}
	stale := 0
	for l := range uint32(numLists) {
		L := w.lists[l]
		if (L.head == nilChunk) != (L.tail == nilChunk) {
			tb.Fatalf("list %d: head %d tail %d", l, L.head, L.tail)
		}
		if L.head != nilChunk && l < numSlots && w.occupied[l/slotsPerLevel]&(1<<(l%slotsPerLevel)) == 0 {
			tb.Fatalf("list %d has entries but no occupancy bit", l)
		}
		last := uint32(nilChunk)
		for c := L.head; c != nilChunk; c = w.chunks[c].next {
			mark(c, "list")
			h := w.chunks[c]
			if h.lo > h.hi || h.hi > chunkLen {
				tb.Fatalf("chunk %d: [%d, %d)", c, h.lo, h.hi)
			}
			for k := h.lo; k < h.hi; k++ {
				if e := w.ents[at(c, k)]; w.current(e) {
					current[e.idx]++
					checkFiled(tb, w, l, w.nodes[e.idx].filed)
				} else {
					stale++
				}
			}
			last = c
		}
		if last != L.tail {
			tb.Fatalf("list %d: tail %d, walk ends at %d", l, L.tail, last)
		}
	}
	for c := w.freeChunk; c != nilChunk; c = w.chunks[c].next {
		mark(c, "free")
	}
	for c, ok := range seen {
		if !ok {
			tb.Fatalf("chunk %d lost", c)
		}
	}
	if stale != w.stale {
		tb.Fatalf("%d stale entries, counted %d", stale, w.stale)
	}
	for _, b := range w.batch[w.batchPos:] {
		if w.nodes[b.idx].gen == b.gen {
			if w.nodes[b.idx].filed != filedBatch {
				tb.Fatalf("node %d in the batch filed as %d", b.idx, w.nodes[b.idx].filed)
			}
			current[b.idx]++
		}
	}
	armed := 0
	for i := range w.nodes {
		if w.nodes[i].gen&1 == 1 {
			armed++
			if current[uint32(i)] != 1 {
				tb.Fatalf("armed node %d has %d current entries", i, current[uint32(i)])
			}
		}
	}
	if armed != w.live || len(current) != w.live {
		tb.Fatalf("armed %d, filed %d, live %d", armed, len(current), w.live)
	}
}

// checkFiled checks that a node whose current entry is on list l records
// when the wheel walks l (see filedAbove).
func checkFiled(tb testing.TB, w *Wheel, l uint32, f uint32) {
	tb.Helper()
	switch {
	case l == overflowList:
		if f != filedFixed {
			tb.Fatalf("overflow entry filed as %d", f)
		}
	case l == expiredList:
		if f != filedFixed && f != filedExpired {
			tb.Fatalf("expired entry filed as %d, cur %d", f, w.cur)
		}
	default:
		lvl, s := l/slotsPerLevel, uint64(l%slotsPerLevel)
		shift := uint(lvl * slotBits)
		walk := w.cur>>(shift+slotBits)<<(shift+slotBits) | s<<shift
		if f != w.slotFiled(walk) {
			tb.Fatalf("entry in list %d (walked at %d) filed as %d", l, walk, f)
		}
	}
}

// Cancel and Reset leave stale entries behind; without an Advance to drop
// them, compaction keeps the arena bounded and the firing order intact.
func TestStaleEntriesBounded(t *testing.T) {
	w := New(Config{Capacity: 1000})
	hs := make([]Timer, 1000)
	for i := range hs {
		hs[i] = w.Add(0, time.Duration(i%300)*time.Second, uint64(i))
	}
	arena := len(w.ents)
	r := NewRand(3)
	for i := range 200_000 {
		k := r.Below(uint64(len(hs)))
		if i%7 == 0 {
			w.Cancel(hs[k])
			hs[k] = w.Add(0, time.Duration(k%300)*time.Second, k)
			continue
		}
		if nt := w.Reset(hs[k], 0, time.Duration(k%300)*time.Second, k); nt.idx != hs[k].idx {
			t.Fatal("Reset of a live timer moved it to another node")
		} else {
			hs[k] = nt
		}
	}
	checkLists(t, w)
	if len(w.ents) > 4*arena || w.stale > len(w.ents)/2 {
		t.Fatalf("arena %d entries (started at %d), %d stale", len(w.ents), arena, w.stale)
	}
	if len(w.nodes) != 1000 {
		t.Fatalf("slab grew to %d nodes for 1000 timers", len(w.nodes))
	}
	var got []uint64
	w.Advance(int64(time.Hour), 0, func(_ Timer, p uint64, _ int64) { got = append(got, p) })
	if len(got) != len(hs) || w.Len() != 0 {
		t.Fatalf("fired %d of %d", len(got), len(hs))
	}
	for i := 1; i < len(got); i++ {
		if got[i-1]%300 > got[i]%300 {
			t.Fatalf("fired %d before %d", got[i-1], got[i])
		}
	}
	checkLists(t, w)
	if w.stale != 0 {
		t.Fatalf("%d stale entries left after draining", w.stale)
	}
}

// When a node's generation wraps, every stale entry is dropped first, so an
// old entry of that node cannot come back to life.
func TestGenerationWrap(t *testing.T) {
	w := New(Config{})
	a := w.Add(0, time.Hour, 1) // filed in a level-3 slot
	w.Add(0, time.Hour, 2)
	l := uint32(3*slotsPerLevel + 1) // an hour is 360,000 ticks: level 3, slot 1
	c := w.lists[l].head
	if w.ents[at(c, 0)].idx != a.idx {
		t.Fatal("timer not where expected")
	}
	// Pretend the node is near the end of its generations, and that an old
	// entry of it, stale, waits in another slot with a generation it will
	// reach again after the wrap.
	a.gen = math.MaxUint32 - 4
	w.nodes[a.idx].gen = a.gen
	w.ents[at(c, 0)].gen = a.gen
	w.push(l, entry{idx: a.idx, gen: 3})
	w.stale++
	checkLists(t, w)
	for range 4 {
		a = w.Reset(a, 0, 0, 3) // due at once: filed anew each time, crossing the wrap
	}
	if a.gen != 3 {
		t.Fatalf("generation %d after the wrap", a.gen)
	}
	checkLists(t, w) // one current entry per armed node: the old one is gone
	got, _ := collect(w, int64(time.Hour), 0)
	if !equal(payloads(got), []uint64{3, 2}) {
		t.Fatalf("got %v", payloads(got))
	}
}

// A Reset to a due time far before the wheel's clock (time passed in going
// backwards by more than the bucket window) must not leave the timer in a
// later slot because the 31-bit bucket comparison wrapped: it is due at once.
func TestResetFarBackwardsIsDue(t *testing.T) {
	w := New(Config{Tick: 1})
	start := int64(1) << 31
	collect(w, start, 0)
	a := w.Add(start, 100, 1) // a level-1 slot, walked about 100 ticks on
	walkAbove := int64(w.nodes[a.idx].filed >> 1)
	due := walkAbove - 1<<31 + 5 // 5 buckets above the threshold, mod 2^31
	a = w.ResetAt(a, due-1, due, 2)
	checkLists(t, w)
	got, _ := collect(w, start, 0) // no time passes: it is due already
	if !equal(payloads(got), []uint64{2}) {
		t.Fatalf("got %v", payloads(got))
	}
}

package wheel

import (
	"container/heap"
	"math"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The benchmarks hold benchTimers live timers, the scale one gateway process
// is sized for, and compare the wheel with Go runtime timers (time.AfterFunc,
// Timer.Reset, Timer.Stop) and a container/heap priority queue in the same
// run. Setup is outside the timed region. B/timer is the heap growth caused by
// the live timers themselves (the caller's handle slice is allocated first and
// not counted).

const (
	benchTimers   = 1_000_000
	benchInterval = 15 * time.Second // the gateway's default heartbeat
)

// benchPerm is a fixed pseudo-random visiting order, so reset and cancel touch
// timers spread over the whole structure as a busy gateway does.
var benchPerm = func() []uint32 {
	p := make([]uint32, benchTimers)
	for i := range p {
		p[i] = uint32(i)
	}
	r := NewRand(42)
	for i := len(p) - 1; i > 0; i-- {
		j := r.Below(uint64(i + 1))
		p[i], p[j] = p[j], p[i]
	}
	return p
}()

// benchSeq visits timers in arming order, as a fan-out does when it re-arms
// the write deadlines of a channel's subscribers one after the other.
var benchSeq = func() []uint32 {
	p := make([]uint32, benchTimers)
	for i := range p {
		p[i] = uint32(i)
	}
	return p
}()

// benchOrder says in which order the caller's records (an array of handles
// indexed by record) are armed, which decides where their nodes lie, and in
// which order reset and cancel then visit the records.
type benchOrder struct {
	name       string
	arm, visit []uint32
}

// benchOrders are the three patterns reset and cancel are measured in:
//   - seq: records visited in arming order, their nodes one after the other
//     (a fan-out re-arming the write deadlines of a channel's subscribers);
//   - scattered: records visited in their own order, their nodes spread over
//     the slab because they were armed in another order (a gateway after
//     churn: each connection's record is at hand, its timer node is a random
//     place of the slab: one cache miss);
//   - random: records visited at random, so the caller's handle array is
//     missed as well as the node (two dependent cache misses, the first in the
//     caller's memory).
var benchOrders = []benchOrder{
	{"seq", benchSeq, benchSeq},
	{"scattered", benchPerm, benchSeq},
	{"random", benchSeq, benchPerm},
}

// benchDelay is the i-th delay: a heartbeat interval with up to a second of
// spread, cheap to compute in the timed loop.
func benchDelay(i int) time.Duration {
	return benchInterval + time.Duration(i&1023)*time.Millisecond
}

func heapBytes() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// perTimer reports the live heap growth since before, per live timer. The
// report is made at cleanup because ResetTimer deletes reported metrics.
func perTimer(b *testing.B, before uint64) {
	grown := float64(heapBytes()) - float64(before)
	b.Cleanup(func() { b.ReportMetric(grown/benchTimers, "B/timer") })
}

// --- the wheel ---

func newBenchWheel(b *testing.B, extra int, arm []uint32) (*Wheel, []Timer) {
	b.Helper()
	hs := make([]Timer, benchTimers)
	before := heapBytes()
	w := New(Config{Capacity: benchTimers + extra})
	armWheel(w, hs, arm)
	perTimer(b, before)
	return w, hs
}

// armWheel arms the timer of every record, in the order arm gives.
func armWheel(w *Wheel, hs []Timer, arm []uint32) {
	for _, k := range arm {
		hs[k] = w.Add(0, benchDelay(int(k)), uint64(k))
	}
}

func benchWheelAdd(b *testing.B) {
	w, _ := newBenchWheel(b, benchTimers, benchSeq)
	extra := make([]Timer, benchTimers)
	b.ReportAllocs()
	b.ResetTimer()
	for i, j := 0, 0; i < b.N; i, j = i+1, j+1 {
		if j == len(extra) { // keep the population at 1-2M: drop the batch untimed
			b.StopTimer()
			for _, t := range extra {
				w.Cancel(t)
			}
			j = 0
			b.StartTimer()
		}
		extra[j] = w.Add(0, benchDelay(i), uint64(i))
	}
}

// resetDelay is the delay of the i-th reset, of record k. Pushed on (jitter
// false): the record's own interval from a clock that only moves forward, so
// every reset moves its timer later — a heartbeat or a write deadline pushed on
// by activity, the gateway's case. Jittered: a new spread of up to a second
// each time, so about one reset in five moves its timer to an earlier slot.
func resetDelay(jitter bool, i int, k uint32) time.Duration {
	if jitter {
		return benchDelay(i)
	}
	return benchDelay(int(k))
}

func benchWheelReset(b *testing.B, o benchOrder, jitter bool) {
	w, hs := newBenchWheel(b, 0, o.arm)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := o.visit[i%benchTimers]
		hs[k] = w.Reset(hs[k], int64(i), resetDelay(jitter, i, k), uint64(k))
	}
}

// benchStep is how far the clock moves per operation in the benchmarks that
// run the wheel as the gateway does: a million re-arms per second.
const benchStep = int64(time.Microsecond)

// benchWheelResetClock re-arms as the gateway does: the clock moves on and the
// wheel is advanced every tick, so the slots that come up are walked (and
// their stale entries dropped) while the resets go on. That walking is part of
// the measured time.
func benchWheelResetClock(b *testing.B, o benchOrder, jitter bool) {
	w, hs := newBenchWheel(b, 0, o.arm)
	fired := 0
	fn := func(Timer, uint64, int64) { fired++ }
	now, next := int64(0), int64(DefaultTick)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if now += benchStep; now >= next {
			w.Advance(now, 0, fn)
			next += int64(DefaultTick)
		}
		k := o.visit[i%benchTimers]
		hs[k] = w.Reset(hs[k], now, resetDelay(jitter, i, k), uint64(k))
	}
	if fired != 0 {
		b.Fatalf("%d timers fired: every one is re-armed before it is due", fired)
	}
}

func benchWheelCancel(b *testing.B, o benchOrder) {
	w, hs := newBenchWheel(b, 0, o.arm)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := o.visit[i%benchTimers]
		if i%benchTimers == benchTimers-1 { // all cancelled: re-arm untimed
			w.Cancel(hs[k])
			b.StopTimer()
			armWheel(w, hs, o.arm)
			b.StartTimer()
			continue
		}
		w.Cancel(hs[k])
	}
}

// benchWheelHeartbeat fires b.N heartbeats: every timer fires once per
// interval and re-arms itself at due+interval, the wheel advanced every tick.
func benchWheelHeartbeat(b *testing.B) {
	hs := make([]Timer, benchTimers)
	before := heapBytes()
	w := New(Config{Capacity: benchTimers})
	r := NewRand(7)
	for i := range hs {
		hs[i] = w.Add(0, r.Jitter(0, benchInterval), uint64(i))
	}
	perTimer(b, before)
	now, fired := int64(0), 0
	fn := func(_ Timer, p uint64, due int64) {
		hs[p] = w.AddAt(now, due+int64(benchInterval), p)
	}
	for now < int64(benchInterval) { // one untimed period: steady state
		now += int64(DefaultTick)
		w.Advance(now, 0, fn)
	}
	cpu := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	for fired < b.N {
		now += int64(DefaultTick)
		n, _ := w.Advance(now, 0, fn)
		fired += n
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(fired), "cpu-ns/fire")
}

// --- Go runtime timers ---

func newBenchRuntime(b *testing.B, f func(), arm []uint32) []*time.Timer {
	b.Helper()
	ts := make([]*time.Timer, benchTimers)
	before := heapBytes()
	for _, k := range arm {
		ts[k] = time.AfterFunc(time.Hour+benchDelay(int(k)), f)
	}
	perTimer(b, before)
	b.Cleanup(func() {
		for _, t := range ts {
			t.Stop()
		}
	})
	return ts
}

func benchRuntimeAdd(b *testing.B) {
	nop := func() {}
	newBenchRuntime(b, nop, benchSeq)
	extra := make([]*time.Timer, benchTimers)
	b.ReportAllocs()
	b.ResetTimer()
	for i, j := 0, 0; i < b.N; i, j = i+1, j+1 {
		if j == len(extra) {
			b.StopTimer()
			for _, t := range extra {
				t.Stop()
			}
			j = 0
			b.StartTimer()
		}
		extra[j] = time.AfterFunc(time.Hour+benchDelay(i), nop)
	}
	b.StopTimer()
	for _, t := range extra {
		if t != nil {
			t.Stop()
		}
	}
}

func benchRuntimeReset(b *testing.B, o benchOrder, jitter bool) {
	ts := newBenchRuntime(b, func() {}, o.arm)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := o.visit[i%benchTimers]
		ts[k].Reset(time.Hour + resetDelay(jitter, i, k))
	}
}

func benchRuntimeCancel(b *testing.B, o benchOrder) {
	ts := newBenchRuntime(b, func() {}, o.arm)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := o.visit[i%benchTimers]
		ts[k].Stop()
		if i%benchTimers == benchTimers-1 {
			b.StopTimer()
			for _, t := range ts {
				t.Reset(time.Hour)
			}
			b.StartTimer()
		}
	}
}

// benchRuntimeHeartbeat lets 1M runtime timers fire for real, each re-arming
// itself with Reset every second; the first fires come one to two seconds
// after arming, spread over a second. Wall time per fire includes waiting for
// that schedule, so it also reports the process CPU time per fire (timer
// goroutines run on both cores), the figure to compare with the wheel.
func benchRuntimeHeartbeat(b *testing.B) {
	const interval = time.Second
	var fired, target atomic.Int64
	var stop atomic.Bool
	target.Store(math.MaxInt64)
	done := make(chan struct{})
	ts := make([]*time.Timer, benchTimers)
	before := heapBytes()
	r := NewRand(7)
	for i := range ts {
		var t *time.Timer
		t = time.AfterFunc(r.Jitter(interval, interval), func() {
			if stop.Load() {
				return
			}
			if fired.Add(1) >= target.Load() {
				if !stop.Swap(true) {
					close(done)
				}
				return
			}
			t.Reset(interval)
		})
		ts[i] = t
	}
	perTimer(b, before)
	cpu := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	target.Store(fired.Load() + int64(b.N))
	<-done
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/fire")
	for _, t := range ts {
		t.Stop()
	}
}

// cpuTime returns the process's user+system CPU time in ns.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// floorSetup lays out the floors' memory as the wheel's: a node per record,
// in arming order, and the records' handles naming them.
func floorSetup(o benchOrder) ([]node, []Timer) {
	nodes := make([]node, benchTimers)
	hs := make([]Timer, benchTimers)
	for n, k := range o.arm {
		hs[k] = Timer{idx: uint32(n), gen: 1}
	}
	return nodes, hs
}

// benchTouchViaHandle is the memory floor of reset and cancel in each
// pattern: the caller's handle is read, then the node it names is read and
// written, nothing else. In the random pattern those are two dependent cache
// misses.
func benchTouchViaHandle(b *testing.B, o benchOrder) {
	nodes, hs := floorSetup(o)
	b.ResetTimer()
	for i := range b.N {
		k := o.visit[i%benchTimers]
		n := &nodes[hs[k].idx]
		n.payload++
		hs[k].gen = n.gen
	}
}

// benchTouchCall is benchTouchViaHandle with the node's read-modify-write
// behind a function call that is not inlined, as every wheel operation is: the
// floor of any out-of-line timer operation in each pattern.
func benchTouchCall(b *testing.B, o benchOrder) {
	nodes, hs := floorSetup(o)
	b.ResetTimer()
	for i := range b.N {
		k := o.visit[i%benchTimers]
		hs[k] = touchNode(nodes, hs[k])
	}
}

//go:noinline
func touchNode(nodes []node, t Timer) Timer {
	n := &nodes[t.idx]
	n.payload++
	t.gen = n.gen
	return t
}

// --- container/heap ---

type heapItem struct {
	due     int64
	index   int
	payload uint64
}

type timerHeap []*heapItem

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].due < h[j].due }
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *timerHeap) Push(x any) {
	it := x.(*heapItem)
	it.index = len(*h)
	*h = append(*h, it)
}
func (h *timerHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	it.index = -1
	return it
}

func newBenchHeap(b *testing.B, extra int, arm []uint32) (*timerHeap, []*heapItem) {
	b.Helper()
	items := make([]*heapItem, benchTimers)
	before := heapBytes()
	h := make(timerHeap, 0, benchTimers+extra)
	for _, k := range arm {
		items[k] = &heapItem{due: int64(benchDelay(int(k))), payload: uint64(k)}
		heap.Push(&h, items[k])
	}
	perTimer(b, before)
	return &h, items
}

func benchHeapAdd(b *testing.B) {
	h, _ := newBenchHeap(b, benchTimers, benchSeq)
	extra := make([]*heapItem, benchTimers)
	b.ReportAllocs()
	b.ResetTimer()
	for i, j := 0, 0; i < b.N; i, j = i+1, j+1 {
		if j == len(extra) {
			b.StopTimer()
			for _, it := range extra {
				heap.Remove(h, it.index)
			}
			j = 0
			b.StartTimer()
		}
		extra[j] = &heapItem{due: int64(i) + int64(benchDelay(i)), payload: uint64(i)}
		heap.Push(h, extra[j])
	}
}

func benchHeapReset(b *testing.B, o benchOrder, jitter bool) {
	h, items := newBenchHeap(b, 0, o.arm)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := o.visit[i%benchTimers]
		it := items[k]
		it.due = int64(i) + int64(resetDelay(jitter, i, k))
		heap.Fix(h, it.index)
	}
}

func benchHeapCancel(b *testing.B, o benchOrder) {
	h, items := newBenchHeap(b, 0, o.arm)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		heap.Remove(h, items[o.visit[i%benchTimers]].index)
		if i%benchTimers == benchTimers-1 {
			b.StopTimer()
			for _, it := range items {
				heap.Push(h, it)
			}
			b.StartTimer()
		}
	}
}

func benchHeapHeartbeat(b *testing.B) {
	items := make([]*heapItem, benchTimers)
	before := heapBytes()
	h := make(timerHeap, 0, benchTimers)
	r := NewRand(7)
	for i := range items {
		items[i] = &heapItem{due: int64(r.Jitter(0, benchInterval)), payload: uint64(i)}
		heap.Push(&h, items[i])
	}
	perTimer(b, before)
	now, fired := int64(0), 0
	cpu := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	for fired < b.N {
		now += int64(DefaultTick)
		for h[0].due <= now {
			h[0].due += int64(benchInterval)
			heap.Fix(&h, 0)
			fired++
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(fired), "cpu-ns/fire")
}

func BenchmarkAdd(b *testing.B) {
	b.Run("wheel", benchWheelAdd)
	b.Run("runtime-AfterFunc", benchRuntimeAdd)
	b.Run("container-heap", benchHeapAdd)
}

// BenchmarkReset pushes deadlines on; BenchmarkResetJitter moves them to a
// random new time (see resetDelay).
func BenchmarkReset(b *testing.B)       { benchResets(b, false) }
func BenchmarkResetJitter(b *testing.B) { benchResets(b, true) }

func benchResets(b *testing.B, jitter bool) {
	for _, o := range benchOrders {
		b.Run("wheel/"+o.name, func(b *testing.B) { benchWheelReset(b, o, jitter) })
		b.Run("wheel-clock/"+o.name, func(b *testing.B) { benchWheelResetClock(b, o, jitter) })
		b.Run("runtime-Timer.Reset/"+o.name, func(b *testing.B) { benchRuntimeReset(b, o, jitter) })
		b.Run("container-heap/"+o.name, func(b *testing.B) { benchHeapReset(b, o, jitter) })
		b.Run("floor-via-handle/"+o.name, func(b *testing.B) { benchTouchViaHandle(b, o) })
		b.Run("floor-call/"+o.name, func(b *testing.B) { benchTouchCall(b, o) })
	}
}

func BenchmarkCancel(b *testing.B) {
	for _, o := range benchOrders {
		b.Run("wheel/"+o.name, func(b *testing.B) { benchWheelCancel(b, o) })
		b.Run("floor-via-handle/"+o.name, func(b *testing.B) { benchTouchViaHandle(b, o) })
		b.Run("floor-call/"+o.name, func(b *testing.B) { benchTouchCall(b, o) })
		b.Run("runtime-Timer.Stop/"+o.name, func(b *testing.B) { benchRuntimeCancel(b, o) })
		b.Run("container-heap/"+o.name, func(b *testing.B) { benchHeapCancel(b, o) })
	}
}

func BenchmarkHeartbeat(b *testing.B) {
	b.Run("wheel", benchWheelHeartbeat)
	b.Run("runtime-AfterFunc", benchRuntimeHeartbeat)
	b.Run("container-heap", benchHeapHeartbeat)
}

package history

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ssegw/frame"
)

// The benchmarks' message: a chat-sized event with its id line, 113 bytes,
// in a compact frame (what a gateway with history keeps).
func benchFrame(i int) *frame.Frame { return frame.NewCompactRaw(benchMessage(i)) }

func benchMessage(i int) []byte {
	return (fmt.Appendf(nil, "id: %s\nevent: message\ndata: {\"user\":\"u%06d\",\"text\":\"hello there, this is message %08d\"}\n\n", Position{1, uint64(i)}, i%1000000, i))
}

// BenchmarkKeptMemory: heap bytes per kept message, 100 channels of 1,000,
// with compact frames and with pooled ones (the pool calibrated by a run of
// 1 KiB messages, as a gateway's pool is by its traffic), same run.
func BenchmarkKeptMemory(b *testing.B) {
	for _, kind := range []string{"compact", "pooled"} {
		b.Run(kind, func(b *testing.B) {
			big := make([]byte, 1000)
			for range 20000 {
				frame.NewRaw(big).Release()
			}
			mk := frame.NewCompactRaw
			if kind == "pooled" {
				mk = frame.NewRaw
			}
			const channels, per = 100, 1000
			frames := make([]*frame.Frame, channels*per)
			msgs := make([][]byte, len(frames))
			for i := range msgs {
				msgs[i] = benchMessage(i)
			}
			runtime.GC()
			var m0, m1 runtime.MemStats
			runtime.ReadMemStats(&m0)
			h := newHistory(b, Options{Size: per, MaxBytes: 1 << 40})
			a := h.Begin()
			for i := range frames {
				fr := mk(msgs[i])
				a.Append(fmt.Sprint("channel-", i%channels), fr, false, 0)
				fr.Release()
			}
			a.End()
			runtime.GC()
			runtime.ReadMemStats(&m1)
			for b.Loop() {
			}
			n := float64(len(frames))
			b.ReportMetric(float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/n, "B/kept-msg")
			b.ReportMetric(float64(h.Stats().Bytes)/n, "charged-B/msg")
			b.ReportMetric(float64(len(msgs[0])), "msg-B")
			runtime.KeepAlive(h)
		})
	}
}

// benchSetup is a history of `channels` channels with `per` messages each
// (distinct frames), appended round robin, and the heap bytes it took per
// kept message.
type benchSetup struct {
	h              *History
	names          []string
	frameB, indexB float64 // heap bytes per kept message: its frame, the index
}

func newBenchSetup(b *testing.B, channels, per int) *benchSetup {
	b.Helper()
	names := make([]string, channels)
	for i := range names {
		names[i] = fmt.Sprintf("channel-%06d", i)
	}
	// Frames first, so their own cost is measured apart from the index.
	frames := make([]*frame.Frame, channels*per)
	runtime.GC()
	var m0, m1, m2 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for i := range frames {
		frames[i] = benchFrame(i)
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	h := newHistory(b, Options{Size: per, MaxBytes: 1 << 40})
	a := h.Begin()
	for i, fr := range frames {
		a.Append(names[i%channels], fr, false, 0)
		fr.Release()
	}
	a.End()
	clear(frames)
	runtime.GC()
	runtime.ReadMemStats(&m2)
	n := float64(len(frames))
	runtime.KeepAlive(frames) // allocated before m0: in none of the differences
	return &benchSetup{h: h, names: names,
		frameB: float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc)) / n,
		indexB: float64(int64(m2.HeapAlloc)-int64(m1.HeapAlloc)) / n,
	}
}

// report gives the memory per kept message: its frame (buffer, Frame and
// ByteBuffer headers) and the history's index (entries, rings, channels,
// map, heap) divided by the messages.
func (s *benchSetup) report(b *testing.B) {
	b.ReportMetric(s.frameB+s.indexB, "B/kept-msg")
	b.ReportMetric(s.indexB, "B/index-per-msg")
}

var benchShapes = []struct {
	name          string
	channels, per int
}{
	{"1000-per-channel", 100, 1000},
	{"100k-channels", 100000, 10},
}

// BenchmarkAppend: one Append (order lock included) to a full channel, which
// drops that channel's oldest: the steady state of a busy gateway.
func BenchmarkAppend(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(sh.name, func(b *testing.B) {
			s := newBenchSetup(b, sh.channels, sh.per)
			frames := make([]*frame.Frame, 64)
			for i := range frames {
				frames[i] = benchFrame(i)
			}
			order := make([]int, 1<<16)
			r := rand.New(rand.NewPCG(1, 1))
			for i := range order {
				order[i] = r.IntN(sh.channels)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				a := s.h.Begin()
				a.Append(s.names[order[i&(len(order)-1)]], frames[i&63], false, 0)
				a.End()
				i++
			}
			s.report(b)
		})
	}
}

// BenchmarkAppendFloor is the part of an Append no design avoids, in the
// same access pattern: finding the channel by name in a map of that many
// channels and touching the oldest of its kept frames (which a drop
// releases). Run beside BenchmarkAppend for the ratio.
func BenchmarkAppendFloor(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(sh.name, func(b *testing.B) {
			names := make([]string, sh.channels)
			m := make(map[string]*[]*frame.Frame, sh.channels)
			for i := range names {
				names[i] = fmt.Sprintf("channel-%06d", i)
				fs := make([]*frame.Frame, sh.per)
				for j := range fs {
					fs[j] = benchFrame(i*sh.per + j)
				}
				m[names[i]] = &fs
			}
			order := make([]int, 1<<16)
			r := rand.New(rand.NewPCG(1, 1))
			for i := range order {
				order[i] = r.IntN(sh.channels)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				fs := *m[names[order[i&(len(order)-1)]]]
				fr := fs[i%len(fs)]
				fr.Retain(1)
				fr.Release()
				i++
			}
		})
	}
}

// BenchmarkRead: one replay step of up to 64 entries (references taken and
// released), from a position kept on every bound channel.
func BenchmarkRead(b *testing.B) {
	cases := []struct {
		shape, bound, behind int // bound channels; messages of the gateway behind the head
	}{
		{0, 1, 500 * 100},
		{0, 3, 500 * 100},
		{0, 100, 500 * 100},
		{1, 1, 5 * 100000},
		{1, 100, 5 * 100000},
	}
	setups := map[int]*benchSetup{}
	for _, c := range cases {
		sh := benchShapes[c.shape]
		b.Run(fmt.Sprintf("%s/bound-%d", sh.name, c.bound), func(b *testing.B) {
			s := setups[c.shape]
			if s == nil {
				s = newBenchSetup(b, sh.channels, sh.per)
				setups[c.shape] = s
			}
			r := s.h.NewReader()
			rnd := rand.New(rand.NewPCG(2, 2))
			sets := make([][]string, 256)
			for i := range sets {
				for range c.bound {
					sets[i] = append(sets[i], s.names[rnd.IntN(sh.channels)])
				}
			}
			after := Position{s.h.Epoch(), s.h.Head().Seq - uint64(c.behind)}
			b.ReportAllocs()
			i, n := 0, 0
			for b.Loop() {
				got, _, st := r.Read(after, sets[i&255], 64)
				if st != More && st != Done {
					b.Fatal(st)
				}
				n += len(got)
				for _, e := range got {
					e.Frame.Release()
				}
				i++
			}
			b.ReportMetric(float64(n)/float64(i), "entries/read")
			s.report(b)
		})
	}
}

// BenchmarkContended: one goroutine appends (as a control handler does)
// while another replays back to back (as an event loop would in a resume
// storm), on the 2 cores; each call's wall time is recorded, so the
// percentiles are what a loop waits for a Read (lock wait plus its own hold)
// and what an appender waits. The same calls made one at a time by one
// goroutine, before the contended run, are the baseline ("alone-"): their
// times are the lock hold times themselves. The maxima of both include the
// Go scheduler and the garbage collector's worker taking one of the two
// cores (milliseconds), not the lock.
func BenchmarkContended(b *testing.B) {
	for _, sh := range benchShapes {
		b.Run(sh.name, func(b *testing.B) {
			s := newBenchSetup(b, sh.channels, sh.per)
			frames := make([]*frame.Frame, 64)
			for i := range frames {
				frames[i] = benchFrame(i)
			}
			const maxSamples = 1 << 20
			appendOnce := func(rnd *rand.Rand, i int) time.Duration {
				name := s.names[rnd.IntN(sh.channels)]
				t0 := time.Now()
				a := s.h.Begin()
				a.Append(name, frames[i&63], false, 0)
				a.End()
				return time.Since(t0)
			}
			readOnce := func(r *Reader, rnd *rand.Rand) time.Duration {
				bound := []string{s.names[rnd.IntN(sh.channels)], s.names[rnd.IntN(sh.channels)], s.names[rnd.IntN(sh.channels)]}
				after := Position{s.h.Epoch(), s.h.Head().Seq - uint64(sh.channels*sh.per/2)}
				t0 := time.Now()
				got, _, _ := r.Read(after, bound, 64)
				d := time.Since(t0)
				for _, e := range got {
					e.Frame.Release()
				}
				return d
			}
			const aloneCalls = 100000
			aloneAppend := make([]int64, aloneCalls)
			aloneRead := make([]int64, aloneCalls)
			rnd := rand.New(rand.NewPCG(5, 5))
			rd := s.h.NewReader()
			for i := range aloneCalls {
				aloneAppend[i] = int64(appendOnce(rnd, i))
				aloneRead[i] = int64(readOnce(rd, rnd))
			}

			appendNs := make([]int64, 0, maxSamples)
			readNs := make([]int64, 0, maxSamples)
			var stop atomic.Bool
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // the loop
				defer wg.Done()
				r := s.h.NewReader()
				rnd := rand.New(rand.NewPCG(3, 3))
				for !stop.Load() {
					d := readOnce(r, rnd)
					if len(readNs) < maxSamples {
						readNs = append(readNs, int64(d))
					}
				}
			}()
			rnd = rand.New(rand.NewPCG(4, 4))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				d := appendOnce(rnd, i)
				if len(appendNs) < maxSamples {
					appendNs = append(appendNs, int64(d))
				}
				i++
			}
			stop.Store(true)
			wg.Wait()
			reportPercentiles(b, "alone-append", aloneAppend)
			reportPercentiles(b, "alone-read", aloneRead)
			reportPercentiles(b, "append", appendNs)
			reportPercentiles(b, "read", readNs)
		})
	}
}

func reportPercentiles(b *testing.B, what string, ns []int64) {
	if len(ns) == 0 {
		return
	}
	slices.Sort(ns)
	at := func(q float64) float64 { return float64(ns[min(len(ns)-1, int(q*float64(len(ns))))]) }
	b.ReportMetric(at(0.5), what+"-p50-ns")
	b.ReportMetric(at(0.99), what+"-p99-ns")
	b.ReportMetric(at(0.999), what+"-p99.9-ns")
	b.ReportMetric(float64(ns[len(ns)-1]), what+"-max-ns")
}

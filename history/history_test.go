package history

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"ssegw/frame"
)

func newHistory(t testing.TB, o Options) *History {
	t.Helper()
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// add appends a message "data: <text>" to channel and drops the caller's
// reference.
func add(h *History, channel, text string, now int64) Position {
	fr := frame.NewRaw([]byte("data: " + text + "\n\n"))
	a := h.Begin()
	p := a.Append(channel, fr, false, now)
	a.End()
	fr.Release()
	return p
}

// replay reads from after to the end in steps of limit and returns the
// messages' texts, the final position and status.
func replay(h *History, after Position, channels []string, limit int) ([]string, Position, Status) {
	r := h.NewReader()
	var texts []string
	for {
		got, next, st := r.Read(after, channels, limit)
		for _, e := range got {
			texts = append(texts, strings.TrimSuffix(strings.TrimPrefix(string(e.Frame.Message()), "data: "), "\n\n"))
			e.Frame.Release()
		}
		if st != More {
			return texts, next, st
		}
		after = next
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	for _, c := range []struct {
		o   Options
		err error
	}{
		{Options{Size: 0, MaxBytes: 1}, ErrBadSize},
		{Options{Size: 1, MaxBytes: 0}, ErrBadMaxBytes},
		{Options{Size: 1, MaxBytes: 1, TTL: -time.Second}, ErrBadTTL},
		{Options{Size: 1, MaxBytes: 1, Epoch: MaxEpoch}, ErrBadEpoch},
	} {
		if _, err := New(c.o); !errors.Is(err, c.err) {
			t.Errorf("New(%+v) = %v, want %v", c.o, err, c.err)
		}
	}
}

func TestEmptyHistory(t *testing.T) {
	h := newHistory(t, Options{Size: 10, MaxBytes: 1 << 20})
	head := h.Head()
	if head.Seq != 0 || head.Epoch != h.Epoch() {
		t.Fatalf("head of an empty history %v", head)
	}
	texts, next, st := replay(h, head, []string{"a", "b"}, 10)
	if st != Done || next != head || len(texts) != 0 {
		t.Fatalf("read of an empty history: %v %v %v", texts, next, st)
	}
	if _, _, st := h.NewReader().Read(Position{h.Epoch(), 1}, []string{"a"}, 10); st != Unknown {
		t.Fatalf("position 1 of an empty history: %v, want unknown", st)
	}
}

func TestPositionAtHeadAndFuture(t *testing.T) {
	h := newHistory(t, Options{Size: 10, MaxBytes: 1 << 20})
	for i := range 3 {
		add(h, "a", fmt.Sprint(i), 0)
	}
	head := h.Head()
	if head.Seq != 3 {
		t.Fatalf("head %v", head)
	}
	texts, next, st := replay(h, head, []string{"a"}, 10)
	if st != Done || next != head || len(texts) != 0 {
		t.Fatalf("read at the head: %v %v %v", texts, next, st)
	}
	future := Position{h.Epoch(), 4}
	if _, next, st := h.NewReader().Read(future, []string{"a"}, 10); st != Unknown || next != future {
		t.Fatalf("read from the future: %v %v", next, st)
	}
	texts, _, st = replay(h, Position{h.Epoch(), 1}, []string{"a"}, 10)
	if st != Done || !slices.Equal(texts, []string{"1", "2"}) {
		t.Fatalf("read after 1: %v %v", texts, st)
	}
}

// Two histories (a gateway and its restart) tell each other's positions
// apart, and the text form of one is refused by the other as unknown.
func TestEpochMismatch(t *testing.T) {
	old := newHistory(t, Options{Size: 10, MaxBytes: 1 << 20})
	p := add(old, "a", "before the restart", 0)
	h := newHistory(t, Options{Size: 10, MaxBytes: 1 << 20})
	if h.Epoch() == old.Epoch() {
		t.Fatal("two histories drew the same epoch")
	}
	add(h, "a", "x", 0)
	add(h, "a", "y", 0)
	parsed, err := ParsePosition(p.String())
	if err != nil || parsed != p {
		t.Fatalf("ParsePosition(%q) = %v, %v", p.String(), parsed, err)
	}
	if _, _, st := h.NewReader().Read(parsed, []string{"a"}, 10); st != Unknown {
		t.Fatalf("a position of another history: %v, want unknown", st)
	}
}

// A stream bound to 100 channels gets their messages merged in position
// order, in bounded steps, exactly the ones after its position.
func TestHundredChannelsMerge(t *testing.T) {
	h := newHistory(t, Options{Size: 30, MaxBytes: 1 << 30})
	var names []string
	for i := range 100 {
		names = append(names, fmt.Sprintf("ch-%d", i))
	}
	r := rand.New(rand.NewPCG(1, 2))
	type sent struct {
		seq  uint64
		ch   int
		text string
	}
	var log []sent
	for i := range 2500 {
		c := r.IntN(len(names))
		text := fmt.Sprint(i)
		log = append(log, sent{add(h, names[c], text, 0).Seq, c, text})
	}
	// Position: just after the oldest message still kept on every channel
	// (each channel keeps its last 30; the busiest dropped the most).
	var p uint64
	for c := range names {
		var seqs []uint64
		for _, s := range log {
			if s.ch == c {
				seqs = append(seqs, s.seq)
			}
		}
		if len(seqs) > 30 {
			p = max(p, seqs[len(seqs)-31])
		}
	}
	bound := names[:100]
	var want []string
	for _, s := range log {
		if s.seq > p {
			want = append(want, s.text)
		}
	}
	for _, limit := range []int{1, 7, 64, 5000} {
		got, next, st := replay(h, Position{h.Epoch(), p}, bound, limit)
		if st != Done || next != h.Head() || !slices.Equal(got, want) {
			t.Fatalf("limit %d: %d messages, %v, %v; want %d", limit, len(got), next, st, len(want))
		}
	}
	// One step further back: the busiest channel dropped that one.
	if _, _, st := replay(h, Position{h.Epoch(), p - 1}, bound, 64); st != Truncated {
		t.Fatalf("a position before a dropped message: %v, want truncated", st)
	}
	// A subset of the channels, repeated names, an unknown channel.
	sub := []string{names[3], names[50], names[3], "never-published"}
	want = want[:0]
	for _, s := range log {
		if s.seq > p && (s.ch == 3 || s.ch == 50) {
			want = append(want, s.text)
		}
	}
	if got, _, st := replay(h, Position{h.Epoch(), p}, sub, 5); st != Done || !slices.Equal(got, want) {
		t.Fatalf("subset: %v %v, want %v", got, st, want)
	}
}

// The per-channel bound drops a channel's oldest: a position before it is
// truncated for that channel only.
func TestSizeBound(t *testing.T) {
	h := newHistory(t, Options{Size: 3, MaxBytes: 1 << 20})
	p0 := h.Head()
	for i := range 5 {
		add(h, "busy", fmt.Sprint(i), 0)
	}
	add(h, "quiet", "q", 0)
	if _, _, st := replay(h, p0, []string{"busy"}, 10); st != Truncated {
		t.Fatalf("busy from the start: %v", st)
	}
	if got, _, st := replay(h, p0, []string{"quiet"}, 10); st != Done || !slices.Equal(got, []string{"q"}) {
		t.Fatalf("quiet from the start: %v %v", got, st)
	}
	if got, _, st := replay(h, Position{h.Epoch(), 2}, []string{"busy", "quiet"}, 2); st != Done || !slices.Equal(got, []string{"2", "3", "4", "q"}) {
		t.Fatalf("both from 2: %v %v", got, st)
	}
}

// Age: messages go after the TTL (rounded up to the second); an emptied
// channel is forgotten, and its floor still answers truncated, also after
// the channel comes back.
func TestAgeBoundFreesChannels(t *testing.T) {
	const s = int64(time.Second)
	h := newHistory(t, Options{Size: 100, MaxBytes: 1 << 20, TTL: 10 * time.Second})
	for i := range 5 {
		add(h, "old", fmt.Sprint(i), 0)
	}
	add(h, "young", "y", 5*s)
	h.Expire(10*s-1, 0)
	if st := h.Stats(); st.Messages != 6 {
		t.Fatalf("expired early: %+v", st)
	}
	h.Expire(10*s, 0)
	st := h.Stats()
	if st.Messages != 1 || st.Channels != 1 || st.Dropped[DropAge] != 5 {
		t.Fatalf("after the TTL: %+v", st)
	}
	if _, ok := h.chans["old"]; ok {
		t.Fatal("an empty channel is still in the map")
	}
	if _, _, st := replay(h, Position{h.Epoch(), 4}, []string{"old"}, 10); st != Truncated {
		t.Fatalf("freed channel from before its last drop: %v", st)
	}
	if got, _, st := replay(h, Position{h.Epoch(), 5}, []string{"old", "young"}, 10); st != Done || !slices.Equal(got, []string{"y"}) {
		t.Fatalf("from the freed channel's last drop: %v %v", got, st)
	}
	add(h, "old", "back", 11*s)
	if _, _, st := replay(h, Position{h.Epoch(), 4}, []string{"old"}, 10); st != Truncated {
		t.Fatalf("recreated channel forgot its floor: %v", st)
	}
	if got, _, st := replay(h, Position{h.Epoch(), 5}, []string{"old"}, 10); st != Done || !slices.Equal(got, []string{"back"}) {
		t.Fatalf("recreated channel: %v %v", got, st)
	}
}

// Bytes: the gateway's oldest go first, whatever the channel; a message
// larger than the whole bound is not kept at all.
func TestByteBound(t *testing.T) {
	// Frames made first: a pooled buffer's capacity (what a frame costs)
	// depends on what the pool holds.
	frames := make([]*frame.Frame, 4)
	costs := make([]int64, 4)
	for i := range frames {
		frames[i] = frame.NewRaw([]byte(fmt.Sprintf("data: %d\n\n", i)))
		costs[i] = int64(frames[i].Size()) + entryBytes
	}
	limit := 2*(channelBytes+1) + costs[1] + costs[2] + costs[3] + costs[0]/2
	h := newHistory(t, Options{Size: 100, MaxBytes: limit})
	for i, fr := range frames {
		a := h.Begin()
		a.Append([]string{"a", "b"}[i%2], fr, false, 0) // the fourth pushes out the first (a's oldest)
		a.End()
		fr.Release()
	}
	if got, _, st := replay(h, Position{h.Epoch(), 1}, []string{"a", "b"}, 10); st != Done || !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Fatalf("after the byte bound: %v %v", got, st)
	}
	if frames[0].Refs() != 0 {
		t.Fatal("the dropped frame is still referenced")
	}
	if _, _, st := replay(h, Position{h.Epoch(), 0}, []string{"a"}, 10); st != Truncated {
		t.Fatalf("a from 0: %v", st)
	}
	if got, _, st := replay(h, Position{h.Epoch(), 0}, []string{"b"}, 10); st != Done || len(got) != 2 {
		t.Fatalf("b from 0: %v %v", got, st)
	}
	big := frame.NewRaw(make([]byte, limit))
	a := h.Begin()
	p := a.Append("c", big, false, 0)
	a.End()
	big.Release()
	if big.Refs() != 0 {
		t.Fatal("an oversized message was kept")
	}
	if s := h.Stats(); s.Messages != 0 || s.Bytes != 0 || s.Channels != 0 {
		t.Fatalf("after an oversized message: %+v", s)
	}
	if _, _, st := replay(h, Position{h.Epoch(), p.Seq - 1}, []string{"c"}, 10); st != Truncated {
		t.Fatalf("before the oversized message: %v", st)
	}
	if _, _, st := replay(h, p, []string{"c"}, 10); st != Done {
		t.Fatalf("at the oversized message: %v", st)
	}
}

// A message dropped between two reads of one replay (before it was read)
// turns the next read into truncated.
func TestEvictedBetweenReads(t *testing.T) {
	h := newHistory(t, Options{Size: 4, MaxBytes: 1 << 20})
	for i := range 4 {
		add(h, "a", fmt.Sprint(i), 0)
	}
	r := h.NewReader()
	got, next, st := r.Read(Position{h.Epoch(), 0}, []string{"a"}, 2)
	if st != More || len(got) != 2 || next.Seq != 2 {
		t.Fatalf("first read: %d %v %v", len(got), next, st)
	}
	for _, e := range got {
		e.Frame.Release()
	}
	add(h, "a", "4", 0) // drops 1 (read)
	if got, next2, st := r.Read(next, []string{"a"}, 1); st != More || got[0].Seq != 3 {
		t.Fatalf("after a drop of what was read: %v %v", next2, st)
	} else {
		got[0].Frame.Release()
		next = next2
	}
	add(h, "a", "5", 0) // drops 2 (read)
	add(h, "a", "6", 0) // drops 3 (read)
	add(h, "a", "7", 0) // drops 4: not read yet
	if _, _, st := r.Read(next, []string{"a"}, 1); st != Truncated {
		t.Fatalf("after a drop of what was not read: %v", st)
	}
}

// A mass expiry is spread over bounded steps.
func TestExpireBounded(t *testing.T) {
	h := newHistory(t, Options{Size: 1000, MaxBytes: 1 << 30, TTL: time.Second})
	for i := range 1000 {
		add(h, fmt.Sprint("c", i%10), "x", 0)
	}
	later := int64(2 * time.Second)
	steps := 0
	for h.Expire(later, 100) {
		steps++
		if m := h.Stats().Messages; m != int64(1000-100*steps) {
			t.Fatalf("step %d left %d", steps, m)
		}
	}
	if steps != 9 || h.Stats().Messages != 0 {
		t.Fatalf("%d steps, %d left", steps, h.Stats().Messages)
	}
	// Append drops at most maxExpirePerAppend itself.
	for range 1000 {
		add(h, "c", "x", later)
	}
	add(h, "d", "x", later+int64(2*time.Second))
	if m := h.Stats().Messages; m != 1000-maxExpirePerAppend+1 {
		t.Fatalf("Append dropped %d, want %d", 1001-m, maxExpirePerAppend)
	}
}

// Append's close flag comes back with the entry.
func TestCloseFlag(t *testing.T) {
	h := newHistory(t, Options{Size: 10, MaxBytes: 1 << 20})
	fr := frame.NewRaw([]byte("data: bye\n\n"))
	a := h.Begin()
	a.Append("a", fr, true, 0)
	a.End()
	fr.Release()
	got, _, _ := h.NewReader().Read(Position{h.Epoch(), 0}, []string{"a"}, 10)
	if len(got) != 1 || !got[0].Close {
		t.Fatalf("close flag lost: %+v", got)
	}
	got[0].Frame.Release()
}

func TestAppendAndReadDoNotAllocate(t *testing.T) {
	h := newHistory(t, Options{Size: 100, MaxBytes: 1 << 30})
	frames := make([]*frame.Frame, 4)
	for i := range frames {
		frames[i] = frame.NewRaw([]byte("data: steady state\n\n"))
	}
	names := []string{"a", "b", "c"}
	for i := range 1000 {
		a := h.Begin()
		a.Append(names[i%3], frames[i%4], false, 0)
		a.End()
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		a := h.Begin()
		a.Append(names[i%3], frames[i%4], false, 0)
		a.End()
		i++
	})
	if allocs != 0 {
		t.Fatalf("Append: %v allocs", allocs)
	}
	r := h.NewReader()
	after := Position{h.Epoch(), h.Head().Seq - 200}
	allocs = testing.AllocsPerRun(1000, func() {
		got, _, _ := r.Read(after, names, 64)
		for _, e := range got {
			e.Frame.Release()
		}
	})
	if allocs != 0 {
		t.Fatalf("Read: %v allocs", allocs)
	}
}

// Appenders and readers at once (run with -race): every replay sees an
// increasing sequence ending at a head it was given, and when Done, it is
// exactly the messages of its channels after its start (nothing is dropped
// here: the bounds are out of reach).
func TestConcurrentAppendAndRead(t *testing.T) {
	h := newHistory(t, Options{Size: 1 << 20, MaxBytes: 1 << 40})
	names := []string{"a", "b", "c", "d"}
	var (
		wg   sync.WaitGroup
		awg  sync.WaitGroup
		stop atomic.Bool
		mu   sync.Mutex
		chOf = map[uint64]string{}
		seen atomic.Int64 // messages replayed while appends ran
	)
	const appenders, readers, per = 3, 3, 2000
	for g := range appenders {
		awg.Add(1)
		go func() {
			defer awg.Done()
			for i := range per {
				name := names[(g+i)%len(names)]
				fr := frame.NewRaw([]byte("data: x\n\n"))
				a := h.Begin()
				p := a.Append(name, fr, false, 0)
				mu.Lock() // under the order lock: a reader that sees p finds it here
				chOf[p.Seq] = name
				mu.Unlock()
				a.End()
				fr.Release()
			}
		}()
	}
	errs := make(chan error, readers)
	for g := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := h.NewReader()
			bound := names[g%len(names) : g%len(names)+2]
			for done := false; !done; {
				done = stop.Load() // one more replay after the appends stopped
				start := h.Head()
				start.Seq -= min(start.Seq, 500)
				after, last := start, start.Seq
				var got []uint64
				for {
					es, next, st := r.Read(after, bound, 16)
					for _, e := range es {
						if e.Seq <= last {
							errs <- fmt.Errorf("replay went from %d to %d", last, e.Seq)
							return
						}
						last = e.Seq
						got = append(got, e.Seq)
						e.Frame.Release()
					}
					if st == Done {
						after = next
						break
					}
					if st != More {
						errs <- fmt.Errorf("replay ended %v", st)
						return
					}
					after = next
				}
				h.order.Lock() // no append in flight: chOf holds everything up to the head
				mu.Lock()
				var want []uint64
				for s := start.Seq + 1; s <= after.Seq; s++ {
					if slices.Contains(bound, chOf[s]) {
						want = append(want, s)
					}
				}
				mu.Unlock()
				h.order.Unlock()
				if !slices.Equal(got, want) {
					errs <- fmt.Errorf("replay of %v from %d through %d: %d messages, want %d", bound, start.Seq, after.Seq, len(got), len(want))
					return
				}
				if !done {
					seen.Add(int64(len(got)))
				}
			}
		}()
	}
	awg.Wait()
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d messages replayed while appends ran", seen.Load())
}

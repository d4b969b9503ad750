package retryq

import (
	"math/rand/v2"
	"testing"
	"time"
)

const ms = int64(time.Millisecond)

func TestBackoffDoublesAndCaps(t *testing.T) {
	want := []time.Duration{500, 1000, 2000, 4000, 8000, 16000, 30000, 30000}
	for n, w := range want {
		if got := Backoff(DefaultBase, DefaultCap, n); got != w*time.Millisecond {
			t.Fatalf("Backoff(%d) = %v, want %v", n, got, w*time.Millisecond)
		}
	}
}

// TestAttemptsFollowTheBackoffUntilTheWindow: an item that keeps failing is
// attempted at jittered, doubling delays (each in [d/2, d]) and given up
// once its next attempt would start after the window.
func TestAttemptsFollowTheBackoffUntilTheWindow(t *testing.T) {
	q := New[string](Config{Window: 20 * time.Second, Seed: 7})
	now := int64(0)
	if o, _, _ := q.Add("a", now); o != Scheduled {
		t.Fatalf("Add: %v", o)
	}
	attempts := 1
	var buf []Entry[string]
	for {
		// Next may name an earlier wheel event (a cascade); step to the firing.
		start := now
		buf = buf[:0]
		for len(buf) == 0 {
			at, ok := q.Next()
			if !ok {
				t.Fatal("nothing scheduled")
			}
			now = at
			buf = q.Due(now, 10, buf)
		}
		d := time.Duration(now - start)
		want := Backoff(DefaultBase, DefaultCap, attempts-1)
		// The wheel fires on its 10 ms grid.
		if d < want/2-10*time.Millisecond || d > want+10*time.Millisecond {
			t.Fatalf("attempt %d after %v, want within [%v, %v]", attempts+1, d, want/2, want)
		}
		if len(buf) != 1 || buf[0].Item != "a" || buf[0].Attempt != attempts {
			t.Fatalf("Due: %+v", buf)
		}
		attempts++
		if o := q.Retry(buf[0].Handle, now); o == GaveUp {
			break
		}
	}
	if time.Duration(now) > 20*time.Second {
		t.Fatalf("last attempt at %v, after the window", time.Duration(now))
	}
	if attempts < 5 {
		t.Fatalf("given up after %d attempts in a 20 s window", attempts)
	}
	if q.Len() != 0 || q.Waiting() != 0 {
		t.Fatalf("kept %d waiting %d after giving up", q.Len(), q.Waiting())
	}
	if _, ok := q.Next(); ok {
		t.Fatal("a timer is left")
	}
}

func TestWindowShorterThanTheFirstDelayGivesUpAtOnce(t *testing.T) {
	q := New[int](Config{Window: 100 * time.Millisecond, Base: time.Second})
	if o, _, _ := q.Add(1, 0); o != GaveUp || q.Len() != 0 {
		t.Fatalf("Add: %v, kept %d", o, q.Len())
	}
}

// TestFullQueueDropsTheOldestWaiting: past Max, the waiting item with the
// earliest first failure goes (and is returned); items in flight are never
// dropped; if all are in flight the new one is refused.
func TestFullQueueDropsTheOldestWaiting(t *testing.T) {
	q := New[int](Config{Max: 3, Window: time.Minute})
	for i := 1; i <= 3; i++ {
		q.Add(i, int64(i)*ms)
	}
	o, old, dropped := q.Add(4, 4*ms)
	if o != Scheduled || !dropped || old != 1 || q.Len() != 3 {
		t.Fatalf("Add past Max: %v %v %v, kept %d", o, old, dropped, q.Len())
	}
	// Put 2 and 3 in flight: 4 is the only one that can go.
	got := q.Due(int64(10*time.Second), 10, nil)
	if len(got) != 3 {
		t.Fatalf("due: %+v", got)
	}
	for _, e := range got {
		if e.Item == 4 {
			q.Retry(e.Handle, int64(10*time.Second))
		}
	}
	if _, old, _ := q.Add(5, int64(10*time.Second)); old != 4 {
		t.Fatalf("dropped %v, want 4 (2 and 3 are in flight)", old)
	}
	// Now 2, 3 in flight and 5 waiting; drop 5, then refuse.
	if _, old, _ := q.Add(6, int64(10*time.Second)); old != 5 {
		t.Fatalf("dropped %v, want 5", old)
	}
	for _, e := range q.Due(int64(20*time.Second), 10, nil) {
		if e.Item != 6 {
			t.Fatalf("due %v", e.Item)
		}
	}
	if o, _, dropped := q.Add(7, int64(20*time.Second)); o != Refused || dropped {
		t.Fatalf("all in flight: %v %v", o, dropped)
	}
	for _, e := range got {
		if e.Item == 2 || e.Item == 3 {
			q.Done(e.Handle)
		}
	}
	if q.Len() != 1 {
		t.Fatalf("kept %d, want 1 (6 in flight)", q.Len())
	}
}

func TestStaleHandlePanics(t *testing.T) {
	q := New[int](Config{Window: time.Minute})
	q.Add(1, 0)
	e := q.Due(int64(time.Second), 1, nil)[0]
	q.Done(e.Handle)
	defer func() {
		if recover() == nil {
			t.Fatal("Done twice did not panic")
		}
	}()
	q.Done(e.Handle)
}

func TestDrainHandsOutWaitingOnly(t *testing.T) {
	q := New[int](Config{Window: time.Minute})
	q.Add(1, 0)
	q.Add(2, 0)
	inflight := q.Due(int64(time.Second), 1, nil)
	var left []int
	q.Drain(func(i int) { left = append(left, i) })
	if len(left) != 1 || left[0] == inflight[0].Item || q.Len() != 1 || q.Waiting() != 0 {
		t.Fatalf("drained %v, in flight %v, kept %d", left, inflight[0].Item, q.Len())
	}
	if _, ok := q.Next(); ok {
		t.Fatal("a timer is left after Drain")
	}
}

// TestRandomisedAccounting drives a queue with random failures and successes
// against a ledger: every item ends exactly once — delivered, given up,
// dropped or refused — nothing is handed out twice at once, attempts come in
// due order and never early, and the bound holds throughout.
func TestRandomisedAccounting(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		r := rand.New(rand.NewPCG(seed, 99))
		max := 1 + r.IntN(20)
		q := New[int](Config{Max: max, Window: time.Duration(1+r.IntN(30)) * time.Second, Base: 100 * time.Millisecond,
			Cap: 2 * time.Second, Seed: seed})
		ended := map[int]string{}
		inFlight := map[int]Handle{}
		end := func(i int, how string) {
			if prev, ok := ended[i]; ok {
				t.Fatalf("seed %d: item %d ended twice (%s, then %s)", seed, i, prev, how)
			}
			ended[i] = how
		}
		now, next := int64(0), 0
		for step := 0; step < 3000; step++ {
			now += int64(r.IntN(300)) * ms
			switch r.IntN(3) {
			case 0:
				o, old, dropped := q.Add(next, now)
				if dropped {
					end(old, "dropped")
				}
				switch o {
				case GaveUp:
					end(next, "gave up")
				case Refused:
					end(next, "refused")
				}
				next++
			default:
				for _, e := range q.Due(now, 1+r.IntN(5), nil) {
					if _, dup := inFlight[e.Item]; dup {
						t.Fatalf("seed %d: item %d handed out twice", seed, e.Item)
					}
					inFlight[e.Item] = e.Handle
				}
				for i, h := range inFlight {
					if r.IntN(4) == 0 {
						continue // still being attempted
					}
					delete(inFlight, i)
					if r.IntN(3) == 0 {
						q.Done(h)
						end(i, "delivered")
					} else if q.Retry(h, now) == GaveUp {
						end(i, "gave up")
					}
				}
			}
			if q.Len() > max {
				t.Fatalf("seed %d: kept %d > max %d", seed, q.Len(), max)
			}
			if q.Len() != len(inFlight)+q.Waiting() {
				t.Fatalf("seed %d: kept %d != in flight %d + waiting %d", seed, q.Len(), len(inFlight), q.Waiting())
			}
		}
		for i, h := range inFlight {
			q.Done(h)
			end(i, "delivered")
		}
		q.Drain(func(i int) { end(i, "drained") })
		if len(ended) != next || q.Len() != 0 {
			t.Fatalf("seed %d: %d of %d items ended, %d kept", seed, len(ended), next, q.Len())
		}
	}
}

// BenchmarkFailRetryDeliver is one item's life: first failure, one failed
// retry, delivered, with 10,000 others waiting.
func BenchmarkFailRetryDeliver(b *testing.B) {
	q := New[int](Config{Max: 1 << 20, Window: time.Hour, Cap: time.Second})
	now := int64(0)
	for i := 0; i < 10000; i++ {
		q.Add(i, now)
	}
	var buf []Entry[int]
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		now += 10 * ms
		q.Add(i, now)
		buf = q.Due(now, 4, buf[:0])
		for k, e := range buf {
			if k%2 == 0 {
				q.Retry(e.Handle, now)
			} else {
				q.Done(e.Handle)
			}
		}
	}
}

// Package retryq is a bounded schedule of retries: items whose delivery
// failed wait here, each until its next attempt, with capped, jittered
// exponential backoff, until a delivery window measured from the first
// failure runs out. The gateway uses it for disconnect callbacks that got no
// answer, a network error or a 5xx (CONTRACT.md section 5), so a backend
// outage does not lose them, without a goroutine or a timer per pending item.
//
// # Ownership
//
// A Queue is a plain data structure like package wheel (which it uses for the
// due times): no goroutines, no locks, no clock reads — every call takes
// `now`, int64 nanoseconds on the caller's monotonic clock. One goroutine owns
// a Queue (in the gateway: the callback client's retry scheduler).
//
// # Life of an item
//
// Add records an item's first failure and schedules its second attempt. Due
// hands out the items whose attempt has come; each must come back to the
// queue exactly once, with Retry (the attempt failed again) or Done (it
// succeeded, or the caller gave it up). Retry schedules the next attempt, or
// gives the item up when that attempt would start after the window; Add and
// Retry say which. An item handed out by Due is "in flight": it keeps its
// place but cannot be dropped.
//
// # Bound
//
// At most Config.Max items are kept, in flight or waiting. Adding past the
// bound drops the oldest waiting item (the earliest first failure: it is the
// closest to giving up anyway) and returns it, so the caller can count it; if
// every kept item is in flight the new one is refused the same way.
package retryq

import (
	"time"

	"ssegw/wheel"
)

// Config bounds a Queue. Zero fields take the defaults below.
type Config struct {
	// Max is how many items the queue keeps (waiting or in flight).
	Max int
	// Window is how long after its first failure an item may still be
	// attempted. Required (> 0).
	Window time.Duration
	// Base is the delay before the second attempt; it doubles per attempt.
	Base time.Duration
	// Cap bounds the delay between two attempts.
	Cap time.Duration
	// Start is the caller's clock at creation (as for wheel.Config.Start).
	Start int64
	// Seed seeds the jitter.
	Seed uint64
}

// Defaults of Config.
const (
	// DefaultBase: a backend that dropped one request (a restart under way)
	// is asked again half a second later.
	DefaultBase = 500 * time.Millisecond
	// DefaultCap: an outage of minutes is probed every 30 s at worst, so an
	// item is delivered within 30 s of the backend's return.
	DefaultCap = 30 * time.Second
	// DefaultMax: see Config.Max; the gateway sets its own bound.
	DefaultMax = 1 << 16
	// jitterShare: each delay is drawn uniformly from [d/2, d] ("equal
	// jitter"), so items that failed together spread out instead of
	// knocking on the backend together, and a delay is never under half.
	jitterShare = 2
)

// Outcome is what became of an item handed to Add or Retry.
type Outcome uint8

const (
	Scheduled Outcome = iota // waiting for its next attempt
	GaveUp                   // its next attempt would start after the window: forgotten
	Refused                  // the queue was full and every kept item in flight: not kept (Add only)
)

// Handle names a kept item; it stays valid from Add until Done or a drop.
type Handle struct {
	idx uint32
	gen uint32
}

// Entry is an item handed out by Due.
type Entry[T any] struct {
	Handle  Handle
	Item    T
	Attempt int // attempts made so far (the one due now is Attempt+1)
}

type slot[T any] struct {
	item     T
	first    int64 // time of the first failure
	attempts int
	gen      uint32
	timer    wheel.Timer // armed while waiting
	state    uint8
	order    uint32 // position in Queue.order (first-failure order)
}

const (
	free uint8 = iota
	waiting
	inFlight
)

// Queue is the retry schedule. The zero value is not usable; call New.
type Queue[T any] struct {
	cfg      Config
	wheel    *wheel.Wheel
	rng      wheel.Rand
	slots    []slot[T]
	freeList []uint32
	order    []uint32 // slot indices by first failure; done ones are removed lazily
	head     int      // order[:head] are gone
	kept     int
	waiting  int
	fired    []uint32 // scratch for Due
}

// New makes an empty Queue.
func New[T any](c Config) *Queue[T] {
	if c.Max <= 0 {
		c.Max = DefaultMax
	}
	if c.Base <= 0 {
		c.Base = DefaultBase
	}
	if c.Cap <= 0 {
		c.Cap = DefaultCap
	}
	return &Queue[T]{cfg: c, wheel: wheel.New(wheel.Config{Start: c.Start, Capacity: 64}), rng: wheel.NewRand(c.Seed | 1)}
}

// Len is the number of kept items (waiting or in flight).
func (q *Queue[T]) Len() int { return q.kept }

// Waiting is the number of items waiting for their next attempt.
func (q *Queue[T]) Waiting() int { return q.waiting }

// Add records the first failure of item at now. If the queue was full, the
// oldest waiting item is dropped to make room and returned (dropped true).
func (q *Queue[T]) Add(item T, now int64) (o Outcome, old T, dropped bool) {
	if q.kept >= q.cfg.Max {
		if old, dropped = q.dropOldest(); !dropped {
			return Refused, old, false
		}
	}
	d := q.next(0)
	if d > q.cfg.Window {
		return GaveUp, old, dropped
	}
	i := q.alloc()
	s := &q.slots[i]
	s.item, s.first, s.attempts = item, now, 1
	s.order = uint32(len(q.order))
	q.order = append(q.order, i)
	q.kept++
	q.arm(i, now, d)
	return Scheduled, old, dropped
}

// Retry records that the attempt handed out for h failed at now, and
// schedules the next one or gives the item up.
func (q *Queue[T]) Retry(h Handle, now int64) Outcome {
	s := q.get(h, inFlight)
	s.attempts++
	d := q.next(s.attempts - 1)
	if now+int64(d) > s.first+int64(q.cfg.Window) {
		q.release(h.idx)
		return GaveUp
	}
	q.arm(h.idx, now, d)
	return Scheduled
}

// Done forgets an item handed out by Due (delivered, or given up by the caller).
func (q *Queue[T]) Done(h Handle) {
	q.get(h, inFlight)
	q.release(h.idx)
}

// Due hands out, in due order, up to max items whose attempt is due at now,
// appended to dst. They are in flight until Retry or Done.
func (q *Queue[T]) Due(now int64, max int, dst []Entry[T]) []Entry[T] {
	q.fired = q.fired[:0]
	q.wheel.Advance(now, max, func(_ wheel.Timer, p uint64, _ int64) { q.fired = append(q.fired, uint32(p)) })
	for _, i := range q.fired {
		s := &q.slots[i]
		s.timer, s.state = wheel.Timer{}, inFlight
		q.waiting--
		dst = append(dst, Entry[T]{Handle: Handle{i, s.gen}, Item: s.item, Attempt: s.attempts})
	}
	return dst
}

// Next is when the earliest waiting item is due (ok false: none waits).
func (q *Queue[T]) Next() (at int64, ok bool) { return q.wheel.NextExpiry() }

// Drain removes every waiting item and hands each to fn (shutdown: what is
// left is given up). Items in flight stay until Retry or Done.
func (q *Queue[T]) Drain(fn func(T)) {
	q.fired = append(q.fired[:0], q.order[q.head:]...) // release compacts order
	for _, i := range q.fired {
		if i == ^uint32(0) {
			continue
		}
		if s := &q.slots[i]; s.state == waiting {
			q.wheel.Cancel(s.timer)
			item := s.item
			q.release(i)
			fn(item)
		}
	}
}

// Backoff is the delay before the next attempt after n+1 failures (n from
// 0): Base·2^n, capped at Cap, before jitter.
func Backoff(base, cap time.Duration, n int) time.Duration {
	d := base
	for ; n > 0 && d < cap; n-- {
		d *= 2
	}
	return min(d, cap)
}

// next draws the jittered delay after n+1 failures: uniform in [d/2, d].
func (q *Queue[T]) next(n int) time.Duration {
	d := Backoff(q.cfg.Base, q.cfg.Cap, n)
	return d - time.Duration(q.rng.Below(uint64(d/jitterShare)+1))
}

func (q *Queue[T]) arm(i uint32, now int64, d time.Duration) {
	s := &q.slots[i]
	s.timer = q.wheel.Add(now, d, uint64(i))
	s.state = waiting
	q.waiting++
}

func (q *Queue[T]) get(h Handle, want uint8) *slot[T] {
	if int(h.idx) >= len(q.slots) || q.slots[h.idx].gen != h.gen || q.slots[h.idx].state != want {
		panic("retryq: stale or foreign handle")
	}
	return &q.slots[h.idx]
}

func (q *Queue[T]) alloc() uint32 {
	if n := len(q.freeList); n > 0 {
		i := q.freeList[n-1]
		q.freeList = q.freeList[:n-1]
		return i
	}
	q.slots = append(q.slots, slot[T]{gen: 1})
	return uint32(len(q.slots) - 1)
}

// release frees a slot; its place in order is cleared lazily.
func (q *Queue[T]) release(i uint32) {
	s := &q.slots[i]
	if s.state == waiting {
		q.waiting--
	}
	var zero T
	s.item, s.state, s.timer = zero, free, wheel.Timer{}
	s.gen++
	q.order[s.order] = ^uint32(0)
	q.freeList = append(q.freeList, i)
	q.kept--
	q.trimOrder()
}

// trimOrder drops gone entries at the head of order and compacts it when
// most of it is gone, so it stays within twice the kept items.
func (q *Queue[T]) trimOrder() {
	for q.head < len(q.order) && q.order[q.head] == ^uint32(0) {
		q.head++
	}
	if q.head < len(q.order)/2 {
		return
	}
	j := 0
	for _, i := range q.order[q.head:] {
		if i != ^uint32(0) {
			q.slots[i].order = uint32(j)
			q.order[j] = i
			j++
		}
	}
	q.order, q.head = q.order[:j], 0
}

// dropOldest removes the waiting item with the earliest first failure.
func (q *Queue[T]) dropOldest() (T, bool) {
	for _, i := range q.order[q.head:] {
		if i == ^uint32(0) {
			continue
		}
		if s := &q.slots[i]; s.state == waiting {
			q.wheel.Cancel(s.timer)
			item := s.item
			q.release(i)
			return item, true
		}
	}
	var zero T
	return zero, false
}

// Package wheel is the gateway's timing wheel: one instance per event loop holds
// every connection timer of that loop (request-head deadline, heartbeat,
// write-progress deadline).
//
// # Ownership
//
// A Wheel is a plain data structure. It starts no goroutines, takes no locks and
// never reads a clock: every call that needs the time takes `now`, int64
// nanoseconds on the caller's monotonic clock (the gateway passes
// time.Since(epoch)). An instance belongs to one goroutine — the event loop that
// owns the connections — and must not be shared without external locking.
//
// # Tick, levels, range
//
// Time is counted in ticks of Config.Tick since Config.Start. DefaultTick is
// 10 ms: heartbeats (>= 1 s, 15 s by default) and deadlines (10 s head timeout)
// need tens of milliseconds of precision, not microseconds, and whole-second or
// whole-10ms intervals are exact multiples of it, so a periodic timer re-armed at
// due+interval always lands on a tick boundary.
//
// The wheel has 4 levels of 64 slots (one uint64 occupancy bitmap per level,
// bits.TrailingZeros finds the next busy slot). Level L has a slot width of
// 64^L ticks: with 10 ms ticks 10 ms, 640 ms, 40.96 s and 43.7 min, so the
// levels span 64^4 ticks = 46.6 hours. A timer is filed by the highest bit in
// which its due tick differs from the current tick (as in Linux and tokio), so
// slots never wrap and the next event is the lowest busy slot of the lowest busy
// level. Timers due beyond the current 64^4-tick span (a 48-hour or 30-day
// timer) wait on an overflow list, which is re-filed into the levels when the
// wheel reaches the span holding the earliest of them: a far timer costs one
// list move per re-filing and never fires early.
//
// # When a timer fires
//
// Let tick(x) = ceil((x-Start)/Tick), capped at the tick holding MaxInt64, and
// let cur be the largest floor((now-Start)/Tick) that Advance has seen. A timer
// armed with due time `due` at time `now` gets the effective tick
//
//	e = cur            if due <= now or tick(due) <= cur (already due)
//	e = tick(due)      otherwise
//
// and fires in the first Advance whose floor((now-Start)/Tick) >= e, subject to
// that call's max (what max defers fires first in the next call). Higher levels
// cascade down lazily, one slot at a time, so every timer reaches level 0 and
// fires at its own tick: no timer fires before its due time, and a timer fires
// less than one base tick after it plus however long the caller waits between
// Advance calls. Timers armed from inside an Advance callback that are already
// due fire on the next Advance, never in the current one, so a callback that
// re-arms with delay 0 cannot spin a loop. The model test in this package
// implements exactly these rules.
//
// Order is stable: due timers fire in increasing e, and timers with the same e
// fire in the order they were armed (Add, AddAt, or Reset — a Reset counts as a
// new arming). Timers left over by a bounded Advance fire first in the next
// call, still in that order.
//
// Time going backwards is tolerated: an Advance with a smaller now than before
// moves nothing (it only fires what is already due), and Add computes the due
// time from the now it is given.
//
// # Work per call
//
// Add, AddAt, Reset and Cancel are O(1). Advance calls fn at most max times
// (max <= 0: no bound) and reports whether more is due, so a mass expiry is
// spread over several loop iterations. Its bookkeeping is proportional to the
// busy slots it crosses plus the timers it cascades; each timer cascades at most
// three times in its life (far timers also once per re-filing of the overflow
// list, which happens at most once per 46.6 h of wheel time), so that cost is
// amortised O(1) per timer. A time jump of hours costs no more than that: empty
// slots are skipped through the bitmaps, never stepped through. NextExpiry tells the caller how long it may
// sleep (exact when the next busy slot is on level 0, a lower bound otherwise).
//
// # Memory
//
// Timers live in a slab of 32-byte nodes linked by uint32 indices into doubly
// linked slot lists, with a free list; the slab grows by doubling only when it
// is full, so arming and re-arming allocate nothing once it is large enough. A
// wheel adds a fixed 8 KB for its 259 list sentinels, kept in the same slab. At
// 1M timers the benchmarks measure 32 B of heap per live timer (runtime
// timers: 112 B; container/heap with pointer items: 32-40 B, and both several
// times slower per operation). A Timer handle is 8 bytes (slab index and
// generation) embedded in the caller's record; a stale handle (fired,
// cancelled, node reused) is detected by the generation, so Cancel and Reset
// are always safe to call.
//
// # Spreading
//
// Rand is an allocation-free splitmix64 generator; Rand.Jitter adds a uniform
// random offset so that, for example, 100k heartbeats armed in the same second
// are spread over the whole interval instead of firing in one tick. Re-arming
// each heartbeat at due+interval from its callback then keeps both the cadence
// and the spread.
package wheel

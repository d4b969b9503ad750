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
// Order is stable: the timers that become due in one Advance fire in
// increasing e, then increasing due time (earliest deadline first inside a
// tick), then increasing slab index (Timer identity: the same node keeps its
// index across Resets), so the order depends only on the calls made, never on
// the level a timer was filed on or how it got to level 0. Timers left over by
// a bounded Advance fire first in the next call, still in that order, before
// anything that became due since (nothing can starve them). A Reset is a new
// arming: the timer leaves the batch being fired and fires again only at its
// new e.
//
// Time going backwards is tolerated: an Advance with a smaller now than before
// moves nothing (it only fires what is already due), and Add computes the due
// time from the now it is given.
//
// # Work per call
//
// Add, AddAt, Reset and Cancel are O(1) amortised and unlink nothing. Cancel
// touches only the timer's node. Reset to a later time — the common case: a
// heartbeat or write deadline pushed on — touches only the node: its entry
// stays on the list it is on, which is walked no later than the new due tick,
// and is re-filed when walked. Reset to an earlier tick (or to a due time <=
// now) also appends an entry at the tail of a list (see Memory). Advance calls fn
// at most max times (max <= 0: no bound) and reports whether more is due, so a
// mass expiry is spread over several loop iterations. Its bookkeeping is
// proportional to the busy slots it crosses plus the entries it moves; each
// timer cascades at most three times in its life (far timers also once per
// re-filing of the overflow list, which happens at most once per 46.6 h of
// wheel time), so that cost is amortised O(1) per timer. A time jump of hours
// costs no more than that: empty slots are skipped through the bitmaps, never
// stepped through. Each Advance sorts the timers that became due in it (a
// check that they are already in order first, which is the common case), so
// it costs O(k log k) for k timers due at once. NextExpiry tells the caller how
// long it may sleep: it is never later than the next time Advance would fire
// something, but it may be earlier — it is the start of the next busy
// higher-level slot (or of the next span for overflow timers), and a slot may
// hold only stale entries or timers re-armed later (see Memory). Waking then
// and calling Advance drops, re-files or cascades that slot, after which
// NextExpiry is more precise; it is exact when something is already due (it
// then returns a value <= the last now passed to Advance).
//
// # Memory
//
// Timers live in a slab of 24-byte nodes (generation, where its entry waits —
// for a level slot, the first due time that slot is walked before, in buckets
// of at most a tick — due time, payload) with a free list. Each
// timer is filed as an 8-byte entry (node index and generation) in a slot
// list; the lists are chains of 64-entry chunks (8-byte header) in one arena
// with a free chunk list. Slab and arena grow by doubling only when full, so
// arming and re-arming allocate nothing once they are large enough;
// Config.Capacity sizes both. At 1M timers the benchmarks measure 32.3 B of
// heap per live timer (runtime timers: 112 B; container/heap with pointer
// items: 32-40 B, and both several times slower per operation); a wheel's
// fixed part is about 6 KB, plus the batch of the largest Advance seen (24 B
// per timer due in it, kept for reuse).
//
// Cancel and Reset are lazy. Cancel frees the node at once (the next Add
// reuses it), a Reset to a later time changes only the node, and a Reset to an
// earlier tick gives the node a new generation and files a new entry (the
// handle changes: Reset returns the one to keep). An entry counts only while
// its node has the entry's generation; the others are stale and are dropped,
// never fired, when their list is walked: when Advance moves a slot to the
// expired list or cascades it (so a stale entry lives at most until the start
// of the slot it was filed in, at or before its old due tick; on the overflow
// list until the next re-filing), when Advance or NextExpiry walks the expired
// list, or by compaction. Compaction drops every stale entry of every list,
// keeping the order of the rest, in one pass that looks at each entry's node
// once (the looks are independent, so they overlap); it runs when the arena is
// full and at least a quarter of it is stale, and otherwise the arena doubles.
// So the arena holds at most 8/3 entries per armed timer at its peak (plus a
// few partly used chunks per list) — about 21 B per timer on top of the node,
// 8 B when nothing is cancelled or reset earlier — and a compaction costs at
// most four entry looks per stale entry it drops, amortised O(1) per Cancel or
// Reset; but one compaction is a single pause proportional to the entries held
// (tens of milliseconds at a million timers with as many stale entries). A
// gateway that advances its wheel every tick rarely compacts: its slots come
// up and drop their stale entries first. A node's generation is 32 bits;
// before it wraps the wheel compacts, so an old entry can never match it
// again.
//
// A Timer handle is 8 bytes (slab index and generation) embedded in the
// caller's record; a stale handle (fired, cancelled, re-filed by a Reset,
// node reused) is detected by the generation, so Cancel and Reset are always
// safe to call.
//
// # Spreading
//
// Rand is an allocation-free splitmix64 generator; Rand.Jitter adds a uniform
// random offset so that, for example, 100k heartbeats armed in the same second
// are spread over the whole interval instead of firing in one tick. Re-arming
// each heartbeat at due+interval from its callback then keeps both the cadence
// and the spread.
package wheel

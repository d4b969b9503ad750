// Package history is a gateway's in-memory channel history (CONTRACT.md
// section 9, DESIGN.md section 7): the already-encoded frames of recent
// publishes, per channel, in one position space per gateway, so that a
// stream that reconnects with a position gets exactly what it missed, or is
// told that this cannot be proven.
//
// # What runs where
//
// One *History per gateway, shared by every event loop and every control
// handler. It starts no goroutines, sets no timers and reads no clock: calls
// that need the time take `now`, int64 nanoseconds on the caller's monotonic
// clock (the gateway's time.Since(start), as for package wheel).
//
//   - Appends come from control goroutines, between Begin and End (below).
//     Begin's lock is held only by appenders, so positions are given in the
//     order the frames reach every loop's inbox (what the live-vs-replay rule
//     below needs); a batch appends and posts all its publishes under one
//     Begin. Readers never wait for it: each Append takes the data lock for
//     its own O(log C) work only. Never Begin on a loop, and never wait for a
//     loop before End.
//
//   - Reads come from event loops, each with its own Reader (NewReader), any
//     number at once (a read lock): Reader.Read returns up to `limit` entries
//     of a set of channels after a position, merged in position order, each
//     with a reference to its frame that the loop releases after writing it.
//
//   - Expire(now, limit) drops what grew older than the TTL when nothing is
//     appended; call it now and then (every second) from any goroutine that
//     is not a loop waiting on it (a ticker). Append also drops up to
//     maxExpirePerAppend expired messages.
//
//   - Head (GET /internal/position), Epoch and Stats (metrics) are lock-free.
//
// A publish with history on:
//
//	a := h.Begin()                             // the order lock: appenders only
//	ev.ID, ev.HasID = a.Next().String(), true  // the position Append will give
//	fr := frame.NewCompact(&ev, format)        // kept for minutes: compact
//	pos := a.Append(channel, fr, close, now)   // history takes its own reference
//	// ... post fr with pos to the loops' inboxes (their references) ...
//	a.End()
//	fr.Release()                               // the caller's reference
//
// # Positions
//
// A Position is (epoch, seq): seq counts the gateway's appends from 1; the
// epoch is drawn at random when the History is made (NewEpoch), so a
// restarted gateway reads its predecessor's positions as another history.
// The text form (the SSE `id:`) is 20 bytes, "EEEEEEEE-SSSSSSSSSSS", base 62
// with fixed width, so ids of one history compare as strings like their
// positions; ParsePosition refuses anything else with ErrMalformedPosition.
// Package jetstore uses the same type with the JetStream stream's sequence
// and identity.
//
// A frame carries no position: the history entry and the loop's op keep it
// beside the frame. Frames are also sends, heartbeats and forwarded cluster
// messages that have no position; in cluster mode the position arrives in
// a header, apart from the payload; and the merge and binary search compare
// positions in the entries' own contiguous array instead of chasing a
// pointer per comparison. The position is still in the frame's bytes as its
// `id:` line, encoded once by the appender (Next before Append).
//
// # What is kept, what is dropped
//
// Per channel, its last Options.Size messages; over the gateway, messages
// younger than Options.TTL (entry times are whole seconds rounded up, so a
// message lives at least TTL and less than TTL plus a second plus the time
// to the next Append or Expire); and at most Options.MaxBytes, charged as
// each frame's Size (its buffer's capacity and headers: use compact frames)
// plus entryBytes per message plus channelBytes and the name per channel,
// the oldest message of the gateway going first whatever its channel. A
// message larger than MaxBytes on its own is dropped at once (its position
// is still given, and readers before it get Truncated).
//
// Structure: each channel keeps its entries (24 bytes each: position,
// frame, time, close flag) in a ring, oldest first; the channels with
// history form a min-heap by their oldest position (heap.go: lazy keys, so
// the size bound, which drops a channel's oldest on every append to a full
// channel, never touches the heap). A channel whose last message is dropped
// is freed: nothing is kept per channel forever.
//
// # Proving completeness
//
// Every drop raises the channel's floor, the highest position it ever
// dropped. A Read from position p is complete for a channel if its floor is
// <= p: everything it had after p is still kept. A freed channel's floor is
// folded into one of floorBuckets gateway-wide floors, chosen by a hash of
// its name, and a channel that has no history (never had, or was freed)
// answers with its bucket's floor; a channel that comes back starts from it.
// Floors only grow, so this never claims completeness wrongly; the price is
// that a silent channel answers Truncated for a position older than the
// drops of the emptied channels sharing its bucket — in practice a position
// older than the TTL or than the byte bound's reach. 4096 buckets cost 32
// KiB and make that rare for positions younger than those.
//
// Read answers Unknown for a position of another epoch or above the head
// (no such message was ever given), Truncated if a bound channel's floor is
// above the position (nothing is returned), else the entries and More or
// Done. A replay calls Read again from the position it returned; each call
// proves completeness again from there, so a message dropped between two
// calls before it was read makes the next call Truncated: a gap is never
// silent. Truncated mid-replay means the stream already got part of it.
//
// # Rules the event loops rely on
//
//  1. Every publish with an event is appended before its frame is posted to
//     any loop, and positions increase in posting order (Begin..End).
//  2. So while a stream replays, every live frame of its channels that
//     reaches its loop is in the history (or was dropped, which a later Read
//     reports as Truncated): the loop may skip live frames of a replaying
//     stream and let the replay deliver them.
//  3. Read's Done returns the head at the read, H: live frames at or below H
//     were either returned by the replay or are not on the stream's
//     channels; those above H were appended after the read and arrive live,
//     in order. The stream then skips live frames <= H and takes the rest.
//
// # Cost per call
//
// Append: O(log C) amortised for C channels with history, 0 allocations
// unless the channel is new or its ring grows; drops for the byte bound are
// not bounded per call (the memory bound is hard) but each message is
// dropped once. Read: O(k) map lookups and binary searches for k bound
// channels plus O(m log k) for m entries, under the read lock, 0
// allocations once the Reader has grown. Figures: BENCHMARKS.md, "History".
package history

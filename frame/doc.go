// Package frame holds the gateway's shared encoded SSE message: one Frame is
// encoded once, off the event loops, into a pooled buffer, and then written by
// every loop to every stream it reaches (a publish's fan-out, a unicast send,
// a replay from history). It is a leaf package (it imports only sse and the
// buffer pool) so that every holder of frames can share it without importing
// the event loops: loop writes frames, control and cluster create them, and
// history keeps them.
//
// # Layout
//
// A Frame's buffer holds the message already wrapped as one HTTP/1.1 chunk,
// "<hex length>\r\n<message>\r\n". The encoder writes the message after a
// reserved gap of chunkPrefixMax bytes and then fills in the hex length right
// in front of it, so the chunk is built in one pass with no copy. HTTP/1.0
// streams (close-delimited bodies, no chunking) get the bare message, a
// sub-slice of the same bytes (Bytes(false)).
//
// New and NewRaw leave the chunk in a pooled buffer: right for the frames
// of a fan-out or a send, which live for the microseconds of their writes.
// NewCompact and NewCompactRaw are for frames that live for minutes (kept
// in history): they copy the chunk into a buffer of its own size (one more
// allocation and a copy of the message), so a kept message holds its own
// bytes, not a pooled buffer sized for the pool's typical message. Size
// reports what a frame holds either way.
//
// # Ownership and goroutines
//
// A Frame is immutable once New or NewRaw returns, so any number of
// goroutines may read its bytes at once. Its lifetime is a reference count:
// the creator holds one reference; whoever hands the frame to n more holders
// (n event loops, a history entry) calls Retain(n) before handing it over;
// every holder calls Release exactly once when it no longer reads the bytes.
// The last Release returns the buffer to the pool, after which the bytes must
// not be read (gnet's Write copies what it cannot send at once, so a loop may
// release right after its last Write). Retain and Release are atomic and safe
// from any goroutine. A frame carries no position or other history state: a
// history entry and a loop op keep the position beside the frame (see package
// history).
package frame

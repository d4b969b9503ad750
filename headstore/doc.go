// Package headstore keeps the request heads of an event loop's streams in a
// compact form between their connect and their disconnect callback.
//
// The disconnect callback carries the stream's request as the connect did
// (CONTRACT.md section 5), so the gateway must keep each head for the
// stream's whole life. Real browsers send 600-1,500 bytes, and a plain copy
// per stream was more than the rest of the stream's memory together; but
// most of those bytes are the same in every stream (user agent, client
// hints, sec-fetch-*, accept-*, host, the page), and only a few are the
// user's own (session cookies, ids in the URL).
//
// # What is kept
//
// A Store is a table of the pieces its streams share, each stored once with
// a reference count, and each stream keeps a short form: references to
// pieces, and literals for the rest (encoder.go has the format and where a
// head is cut into pieces: lines, then names, cookie pairs, URL parts). A
// piece enters the table the second time it is seen (a small filter of
// hashes remembers the first), so values that never repeat never cost a
// table entry; a run of shared pieces is shared again as one block; and
// literals made of id-like characters are packed 6 or 4 bits a byte
// (pack.go). A piece whose last reference goes is dropped at once: the
// table holds only what live streams use, and is empty when they are gone.
// Restoring appends the pieces in order and gives back the exact bytes, so
// the disconnect payload is byte for byte what it was with a plain copy.
//
// With Mode URL a stream keeps its request-target only, with None nothing
// (DISCONNECT_REQUEST=url and none; the disconnect then carries
// {"url":<target>,"headers":{}} or {"url":"","headers":{}}).
//
// Measured (BENCHMARKS.md, "Request heads"): the head Chromium's
// EventSource sends with a 197-byte first-party cookie (783 bytes as the bench
// replays it) is kept
// in 128 (its per-user cookie values and room id are most of that); the
// bench's 1 KB browser-like head, the same for every stream, in 2. Keep
// takes 1.7-1.9 µs for the Chromium head (0.1-0.25 µs for the others) and
// Take about 1 µs, one allocation each (the kept form, the restored head).
//
// # Why this form
//
// The alternative was dictionary compression with a well-kept library:
// klauspost/compress's zstd at its fastest level, with a dictionary as good
// as it gets (a head of the very same browser). It keeps the Chromium head
// in about the same bytes (134), but costs 12-13 µs and 3 allocations to
// compress and 3.5-3.8 µs to decompress, against 1.7-1.9 µs and 1 µs here
// (store_timing_test.go measures both in one run); it needs a dictionary
// made in advance for the browsers a deployment sees, where the table
// learns them from the traffic; and a dictionary cannot drop the bytes no
// stream uses any more.
//
// # When, and on which goroutine
//
// A Store belongs to one event loop: every call runs on that loop's
// goroutine, so there are no locks (and no goroutines, no clock). The loop
// keeps the plain copy while the connect callback is pending, because a
// callback worker encodes the connect from it and a stream's first callback
// must not wait for anything; when the connect comes back accepted (on the
// loop, and the worker is done with the copy), the loop calls Keep and drops
// the plain copy; when the stream ends, it calls Take while it makes the
// disconnect job, and the worker gets a plain head again. A stream that
// never got to Keep (its client left while the connect was pending) hands
// its plain head to Take, which serves both. The listing of live streams
// (GET /internal/streams) reads each url with Target, from any form (with
// None there is none: the listing shows "").
//
// Limits (limits.go): the table's pieces and bytes are bounded, past the
// bounds a piece simply stays in the stream's own form; pieces shorter than
// a few bytes are never shared.
package headstore

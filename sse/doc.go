// Package sse encodes Server-Sent Events frames: the bytes of one SSE message as
// CONTRACT.md section 7 defines them, in the standard field format or in the
// envelope format that is byte-compatible with the Node.js SSEGateway.
//
// Everything here is a pure function over caller-owned byte slices (append
// style), so the control port can encode a frame once, into a pooled buffer, on
// its own goroutine, and every event loop can then write the same bytes to all of
// its subscribers. Nothing here holds state or starts goroutines.
//
// Deliberate differences from the Node.js gateway (all only visible to a backend
// that sent something the Node gateway mishandled):
//   - data is split on CRLF, lone CR and LF (Node split on LF only, so a lone CR
//     injected a bogus field);
//   - in envelope mode a named event whose data holds line breaks continues on
//     further `data:` lines instead of breaking the framing;
//   - the names `ready` and `rejected` are ordinary names when a backend sends them
//     (Node turned them into control events and dropped or rejected the data).
package sse

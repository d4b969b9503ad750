// Package httpparse is a resumable, zero-allocation parser for HTTP/1.1
// request heads (request line and header lines), written for an event loop
// that receives bytes in arbitrary pieces.
//
// # Use
//
// Parse is called with every byte received since the request began; it
// resumes where the previous call stopped and never re-scans what an earlier
// call accepted, so feeding a head one byte at a time costs the same work as
// feeding it whole.
//
// Results are offsets (Span) into the caller's buffer; nothing is copied and
// the success path allocates nothing, so the buffer must stay unchanged for
// as long as the spans are used. Parse returns HeadLen once the head is
// complete; a pipelined request starts at buf[HeadLen:] and needs Reset
// first. The parser reports framing (Request.ContentLength, Request.Chunked)
// but never reads a body; body policy ("any body on GET => 400") belongs to
// the gateway, as does the choice of allowed methods: any token is a method.
//
// # Ownership
//
// A Parser belongs to one goroutine (the connection's event loop). It holds room for DefaultMaxHeaders
// headers, about 1.7 KiB, so the gateway keeps one per connection only while a
// head is in flight, taken from a pool, and when it needs the headers later it
// parses the stored complete head again: parsing a complete head in one call
// is also allocation-free and takes well under a microsecond.
//
// # Limits
//
// Limits bounds the head (DefaultMaxHeadBytes, 431), the number of header
// lines (DefaultMaxHeaders, 431) and the request-target
// (DefaultMaxTargetBytes, 414); zero fields mean these defaults.
//
// # Errors
//
// Every rejection is one of the Err values, each tied to one status that
// Status returns: 400, 414, 431 or 505. The parser refuses what RFC 9112 lets
// a server refuse and what request smuggling needs: bare CR; control bytes
// (0x00-0x1F except HTAB, 0x7F) anywhere; whitespace before a colon; obs-fold;
// non-token names; raw non-ASCII, '#' or bad percent-escapes in the target;
// Content-Length with Transfer-Encoding; differing or malformed
// Content-Length; Transfer-Encoding other than one "chunked", or on HTTP/1.0;
// an HTTP/1.1 request with no Host, two Host lines or an invalid Host.
//
// It accepts what a server should accept: one empty line (CRLF or LF) before
// the request line, counted in HeadLen; OWS around values (trimmed);
// header names in any case; bytes 0x80-0xFF in values.
//
// Line endings: a lone LF ends any line exactly like CRLF (RFC 9112 §2.2 MAY;
// net/textproto does the same, and browsers never send it). A CR must be
// followed by LF.
//
// # Differences from net/http.ReadRequest
//
// Whatever this package accepts, net/http accepts with the same method,
// RequestURI and header values (FuzzDifferential checks it). It is stricter
// on purpose:
//   - request line: exactly one SP between parts; version exactly HTTP/1.0 or
//     HTTP/1.1 (other HTTP/x.y => 505);
//   - target: '#' and bad percent-escapes are refused anywhere before '?';
//     "*" only with OPTIONS; authority-form only with CONNECT and with a
//     port; absolute-form hosts are reg-names (no userinfo, no IP-literal);
//   - headers: obs-fold is refused (net/textproto unfolds it); at most
//     MaxHeaders lines and MaxHeadBytes bytes (net/http: 1 MiB, no count);
//   - Host: required on HTTP/1.1, validated, never duplicated (net/http
//     checks this in its Server, not in ReadRequest);
//   - framing: an empty Content-Length is refused (net/http ignores it);
//     Transfer-Encoding on HTTP/1.0 is refused (net/http ignores it); and
//     Content-Length with Transfer-Encoding is refused.
//
// It is also more lenient in one way: one empty line before the request line
// is skipped (net/http's Server skips up to four CR/LF bytes, and only after
// a POST; ReadRequest skips none).
package httpparse

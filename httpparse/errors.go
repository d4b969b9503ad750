package httpparse

import "errors"

// HTTP status codes, spelled out here so the package needs no net/http.
const (
	statusBadRequest           = 400
	statusURITooLong           = 414
	statusHeaderFieldsTooLarge = 431
	statusInternalServerError  = 500
	statusVersionNotSupported  = 505
)

// Error is the type of every error Parse returns. Each value carries the HTTP
// status the gateway answers with before closing the connection.
type Error struct {
	msg    string
	status int
}

func (e *Error) Error() string { return e.msg }

// Status is the HTTP status code that answers this error.
func (e *Error) Status() int { return e.status }

func newError(status int, msg string) *Error {
	return &Error{msg: "httpparse: " + msg, status: status}
}

// Request line.
var (
	// ErrMalformedRequestLine: not "method SP target SP version", an extra
	// space, a missing part, or more than one empty line before it.
	ErrMalformedRequestLine = newError(statusBadRequest, "malformed request line")
	// ErrInvalidMethod: the method is not a token.
	ErrInvalidMethod = newError(statusBadRequest, "method is not a token")
	// ErrInvalidTarget: raw non-ASCII, '#', a bad percent-escape in the path,
	// or a target that is none of origin-, absolute-, authority- (CONNECT) or
	// asterisk-form (OPTIONS).
	ErrInvalidTarget = newError(statusBadRequest, "invalid request-target")
	// ErrTargetTooLong: the target exceeds Limits.MaxTargetBytes.
	ErrTargetTooLong = newError(statusURITooLong, "request-target too long")
	// ErrBadVersion: the version is not of the form HTTP/DIGIT.DIGIT.
	ErrBadVersion = newError(statusBadRequest, "malformed HTTP version")
	// ErrUnsupportedVersion: a well-formed HTTP/x.y other than 1.0 and 1.1.
	ErrUnsupportedVersion = newError(statusVersionNotSupported, "HTTP version not supported")
)

// Bytes and header lines.
var (
	// ErrBareCR: a CR not followed by LF.
	ErrBareCR = newError(statusBadRequest, "CR not followed by LF")
	// ErrControlByte: NUL or another control byte (0x00-0x1F except HTAB,
	// and 0x7F) in the method, target, a header name or value.
	ErrControlByte = newError(statusBadRequest, "control byte in request head")
	// ErrMalformedHeader: a header line without a colon or with an empty name.
	ErrMalformedHeader = newError(statusBadRequest, "malformed header line")
	// ErrInvalidHeaderName: a header name byte that is not a token character.
	ErrInvalidHeaderName = newError(statusBadRequest, "header name is not a token")
	// ErrSpaceBeforeColon: whitespace between a header name and its colon
	// (RFC 9112 §5.1).
	ErrSpaceBeforeColon = newError(statusBadRequest, "whitespace before colon in header line")
	// ErrObsFold: a header line starting with whitespace, i.e. obs-fold
	// (RFC 9112 §5.2) or whitespace after the request line (§2.2).
	ErrObsFold = newError(statusBadRequest, "header line starts with whitespace (obs-fold)")
	// ErrHeadTooLarge: the head exceeds Limits.MaxHeadBytes.
	ErrHeadTooLarge = newError(statusHeaderFieldsTooLarge, "request head too large")
	// ErrTooManyHeaders: more header lines than Limits.MaxHeaders.
	ErrTooManyHeaders = newError(statusHeaderFieldsTooLarge, "too many header lines")
)

// Header semantics (RFC 9112 §3.2, §6.1, §6.3).
var (
	// ErrMissingHost: an HTTP/1.1 request without a Host header.
	ErrMissingHost = newError(statusBadRequest, "missing Host header")
	// ErrDuplicateHost: more than one Host header.
	ErrDuplicateHost = newError(statusBadRequest, "more than one Host header")
	// ErrInvalidHost: a Host value with a byte outside the host grammar.
	ErrInvalidHost = newError(statusBadRequest, "invalid Host header")
	// ErrInvalidContentLength: empty, non-digit or overflowing Content-Length.
	ErrInvalidContentLength = newError(statusBadRequest, "invalid Content-Length")
	// ErrDuplicateContentLength: Content-Length headers that differ.
	ErrDuplicateContentLength = newError(statusBadRequest, "differing Content-Length headers")
	// ErrUnsupportedTransferEncoding: Transfer-Encoding other than exactly one
	// "chunked".
	ErrUnsupportedTransferEncoding = newError(statusBadRequest, "unsupported Transfer-Encoding")
	// ErrTransferEncodingHTTP10: Transfer-Encoding in an HTTP/1.0 request.
	ErrTransferEncodingHTTP10 = newError(statusBadRequest, "Transfer-Encoding in HTTP/1.0 request")
	// ErrContentLengthWithTE: both Content-Length and Transfer-Encoding.
	ErrContentLengthWithTE = newError(statusBadRequest, "both Content-Length and Transfer-Encoding")
)

// Status maps an error returned by Parse to the HTTP status that answers it:
// 400, 414, 431 or 505. It returns 0 for nil and 500 for an error that did
// not come from this package.
func Status(err error) int {
	if err == nil {
		return 0
	}
	var e *Error
	if errors.As(err, &e) {
		return e.status
	}
	return statusInternalServerError
}

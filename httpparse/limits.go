package httpparse

// Default limits. Each one bounds the memory and CPU a single client can make the
// gateway spend before it has even decided whether the request is acceptable.
const (
	// DefaultMaxHeadBytes caps the request line plus all header lines plus the
	// final empty line. It equals the gateway's MAX_HEADER_BYTES default: a
	// Chromium EventSource head is about 700 bytes, so 16 KiB leaves room for
	// large cookies while keeping one pooled read buffer per in-flight head
	// small. Exceeding it is answered with 431.
	DefaultMaxHeadBytes = 16384

	// DefaultMaxHeaders caps the number of header lines. Browsers send about 15;
	// Pushpin allows 64, nginx/Node about 100. It also sizes the header array
	// embedded in every Parser, so raising it through Limits costs one
	// allocation per Parser. Exceeding it is answered with 431.
	DefaultMaxHeaders = 100

	// DefaultMaxTargetBytes caps the request-target. RFC 9112 §3 recommends
	// supporting at least 8000 octets; nginx answers 414 above 8 KiB too.
	DefaultMaxTargetBytes = 8192

	// maxLimit bounds any caller-supplied limit so that every offset fits in the
	// uint32 fields of Span with room to spare.
	maxLimit = 1 << 30
)

// Limits bounds one request head. Zero fields mean the defaults above;
// values above 1 GiB are clamped to 1 GiB.
type Limits struct {
	// MaxHeadBytes: zero means DefaultMaxHeadBytes (431 when exceeded).
	MaxHeadBytes int
	// MaxHeaders: zero means DefaultMaxHeaders (431 when exceeded).
	MaxHeaders int
	// MaxTargetBytes: zero means DefaultMaxTargetBytes (414 when exceeded).
	MaxTargetBytes int
}

// withDefaults returns l with zero or negative fields replaced by the defaults
// and oversized ones clamped.
func (l Limits) withDefaults() Limits {
	l.MaxHeadBytes = orDefault(l.MaxHeadBytes, DefaultMaxHeadBytes)
	l.MaxHeaders = orDefault(l.MaxHeaders, DefaultMaxHeaders)
	l.MaxTargetBytes = orDefault(l.MaxTargetBytes, DefaultMaxTargetBytes)
	return l
}

func orDefault(v, def int) int {
	switch {
	case v <= 0:
		return def
	case v > maxLimit:
		return maxLimit
	}
	return v
}

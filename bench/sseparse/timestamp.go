package sseparse

import (
	"bytes"
	"math"
	"strconv"
)

// Latency timestamp format (what the bench publishes and measures).
//
// The canonical form is event data that starts with
//
//	t=<send time as Unix nanoseconds, decimal>
//
// optionally followed by a space and any padding, e.g. "t=1764221734123456789 xxxx".
// Timestamp also accepts a JSON object holding a number member "t" anywhere,
// e.g. {"t":1764221734123456789,"pad":"..."} (and so the gateway's envelope
// format, which wraps the data as a JSON payload), for servers that only relay
// JSON. The number is read without allocating.

// TimestampPrefix starts canonical timestamped data.
const TimestampPrefix = "t="

var jsonKey = []byte(`"t":`)

// AppendTimestamp appends canonical timestamped data for the send time nanos.
func AppendTimestamp(dst []byte, nanos int64) []byte {
	dst = append(dst, TimestampPrefix...)
	return strconv.AppendInt(dst, nanos, 10)
}

// Timestamp extracts the send time (Unix nanoseconds) carried in event data.
func Timestamp(data []byte) (int64, bool) {
	if len(data) > len(TimestampPrefix) && string(data[:len(TimestampPrefix)]) == TimestampPrefix {
		return leadingInt(data[len(TimestampPrefix):])
	}
	i := bytes.Index(data, jsonKey)
	if i < 0 {
		return 0, false
	}
	rest := bytes.TrimLeft(data[i+len(jsonKey):], " \t")
	return leadingInt(rest)
}

// leadingInt parses the decimal digits at the start of b, refusing overflow.
func leadingInt(b []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		d := int64(b[i] - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, i > 0
}

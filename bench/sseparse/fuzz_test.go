package sseparse

import (
	"slices"
	"testing"
)

// FuzzParserSplit checks that any input parses the same whole and split at
// any two points.
func FuzzParserSplit(f *testing.F) {
	f.Add([]byte(sample), uint16(3), uint16(40))
	f.Add([]byte("data: a\r\r\ndata: b\n\n"), uint16(8), uint16(9))
	f.Add([]byte("\xEF\xBB\xBFid: 1\x00\ndata\n\n"), uint16(1), uint16(2))
	f.Fuzz(func(t *testing.T, in []byte, a, b uint16) {
		i, j := int(a)%(len(in)+1), int(b)%(len(in)+1)
		if i > j {
			i, j = j, i
		}
		whole := feedAll(t, string(in))
		split := feedAll(t, string(in[:i]), string(in[i:j]), string(in[j:]))
		if !slices.Equal(whole, split) {
			t.Fatalf("split %d,%d: whole %q split %q", i, j, whole, split)
		}
	})
}

// collect is a Sink that keeps what it is fed.
type collect struct{ b []byte }

func (c *collect) Feed(b []byte) error { c.b = append(c.b, b...); return nil }

// FuzzChunkedRoundTrip frames arbitrary bytes as chunks of fuzzed sizes and
// checks the decoder gives them back, whatever the read split.
func FuzzChunkedRoundTrip(f *testing.F) {
	f.Add([]byte("hello world"), uint8(3), uint16(5))
	f.Add([]byte{}, uint8(1), uint16(0))
	f.Fuzz(func(t *testing.T, body []byte, size uint8, split uint16) {
		wire := chunkEncode(string(body), int(size%32)+1, int(size%7)+1)
		k := int(split) % (len(wire) + 1)
		var d ChunkDecoder
		var out collect
		if err := d.Feed([]byte(wire[:k]), &out); err != nil {
			t.Fatal(err)
		}
		if err := d.Feed([]byte(wire[k:]), &out); err != nil {
			t.Fatal(err)
		}
		if string(out.b) != string(body) || !d.Done() {
			t.Fatalf("got %q want %q done %v", out.b, body, d.Done())
		}
	})
}

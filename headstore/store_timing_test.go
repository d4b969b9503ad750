package headstore

import (
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/zstd"

	"ssegw/bench/heads"
	"ssegw/bench/loadclient"
	"ssegw/bench/scenario"
)

// The benchmarks keep and take heads of three kinds, against the plain copy
// a stream kept before (the baseline, same run) and, as the alternative that
// was weighed, zstd with the head itself as its dictionary (the best case
// for dictionary compression: the dictionary is the very browser's head).
// Each reports the bytes a stream keeps per head (kept-B/head).
//
//	go test -run '^$' -bench . -benchmem ./headstore/

// benchPool is how many different heads a benchmark cycles through: enough
// that a head's own values are long gone from the filter when it comes round
// again (8 new pieces a head against 4,096 slots), so none of them is ever
// shared, as in a real fleet.
const benchPool = 8192

// benchLive is how many heads stay kept meanwhile, as streams of the same
// browsers do.
const benchLive = 1000

func benchHeads(b *testing.B, kind string) [][]byte {
	b.Helper()
	out := make([][]byte, benchPool)
	switch kind {
	case "chromium":
		tpl, err := heads.Chromium("gw.example:443")
		if err != nil {
			b.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(7, 8))
		for i := range out {
			out[i] = tpl.Vary(nil, rng)
		}
	case "browser-1k", "short": // what ssegw-bench sends: --head browser, and the default
		var extra []string
		if kind == "browser-1k" {
			extra = scenario.BrowserHeaders()
		}
		h := loadclient.Config{Path: "/events?channel=bench", Host: "127.0.0.1:3000", Headers: extra}.Request()
		for i := range out {
			out[i] = h
		}
	}
	return out
}

func BenchmarkHeads(b *testing.B) {
	for _, kind := range []string{"chromium", "browser-1k", "short"} {
		hs := benchHeads(b, kind)
		b.Run(kind+"/copy", func(b *testing.B) { benchCopy(b, hs) })
		b.Run(kind+"/keep", func(b *testing.B) { benchKeep(b, hs, true) })
		b.Run(kind+"/take", func(b *testing.B) { benchKeep(b, hs, false) })
		b.Run(kind+"/zstd-dict-compress", func(b *testing.B) { benchZstd(b, hs, true) })
		b.Run(kind+"/zstd-dict-decompress", func(b *testing.B) { benchZstd(b, hs, false) })
	}
}

// benchCopy is what a stream did before: one exact-size copy of its head.
func benchCopy(b *testing.B, hs [][]byte) {
	b.ReportAllocs()
	var sink []byte
	for i := 0; b.Loop(); i++ {
		h := hs[i%len(hs)]
		sink = append(make([]byte, 0, len(h)), h...)
	}
	b.ReportMetric(float64(len(sink)), "kept-B/head")
}

// benchKeep times Keep (keep true) or Take (false) in batches, the other one
// outside the timer, with benchLive heads kept throughout.
func benchKeep(b *testing.B, hs [][]byte, keep bool) {
	s := New(Full)
	for _, h := range hs[:benchLive] {
		_ = s.Keep(h)
	}
	const batch = 1024
	kept := make([][]byte, batch)
	i, n, size := benchLive, 0, 0
	b.ReportAllocs()
	b.ResetTimer()
	for n < b.N {
		m := min(batch, b.N-n)
		if !keep {
			b.StopTimer()
		}
		for j := range m {
			kept[j] = s.Keep(hs[i%len(hs)])
			size += len(kept[j])
			i++
		}
		if !keep {
			b.StartTimer()
		} else {
			b.StopTimer()
		}
		for j := range m {
			_ = s.Take(kept[j])
		}
		if keep {
			b.StartTimer()
		}
		n += m
	}
	b.ReportMetric(float64(size)/float64(n), "kept-B/head")
}

// benchZstd compresses (or decompresses) each head with klauspost/compress's
// zstd at its fastest level, with a raw dictionary made of the heads' own
// kind: the alternative to the piece table.
func benchZstd(b *testing.B, hs [][]byte, compress bool) {
	dict := hs[benchPool-1]
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderDictRaw(1, dict), zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false), zstd.WithSingleSegment(true), zstd.WithLowerEncoderMem(true))
	if err != nil {
		b.Fatal(err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderDictRaw(1, dict), zstd.WithDecoderConcurrency(1))
	if err != nil {
		b.Fatal(err)
	}
	defer dec.Close()
	frames := make([][]byte, 256)
	for i := range frames {
		frames[i] = enc.EncodeAll(hs[i], nil)
	}
	size := 0
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if compress {
			out := enc.EncodeAll(hs[i%len(hs)], nil)
			size += len(out)
			continue
		}
		f := frames[i%len(frames)]
		size += len(f)
		if _, err := dec.DecodeAll(f, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size)/float64(b.N), "kept-B/head")
}

// Package stats holds the latency histogram the bench reports percentiles from.
//
// Histogram is HDR-like: values below 2*SubBuckets are counted exactly, larger
// values fall into log-linear buckets (SubBuckets per power of two), so the
// relative error of any reported value is below 1/SubBuckets (< 0.8 %) and the
// memory is fixed (NumBuckets counters) whatever is recorded. A Histogram is not
// safe for concurrent use: each goroutine (one per poller in loadclient) owns its
// own and the owner merges them after the goroutines stopped.
package stats

import (
	"errors"
	"math"
	"math/bits"
)

const (
	// subBits sets the precision: 2^subBits sub-buckets per power of two.
	subBits = 7
	// SubBuckets is the number of linear sub-buckets per power of two (1/128 ≈ 0.8 % error).
	SubBuckets = 1 << subBits
	// exactLimit is the value below which every value has its own bucket.
	exactLimit = 2 * SubBuckets
	// maxShift is the largest shift a non-negative int64 needs (bits.Len64 <= 63).
	maxShift = 63 - (subBits + 1)
	// NumBuckets is the fixed bucket count: exact range plus SubBuckets per shift.
	NumBuckets = exactLimit + maxShift*SubBuckets
)

// ErrBadBucket is returned when merged or decoded data names a bucket out of range.
var ErrBadBucket = errors.New("stats: bucket index out of range")

// Histogram counts non-negative int64 values (nanoseconds, by convention).
type Histogram struct {
	counts [NumBuckets]uint64
	total  uint64
	sum    float64
	min    int64
	max    int64
}

// New returns an empty histogram.
func New() *Histogram { return &Histogram{min: math.MaxInt64} }

// bucketOf maps a value to its bucket index. Negative values count as 0.
func bucketOf(v int64) int {
	if v < exactLimit {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - (subBits + 1)
	return exactLimit + (shift-1)*SubBuckets + int(uint64(v)>>uint(shift)) - SubBuckets
}

// bucketBounds returns the lowest and highest value a bucket holds.
func bucketBounds(i int) (lo, hi int64) {
	if i < exactLimit {
		return int64(i), int64(i)
	}
	shift := (i-exactLimit)/SubBuckets + 1
	mant := int64((i-exactLimit)%SubBuckets + SubBuckets)
	lo = mant << uint(shift)
	hi = lo + (int64(1) << uint(shift)) - 1
	return lo, hi
}

// Record adds one value.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	if h.total == 0 {
		h.min = math.MaxInt64
	}
	h.counts[bucketOf(v)]++
	h.total++
	h.sum += float64(v)
	if v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.total }

// Max is the largest recorded value (exact), 0 when empty.
func (h *Histogram) Max() int64 { return h.max }

// Min is the smallest recorded value (exact), 0 when empty.
func (h *Histogram) Min() int64 {
	if h.total == 0 {
		return 0
	}
	return h.min
}

// Mean is the exact arithmetic mean, 0 when empty.
func (h *Histogram) Mean() float64 {
	if h.total == 0 {
		return 0
	}
	return h.sum / float64(h.total)
}

// Quantile returns the value at quantile q (0..1): the highest value of the
// bucket holding the ceil(q*count)-th smallest value, clamped to [Min, Max].
func (h *Histogram) Quantile(q float64) int64 {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i]
		if seen >= rank {
			_, hi := bucketBounds(i)
			return min(max(hi, h.min), h.max)
		}
	}
	return h.max
}

// Merge adds every value of o into h.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil || o.total == 0 {
		return
	}
	if h.total == 0 {
		h.min = math.MaxInt64
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.sum += o.sum
	h.min = min(h.min, o.min)
	h.max = max(h.max, o.max)
}

// Reset empties the histogram.
func (h *Histogram) Reset() { *h = Histogram{min: math.MaxInt64} }

// Snapshot is the sparse, JSON-friendly form of a Histogram (used to carry
// child-process results to the parent).
type Snapshot struct {
	Count   uint64     `json:"count"`
	Sum     float64    `json:"sum"`
	Min     int64      `json:"min"`
	Max     int64      `json:"max"`
	Buckets [][2]int64 `json:"buckets"` // [bucket index, count] for non-empty buckets
}

// Snapshot encodes the histogram sparsely.
func (h *Histogram) Snapshot() Snapshot {
	s := Snapshot{Count: h.total, Sum: h.sum, Min: h.Min(), Max: h.max}
	for i, c := range h.counts {
		if c != 0 {
			s.Buckets = append(s.Buckets, [2]int64{int64(i), int64(c)})
		}
	}
	return s
}

// FromSnapshot rebuilds a histogram from its sparse form.
func FromSnapshot(s Snapshot) (*Histogram, error) {
	h := New()
	var n uint64
	for _, b := range s.Buckets {
		if b[0] < 0 || b[0] >= NumBuckets || b[1] < 0 {
			return nil, ErrBadBucket
		}
		h.counts[b[0]] += uint64(b[1])
		n += uint64(b[1])
	}
	h.total, h.sum, h.max = n, s.Sum, s.Max
	if n > 0 {
		h.min = s.Min
	}
	return h, nil
}

// Summary is the headline figures of a histogram, in the histogram's unit.
type Summary struct {
	Count uint64  `json:"count"`
	P50   int64   `json:"p50"`
	P90   int64   `json:"p90"`
	P99   int64   `json:"p99"`
	Max   int64   `json:"max"`
	Mean  float64 `json:"mean"`
}

// Summarize returns count, p50, p90, p99, max and mean.
func (h *Histogram) Summarize() Summary {
	return Summary{Count: h.total, P50: h.Quantile(0.50), P90: h.Quantile(0.90),
		P99: h.Quantile(0.99), Max: h.max, Mean: h.Mean()}
}

// MergeSnapshots adds snapshots up into one (the histograms of several
// groups or processes).
func MergeSnapshots(ss ...Snapshot) (Snapshot, error) {
	acc := New()
	for _, s := range ss {
		h, err := FromSnapshot(s)
		if err != nil {
			return Snapshot{}, err
		}
		acc.Merge(h)
	}
	return acc.Snapshot(), nil
}

// Sub is what was recorded into a histogram between two snapshots of it:
// later minus earlier, bucket by bucket. Min and Max become the bounds of
// the lowest and highest bucket left (within Max's 1/SubBuckets), clamped
// to later's. An earlier that is not a part of later (a bucket count
// falling below zero) is ErrBadBucket.
func Sub(later, earlier Snapshot) (Snapshot, error) {
	a, err := FromSnapshot(later)
	if err != nil {
		return Snapshot{}, err
	}
	b, err := FromSnapshot(earlier)
	if err != nil {
		return Snapshot{}, err
	}
	out := New()
	lo, hi := -1, -1
	for i := range a.counts {
		if a.counts[i] < b.counts[i] {
			return Snapshot{}, ErrBadBucket
		}
		if c := a.counts[i] - b.counts[i]; c > 0 {
			out.counts[i], out.total = c, out.total+c
			if lo < 0 {
				lo = i
			}
			hi = i
		}
	}
	if out.total == 0 {
		return out.Snapshot(), nil
	}
	out.sum = max(a.sum-b.sum, 0)
	out.min, _ = bucketBounds(lo)
	_, out.max = bucketBounds(hi)
	out.min, out.max = max(out.min, a.Min()), min(out.max, a.max)
	return out.Snapshot(), nil
}

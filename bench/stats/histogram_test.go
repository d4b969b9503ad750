package stats

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// relErr is the precision the bucket layout promises.
const relErr = 1.0 / SubBuckets

func TestBucketRoundTrip(t *testing.T) {
	vals := []int64{0, 1, 255, 256, 257, 511, 512, 1000, 1 << 20, 123456789, math.MaxInt64}
	for _, v := range vals {
		i := bucketOf(v)
		if i < 0 || i >= NumBuckets {
			t.Fatalf("bucketOf(%d)=%d out of range", v, i)
		}
		lo, hi := bucketBounds(i)
		if v < lo || v > hi {
			t.Fatalf("v=%d bucket %d bounds [%d,%d]", v, i, lo, hi)
		}
		if float64(hi-lo) > relErr*float64(lo)+1 {
			t.Fatalf("bucket %d too wide: [%d,%d]", i, lo, hi)
		}
	}
}

func TestBucketsContiguous(t *testing.T) {
	_, prevHi := bucketBounds(0)
	for i := 1; i < NumBuckets; i++ {
		lo, hi := bucketBounds(i)
		if lo != prevHi+1 {
			t.Fatalf("gap before bucket %d: prev hi %d lo %d", i, prevHi, lo)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d bounds map elsewhere", i)
		}
		prevHi = hi
	}
}

// exactQuantile is the ceil(q*n)-th smallest value of sorted.
func exactQuantile(sorted []int64, q float64) int64 {
	r := int(math.Ceil(q * float64(len(sorted))))
	return sorted[max(r, 1)-1]
}

func checkQuantiles(t *testing.T, h *Histogram, sorted []int64) {
	t.Helper()
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
		want := exactQuantile(sorted, q)
		got := h.Quantile(q)
		if math.Abs(float64(got-want)) > relErr*float64(want)+1 {
			t.Errorf("q=%v got %d want %d", q, got, want)
		}
	}
	if h.Max() != sorted[len(sorted)-1] || h.Min() != sorted[0] {
		t.Errorf("min/max %d/%d want %d/%d", h.Min(), h.Max(), sorted[0], sorted[len(sorted)-1])
	}
}

func TestUniformKnownDistribution(t *testing.T) {
	h := New()
	var vals []int64
	for v := int64(1); v <= 100000; v++ {
		h.Record(v * 1000)
		vals = append(vals, v*1000)
	}
	if h.Count() != 100000 {
		t.Fatalf("count %d", h.Count())
	}
	checkQuantiles(t, h, vals)
	if p50 := h.Quantile(0.5); math.Abs(float64(p50)-50e6) > 50e6*relErr {
		t.Fatalf("p50 %d", p50)
	}
}

func TestExponentialDistribution(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	h := New()
	vals := make([]int64, 200000)
	for i := range vals {
		vals[i] = int64(r.ExpFloat64() * 5e6)
		h.Record(vals[i])
	}
	slices.Sort(vals)
	checkQuantiles(t, h, vals)
}

func TestMergeAndSnapshot(t *testing.T) {
	a, b, all := New(), New(), New()
	for i := int64(0); i < 5000; i++ {
		a.Record(i * 7)
		b.Record(i * 13)
		all.Record(i * 7)
		all.Record(i * 13)
	}
	a.Merge(b)
	s, err := FromSnapshot(a.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []float64{0.5, 0.99, 1} {
		if s.Quantile(q) != all.Quantile(q) {
			t.Fatalf("q=%v merged %d direct %d", q, s.Quantile(q), all.Quantile(q))
		}
	}
	if s.Count() != 10000 || s.Max() != all.Max() || s.Min() != 0 {
		t.Fatalf("count %d max %d min %d", s.Count(), s.Max(), s.Min())
	}
	if _, err := FromSnapshot(Snapshot{Buckets: [][2]int64{{NumBuckets, 1}}}); err != ErrBadBucket {
		t.Fatalf("want ErrBadBucket, got %v", err)
	}
}

func TestEmpty(t *testing.T) {
	h := New()
	if h.Quantile(0.5) != 0 || h.Max() != 0 || h.Min() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram must report zeros")
	}
}

func TestRecordAllocs(t *testing.T) {
	h := New()
	if n := testing.AllocsPerRun(1000, func() { h.Record(123456) }); n != 0 {
		t.Fatalf("Record allocates %v", n)
	}
}

func TestSubAndMerge(t *testing.T) {
	h := New()
	for _, v := range []int64{5, 1000, 2000} {
		h.Record(v)
	}
	before := h.Snapshot()
	for _, v := range []int64{3000, 40_000, 50_000_000} {
		h.Record(v)
	}
	d, err := Sub(h.Snapshot(), before)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := FromSnapshot(d)
	if got.Count() != 3 || got.Max() != 50_000_000 || got.Mean() != (3000+40_000+50_000_000)/3.0 {
		t.Fatalf("diff: count %d max %d mean %v", got.Count(), got.Max(), got.Mean())
	}
	if m := got.Min(); math.Abs(float64(m-3000)) > relErr*3000 {
		t.Fatalf("diff min %d, want about 3000", m)
	}
	if q := got.Quantile(0.5); math.Abs(float64(q-40_000)) > relErr*40_000 {
		t.Fatalf("diff median %d", q)
	}
	if e, err := Sub(before, before); err != nil || e.Count != 0 || len(e.Buckets) != 0 {
		t.Fatalf("empty diff: %+v %v", e, err)
	}
	if _, err := Sub(before, h.Snapshot()); err != ErrBadBucket {
		t.Fatalf("earlier larger than later: %v", err)
	}
	m, err := MergeSnapshots(before, d)
	if err != nil || m.Count != 6 || m.Max != 50_000_000 || m.Min != 5 {
		t.Fatalf("merge: %+v %v", m, err)
	}
}

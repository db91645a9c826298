package bench

import (
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// testSeed returns STRATA_TEST_SEED or a fresh seed, logged for replay.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("STRATA_TEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("STRATA_TEST_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (STRATA_TEST_SEED=%d to replay)", seed, seed)
	return seed
}

func TestBucketBoundsPartitionTheValues(t *testing.T) {
	// Every bucket's bounds map back to it, and consecutive buckets are
	// adjacent, so the index is a partition of [0, MaxInt64].
	var prevHi int64 = -1
	for i := range numBuckets {
		lo, hi := bucketBounds(i)
		if lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if bucketIndex(lo) != i || bucketIndex(hi) != i {
			t.Fatalf("bucket %d [%d, %d] maps back to %d and %d", i, lo, hi, bucketIndex(lo), bucketIndex(hi))
		}
		if lo >= subBuckets && float64(hi-lo+1) > float64(lo)/subBuckets {
			t.Fatalf("bucket %d [%d, %d] wider than 1/%d of its start", i, lo, hi, subBuckets)
		}
		prevHi = hi
	}
	if prevHi != math.MaxInt64 {
		t.Fatalf("last bucket ends at %d, want MaxInt64", prevHi)
	}
}

func TestQuantilesAgainstSortedReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(testSeed(t), 1))
	cases := []struct {
		name string
		gen  func() int64
		n    int
	}{
		{"small exact ints", func() int64 { return rng.Int64N(100) }, 5000},
		{"uniform micro to milli", func() int64 { return 1000 + rng.Int64N(10_000_000) }, 20000},
		{"exponential latency", func() int64 { return int64(rng.ExpFloat64() * 2e6) }, 50000},
		{"heavy tail", func() int64 { return int64(math.Pow(10, 3+6*rng.Float64())) }, 50000},
		{"constant", func() int64 { return 1234567 }, 1000},
		{"single value", func() int64 { return 42 }, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHistogram()
			ref := make([]int64, tc.n)
			var sum float64
			for i := range ref {
				ref[i] = tc.gen()
				sum += float64(ref[i])
				h.Record(ref[i])
			}
			slices.Sort(ref)
			for _, q := range []float64{0, 0.5, 0.9, 0.95, 0.99, 0.999, 1} {
				rank := max(int(math.Ceil(q*float64(tc.n))), 1)
				want := ref[rank-1]
				got := h.Quantile(q)
				// The result is the top of want's bucket (clamped to the
				// max): never below, at most 1/subBuckets above.
				if got < want || float64(got-want) > float64(want)/subBuckets {
					t.Errorf("q%.3f = %d, reference %d", q, got, want)
				}
			}
			if h.Count() != uint64(tc.n) || h.Min() != ref[0] || h.Max() != ref[tc.n-1] {
				t.Errorf("count/min/max = %d/%d/%d, want %d/%d/%d", h.Count(), h.Min(), h.Max(), tc.n, ref[0], ref[tc.n-1])
			}
			if m := sum / float64(tc.n); math.Abs(h.Mean()-m) > 1e-9*m+1e-9 {
				t.Errorf("mean %f, want %f", h.Mean(), m)
			}
		})
	}
}

func TestHistogramEmptyNegativeAndMerge(t *testing.T) {
	h := NewHistogram()
	if h.Quantile(0.99) != 0 || h.Min() != 0 || h.Max() != 0 || h.Mean() != 0 {
		t.Fatal("empty histogram reports non-zero figures")
	}
	if s := h.Summary(); s.Count != 0 || s.P99Ms != 0 {
		t.Fatalf("empty summary %+v", s)
	}
	h.Record(-5)
	if h.Min() != 0 || h.Count() != 1 {
		t.Fatalf("negative value: min %d count %d", h.Min(), h.Count())
	}
	a, b := NewHistogram(), NewHistogram()
	for v := int64(1); v <= 1000; v++ {
		a.Record(v * 1000)
		b.Record(v * 1_000_000)
	}
	a.Merge(b)
	a.Merge(NewHistogram())
	if a.Count() != 2000 || a.Min() != 1000 || a.Max() != 1_000_000_000 {
		t.Fatalf("merged count/min/max %d/%d/%d", a.Count(), a.Min(), a.Max())
	}
	if p := a.Quantile(0.5); p < 1_000_000 || p > 1_000_000+1_000_000/subBuckets {
		t.Fatalf("merged median %d, want ~1e6", p)
	}
}

func TestHistogramConcurrentRecord(t *testing.T) {
	h := NewHistogram()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 10000 {
				h.Record(int64(g*10000 + i))
			}
		})
	}
	wg.Wait()
	if h.Count() != 80000 || h.Min() != 0 || h.Max() != 79999 {
		t.Fatalf("count/min/max %d/%d/%d", h.Count(), h.Min(), h.Max())
	}
	var total uint64
	for i := range h.counts {
		total += h.counts[i].Load()
	}
	if total != 80000 {
		t.Fatalf("bucket counts sum to %d", total)
	}
}

func TestSummaryInMilliseconds(t *testing.T) {
	h := NewHistogram()
	for range 99 {
		h.RecordDuration(time.Millisecond)
	}
	h.RecordDuration(time.Second)
	s := h.Summary()
	if s.P50Ms < 1 || s.P50Ms > 1.01 || s.MaxMs != 1000 || s.P999Ms != 1000 || s.Count != 100 {
		t.Fatalf("summary %+v", s)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	h := NewHistogram()
	b.ReportAllocs()
	for i := range b.N {
		h.Record(int64(i) * 7919)
	}
}

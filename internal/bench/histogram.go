package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// subBucketBits sets the histogram's precision: every power-of-two range of
// values is split into 2^subBucketBits equal buckets, so a recorded value is
// known to within 1/2^subBucketBits (0.8%) of itself. Values below
// 2^subBucketBits are exact.
const subBucketBits = 7

const (
	subBuckets = 1 << subBucketBits
	// numBuckets covers every non-negative int64: the largest value has 63
	// significant bits, a shift of 63-subBucketBits-1, and its index is
	// shift*subBuckets + (2*subBuckets-1).
	numBuckets = (63-subBucketBits-1)*subBuckets + 2*subBuckets
)

// Histogram is a log-linear histogram of non-negative int64 values
// (nanoseconds, in this package), in the manner of HdrHistogram: a fixed
// array of counters indexed by the value's exponent and its top
// subBucketBits+1 significant bits. Recording is O(1) and lock-free, so one
// Histogram may be shared by every goroutine of a run; reading
// (Quantile, Summary) while others record gives a consistent-enough view
// for progress output and an exact one once recording has stopped.
//
// The zero value is not usable; call NewHistogram.
type Histogram struct {
	counts []atomic.Uint64 // len numBuckets
	total  atomic.Uint64
	sum    atomic.Int64 // saturates only after ~292 years of summed nanoseconds
	min    atomic.Int64
	max    atomic.Int64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	h := &Histogram{counts: make([]atomic.Uint64, numBuckets)}
	h.min.Store(math.MaxInt64)
	return h
}

// bucketIndex maps v (>= 0) to its bucket. Values below subBuckets are
// their own bucket; above, v>>shift lies in [subBuckets, 2*subBuckets) and
// each shift owns subBuckets consecutive indexes.
func bucketIndex(v int64) int {
	if v < subBuckets {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBucketBits - 1
	return shift*subBuckets + int(v>>shift)
}

// bucketBounds returns the smallest and largest value that map to idx.
func bucketBounds(idx int) (lo, hi int64) {
	if idx < subBuckets {
		return int64(idx), int64(idx)
	}
	shift := idx/subBuckets - 1
	mant := int64(idx - shift*subBuckets)
	lo = mant << shift
	return lo, lo + (int64(1)<<shift - 1)
}

// Record adds one value; negative values (a clock read out of order) count
// as zero.
func (h *Histogram) Record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[bucketIndex(v)].Add(1)
	h.total.Add(1)
	h.sum.Add(v)
	for cur := h.min.Load(); v < cur && !h.min.CompareAndSwap(cur, v); cur = h.min.Load() {
	}
	for cur := h.max.Load(); v > cur && !h.max.CompareAndSwap(cur, v); cur = h.max.Load() {
	}
}

// RecordDuration records d in nanoseconds.
func (h *Histogram) RecordDuration(d time.Duration) { h.Record(int64(d)) }

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.total.Load() }

// Max is the largest recorded value, exact; 0 when empty.
func (h *Histogram) Max() int64 { return h.max.Load() }

// Min is the smallest recorded value, exact; 0 when empty.
func (h *Histogram) Min() int64 {
	if h.Count() == 0 {
		return 0
	}
	return h.min.Load()
}

// Mean is the exact arithmetic mean; 0 when empty.
func (h *Histogram) Mean() float64 {
	n := h.Count()
	if n == 0 {
		return 0
	}
	return float64(h.sum.Load()) / float64(n)
}

// Quantile returns the value at quantile q in [0, 1]: the highest value of
// the bucket holding the ceil(q*count)-th smallest value, clamped to the
// exact min and max. It never understates a latency by more than a bucket
// and overstates it by at most 1/2^subBucketBits of itself. 0 when empty.
func (h *Histogram) Quantile(q float64) int64 {
	n := h.Count()
	if n == 0 {
		return 0
	}
	q = math.Max(0, math.Min(1, q))
	rank := uint64(math.Ceil(q * float64(n)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			_, hi := bucketBounds(i)
			return min(max(hi, h.Min()), h.Max())
		}
	}
	return h.Max() // counts raced ahead of total while recording
}

// Merge adds every value of o into h. o must not be recorded into
// concurrently.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c > 0 {
			h.counts[i].Add(c)
		}
	}
	if o.Count() == 0 {
		return
	}
	h.total.Add(o.Count())
	h.sum.Add(o.sum.Load())
	for v, cur := o.Min(), h.min.Load(); v < cur && !h.min.CompareAndSwap(cur, v); cur = h.min.Load() {
	}
	for v, cur := o.Max(), h.max.Load(); v > cur && !h.max.CompareAndSwap(cur, v); cur = h.max.Load() {
	}
}

// LatencySummary is a histogram of durations reduced to the figures a report
// shows, in milliseconds.
type LatencySummary struct {
	Count  uint64  `json:"count"`
	MeanMs float64 `json:"mean_ms"`
	P50Ms  float64 `json:"p50_ms"`
	P95Ms  float64 `json:"p95_ms"`
	P99Ms  float64 `json:"p99_ms"`
	P999Ms float64 `json:"p99_9_ms"`
	MaxMs  float64 `json:"max_ms"`
}

// Summary reduces a histogram of nanoseconds to a LatencySummary.
func (h *Histogram) Summary() LatencySummary {
	ms := func(ns int64) float64 { return float64(ns) / 1e6 }
	return LatencySummary{
		Count:  h.Count(),
		MeanMs: h.Mean() / 1e6,
		P50Ms:  ms(h.Quantile(0.50)),
		P95Ms:  ms(h.Quantile(0.95)),
		P99Ms:  ms(h.Quantile(0.99)),
		P999Ms: ms(h.Quantile(0.999)),
		MaxMs:  ms(h.Max()),
	}
}

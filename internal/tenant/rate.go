package tenant

import "time"

// Rate measures a value per second over a sliding window of samples, as
// Kafka's quota sensors do (KIP-13): the window is Samples samples of
// SampleLength each; a sample starts at the first value recorded after the
// previous one ended, and samples that started more than the whole window
// ago are dropped. The rate is the sum of the samples over the time since
// the oldest one started.
//
// Unlike Kafka, the window is not padded to its full length while it is
// young: a tenant's first burst is measured over the time it really took,
// so its throttle is exactly the time the burst needs at the quota (B/Q),
// and a producer held back from its first request on stays within one
// request of the quota (Kafka's padding lets a new client send ten seconds'
// worth at once).
//
// Not safe for concurrent use; the caller locks.
type Rate struct {
	cfg     RateConfig
	samples []rateSample // oldest first; at most cfg.Samples
}

type rateSample struct {
	start time.Time
	total float64
}

// RateConfig shapes a Rate's window.
type RateConfig struct {
	Samples      int
	SampleLength time.Duration
}

// DefaultRateConfig is Kafka's quota.window.num and quota.window.size.seconds:
// 11 samples of one second.
func DefaultRateConfig() RateConfig { return RateConfig{Samples: 11, SampleLength: time.Second} }

// Window is the longest time a Rate remembers.
func (c RateConfig) Window() time.Duration { return time.Duration(c.Samples) * c.SampleLength }

// NewRate returns an empty rate.
func NewRate(cfg RateConfig) *Rate {
	if cfg.Samples < 1 || cfg.SampleLength <= 0 {
		panic("tenant: rate needs at least one sample of positive length")
	}
	return &Rate{cfg: cfg, samples: make([]rateSample, 0, cfg.Samples)}
}

func (r *Rate) purge(now time.Time) {
	drop := 0
	for drop < len(r.samples) && now.Sub(r.samples[drop].start) >= r.cfg.Window() {
		drop++
	}
	if drop > 0 {
		r.samples = append(r.samples[:0], r.samples[drop:]...)
	}
}

// Record adds v at now.
func (r *Rate) Record(now time.Time, v float64) {
	r.purge(now)
	n := len(r.samples)
	if n == 0 || now.Sub(r.samples[n-1].start) >= r.cfg.SampleLength {
		if n == r.cfg.Samples {
			r.samples = append(r.samples[:0], r.samples[1:]...)
		}
		r.samples = append(r.samples, rateSample{start: now})
		n = len(r.samples)
	}
	r.samples[n-1].total += v
}

// Total is the sum of the values in the window and the time since the
// window's oldest sample started.
func (r *Rate) Total(now time.Time) (total float64, elapsed time.Duration) {
	r.purge(now)
	if len(r.samples) == 0 {
		return 0, 0
	}
	for _, s := range r.samples {
		total += s.total
	}
	return total, max(now.Sub(r.samples[0].start), 0)
}

// Throttle is how long the recorder must pause so that the rate comes back
// down to quota per second: the time at which total/elapsed equals quota,
// minus the time already elapsed. It is 0 when the rate is within the
// quota, and at most the window. A quota of 0 allows nothing: any recorded
// value throttles for the whole window.
func (r *Rate) Throttle(now time.Time, quota float64) time.Duration {
	total, elapsed := r.Total(now)
	if total <= 0 {
		return 0
	}
	if quota <= 0 {
		return r.cfg.Window()
	}
	need := time.Duration(total / quota * float64(time.Second))
	return min(max(need-elapsed, 0), r.cfg.Window())
}

// TokenBucket is KIP-599's controller mutation quota: tokens refill at
// Rate per second up to Burst; a mutation is admitted while the bucket is
// not negative and may take it below zero (a request of many partitions is
// not refused for its size alone); the throttle is the time until the
// bucket is back at zero. Not safe for concurrent use.
type TokenBucket struct {
	tokens float64
	last   time.Time
}

func (b *TokenBucket) refill(now time.Time, rate, burst float64) {
	if b.last.IsZero() {
		b.tokens, b.last = burst, now
		return
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(burst, b.tokens+d.Seconds()*rate)
		b.last = now
	}
}

// Take takes n tokens if the bucket is not negative (or if strict is
// false, always) and returns whether it did and the throttle that follows.
func (b *TokenBucket) Take(now time.Time, n, rate, burst float64, strict bool) (ok bool, throttle time.Duration) {
	b.refill(now, rate, burst)
	if strict && b.tokens < 0 {
		return false, b.debt(rate)
	}
	b.tokens -= n
	return true, b.debt(rate)
}

func (b *TokenBucket) debt(rate float64) time.Duration {
	if b.tokens >= 0 {
		return 0
	}
	if rate <= 0 {
		return time.Hour
	}
	return time.Duration(-b.tokens / rate * float64(time.Second))
}

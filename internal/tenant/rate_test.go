package tenant

import (
	"testing"
	"time"
)

var t0 = time.Unix(1_000_000, 0)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func TestRateThrottle(t *testing.T) {
	cfg := DefaultRateConfig()
	cases := []struct {
		name   string
		record map[int]float64 // ms -> bytes
		now    int
		quota  float64
		want   time.Duration
	}{
		{"empty", nil, 0, 100, 0},
		{"first burst waits B/Q", map[int]float64{0: 1000}, 0, 100, 10 * time.Second},
		{"burst measured since it started", map[int]float64{0: 500}, 2000, 100, 3 * time.Second},
		{"within quota", map[int]float64{0: 100, 500: 100, 1500: 100}, 3000, 100, 0},
		{"capped at the window", map[int]float64{0: 1e9}, 0, 1, cfg.Window()},
		{"zero quota allows nothing", map[int]float64{0: 1}, 0, 0, cfg.Window()},
		{"old samples forgotten", map[int]float64{0: 1e6, 12_000: 100}, 12_000, 100, time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRate(cfg)
			for ms := 0; ms <= tc.now; ms++ {
				if v, ok := tc.record[ms]; ok {
					r.Record(at(ms), v)
				}
			}
			if got := r.Throttle(at(tc.now), tc.quota); got != tc.want {
				t.Fatalf("throttle %v, want %v", got, tc.want)
			}
		})
	}
}

// TestRateHoldsQuota simulates a client that sends a request of B bytes,
// waits out each throttle and sends again at once: over any stretch it
// moves the quota's worth of bytes, plus at most one request.
func TestRateHoldsQuota(t *testing.T) {
	for _, tc := range []struct {
		quota, req float64
		run        time.Duration
	}{
		{400_000, 16_384, 5 * time.Second},
		{1_000, 900, 30 * time.Second},
		{10e6, 1e6, 60 * time.Second},
	} {
		r := NewRate(DefaultRateConfig())
		now, sent := t0, 0.0
		for now.Sub(t0) < tc.run {
			r.Record(now, tc.req)
			sent += tc.req
			now = now.Add(r.Throttle(now, tc.quota) + time.Millisecond)
		}
		want := tc.quota * tc.run.Seconds()
		if sent < want*0.95 || sent > want+2*tc.req {
			t.Errorf("quota %v, requests of %v over %v: sent %v, want about %v", tc.quota, tc.req, tc.run, sent, want)
		}
	}
}

func TestTokenBucket(t *testing.T) {
	var b TokenBucket
	// rate 2/s, burst 10: 4 + 4 + 4 admitted (the third goes to -2), then
	// refused for 1 s.
	for i, want := range []bool{true, true, true, false} {
		ok, _ := b.Take(at(0), 4, 2, 10, true)
		if ok != want {
			t.Fatalf("take %d: %v", i, ok)
		}
	}
	if _, th := b.Take(at(0), 4, 2, 10, true); th != time.Second {
		t.Fatalf("throttle %v, want 1s", th)
	}
	if ok, th := b.Take(at(1000), 1, 2, 10, true); !ok || th != 500*time.Millisecond {
		t.Fatalf("after refill: %v %v", ok, th)
	}
	if ok, _ := b.Take(at(1000), 1, 2, 10, false); !ok {
		t.Fatal("lenient take refused")
	}
}

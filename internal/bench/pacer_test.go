package bench

import (
	"context"
	"math"
	"testing"
	"time"
)

// fakeClock is a clock that only moves when the pacer sleeps, or when the
// test says work took time.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.now = c.now.Add(d)
	return nil
}

func TestPacerHoldsTheRateExactly(t *testing.T) {
	cases := []struct {
		name        string
		bytesPerSec float64
		record      int
		work        time.Duration // time each send takes besides pacing
		n           int
	}{
		{"1 KiB at 20 MB/s", 20 * MB, 1024, 0, 200_000},
		{"1 KiB at 100 MB/s, 2us per send", 100 * MB, 1024, 2 * time.Microsecond, 200_000},
		{"64 KiB at 5 MB/s", 5 * MB, 64 << 10, 0, 2000},
		{"small at 1 MB/s", 1 * MB, 100, 0, 50_000},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &fakeClock{now: time.Unix(1000, 0)}
			p := newPacerWithClock(tc.bytesPerSec, c.Now, c.Sleep)
			start := c.now
			maxAhead := 0.0
			for i := range tc.n {
				if err := p.Wait(context.Background(), tc.record); err != nil {
					t.Fatal(err)
				}
				// Bytes released so far must never run ahead of the
				// schedule by more than the catch-up allowance.
				sent := float64((i + 1) * tc.record)
				allowed := c.now.Sub(start).Seconds()*tc.bytesPerSec + float64(tc.record)
				maxAhead = math.Max(maxAhead, sent-allowed)
				c.now = c.now.Add(tc.work)
			}
			elapsed := c.now.Sub(start).Seconds()
			rate := float64(tc.n*tc.record) / elapsed
			if math.Abs(rate-tc.bytesPerSec)/tc.bytesPerSec > 0.01 {
				t.Errorf("rate %.0f B/s, want %.0f (±1%%)", rate, tc.bytesPerSec)
			}
			if burst := minPacerSleep.Seconds() * tc.bytesPerSec; maxAhead > burst {
				t.Errorf("ran %.0f bytes ahead of schedule, allowance %.0f", maxAhead, burst)
			}
		})
	}
}

func TestPacerCatchesUpAfterAStall(t *testing.T) {
	c := &fakeClock{now: time.Unix(1000, 0)}
	p := newPacerWithClock(10*MB, c.Now, c.Sleep)
	start := c.now
	c.now = c.now.Add(100 * time.Millisecond) // the producer was blocked
	slept := 0
	for range 1024 { // 1 MiB: 100 ms of schedule
		before := c.now
		p.Wait(context.Background(), 1024)
		if c.now != before {
			slept++
		}
	}
	if slept > 1 {
		t.Errorf("pacer slept %d times while behind schedule", slept)
	}
	if got := c.now.Sub(start); got > 101*time.Millisecond {
		t.Errorf("catch-up took until %s, want about 100ms", got)
	}
}

func TestPacerUnlimitedAndCancel(t *testing.T) {
	p := NewPacer(0)
	start := time.Now()
	for range 100000 {
		if err := p.Wait(context.Background(), 1<<20); err != nil {
			t.Fatal(err)
		}
	}
	if time.Since(start) > time.Second {
		t.Error("unlimited pacer waited")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	slow := NewPacer(1)
	slow.Wait(ctx, 1)
	if err := slow.Wait(ctx, 1); err == nil {
		t.Error("cancelled wait returned nil")
	}
}

func TestPacerRealClockAccuracy(t *testing.T) {
	// On the real clock the long-run rate still holds despite timer slack:
	// 4 MB/s of 4 KiB for 300 ms.
	const rate, record = 4 * MB, 4096
	p := NewPacer(rate)
	start := time.Now()
	var sent int
	for time.Since(start) < 300*time.Millisecond {
		if err := p.Wait(context.Background(), record); err != nil {
			t.Fatal(err)
		}
		sent += record
	}
	got := float64(sent) / time.Since(start).Seconds()
	// Never meaningfully faster than the target; slower only if this
	// goroutine was starved of CPU, which a loaded machine can do.
	if got > rate*1.05 || got < rate*0.7 {
		t.Errorf("real-clock rate %.2f MB/s, want 4 MB/s", got/MB)
	}
}

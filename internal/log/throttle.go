package log

import (
	"context"
	"time"
)

// throttle keeps the cleaner's I/O (bytes read plus bytes written) at or
// below a rate, as Kafka's Throttler does for log.cleaner.io.max.bytes.per.
// second: it counts bytes over a window and sleeps when the count runs
// ahead of the rate. A window lasts at most throttleWindow, so idle time
// does not bank credit for a burst. Used by one goroutine at a time (the
// Cleaner's pass).
type throttle struct {
	rate  float64 // bytes per second; <= 0: unlimited
	now   func() time.Time
	start time.Time // of the window
	bytes float64   // counted in the window
}

const (
	throttleWindow   = time.Second
	minThrottleSleep = 10 * time.Millisecond // shorter debts are carried, not slept
)

// wait counts n bytes and sleeps while they are ahead of the rate. It
// returns ctx's error if ctx ends first.
func (t *throttle) wait(ctx context.Context, n int) error {
	if t.rate <= 0 {
		return nil
	}
	now := t.now()
	if t.start.IsZero() || now.Sub(t.start) > throttleWindow {
		t.start, t.bytes = now, 0
	}
	t.bytes += float64(n)
	due := time.Duration(t.bytes / t.rate * float64(time.Second))
	ahead := due - now.Sub(t.start)
	if ahead < minThrottleSleep {
		return nil
	}
	timer := time.NewTimer(ahead)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

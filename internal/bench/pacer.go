package bench

import (
	"context"
	"time"
)

// minPacerSleep is the shortest pause a Pacer takes. Timers on Linux wake
// tens of microseconds late, so sleeping for less than this is mostly
// overshoot; the debt is left to accumulate instead, which turns into a
// burst of at most this much time's worth of bytes.
const minPacerSleep = 500 * time.Microsecond

// Pacer holds a producer to a target rate of bytes per second, open loop:
// the schedule is fixed by the start time and the bytes sent so far, so a
// late wake-up or a blocked send is followed by a catch-up burst rather than
// a permanent shortfall. A rate of 0 means unlimited.
//
// A Pacer is used by one goroutine.
type Pacer struct {
	bytesPerSec float64
	start       time.Time
	sent        float64

	now   func() time.Time
	sleep func(context.Context, time.Duration) error
}

// NewPacer returns a pacer whose schedule starts now.
func NewPacer(bytesPerSec float64) *Pacer {
	return newPacerWithClock(bytesPerSec, time.Now, sleepCtx)
}

func newPacerWithClock(bytesPerSec float64, now func() time.Time, sleep func(context.Context, time.Duration) error) *Pacer {
	return &Pacer{bytesPerSec: bytesPerSec, start: now(), now: now, sleep: sleep}
}

// Wait accounts n bytes about to be sent and blocks until the schedule
// allows them, or ctx ends.
func (p *Pacer) Wait(ctx context.Context, n int) error {
	if p.bytesPerSec <= 0 {
		return ctx.Err()
	}
	due := p.start.Add(time.Duration(p.sent / p.bytesPerSec * float64(time.Second)))
	p.sent += float64(n)
	if d := due.Sub(p.now()); d >= minPacerSleep {
		return p.sleep(ctx, d)
	}
	return ctx.Err()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

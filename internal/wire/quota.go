package wire

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Quotas and throttling on the connection, as Kafka clients expect:
//
//   - A handler that finds its tenant over a rate quota sets
//     Request.Throttle. The response's throttle_time_ms is raised to it and
//     the connection is held back for that long: no request of it is
//     handled, and the reader reads no more, until the time has passed
//     (KIP-219's channel muting). For response versions before KIP-219
//     (the client does not back off by itself) the response itself is
//     delayed instead, as Kafka did before.
//   - Handler time counts against the tenant's request time share when a
//     Quotas is configured; its throttle joins the handler's (the larger
//     wins).
//   - A new connection is admitted against its tenant's connection count
//     and rate once its tenant is known: at accept on a listener without
//     authentication, after SASL authentication otherwise. A refused
//     connection is closed with a log line; a SASL client has seen its
//     authentication succeed, so it retries as after any lost connection.

// Quotas is what the wire layer asks of the tenants' quotas.
type Quotas interface {
	// AdmitConnection counts a new connection of a tenant, or refuses it
	// with an error saying why. release is called once when it closes.
	AdmitConnection(tenant string) (release func(), err error)
	// RequestTime records the time a tenant's request took to handle and
	// returns how long the tenant must be held back.
	RequestTime(tenant string, d time.Duration) time.Duration
}

// throttler is a response with a throttle_time_ms field (all of them but
// a few early versions).
type throttler interface {
	Throttle() (millis int32, clientBacksOff bool)
	SetThrottle(millis int32)
}

// applyThrottle raises resp's throttle_time_ms to d and reports whether the
// client backs off by itself after the response (KIP-219).
func applyThrottle(resp kmsg.Response, d time.Duration) (clientBacksOff bool) {
	t, ok := resp.(throttler)
	if !ok {
		return true // no field to tell the client; hold back after sending
	}
	ms := int32(min(d.Milliseconds(), int64(1<<31-1)))
	cur, after := t.Throttle()
	if ms > cur {
		t.SetThrottle(ms)
	}
	return after
}

// holdBack waits d, or until ctx ends (shutdown), with the connection muted
// for the reader meanwhile.
func (c *conn) holdBack(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	c.mutedUntil.Store(time.Now().Add(d).UnixNano())
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// waitUnmuted keeps the reader from reading while the connection is held
// back, so that the client's further requests wait in its socket, as on a
// muted Kafka channel.
func (c *conn) waitUnmuted() {
	until := c.mutedUntil.Load()
	if until == 0 {
		return
	}
	if d := time.Until(time.Unix(0, until)); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.done:
		case <-c.srv.ctx.Done(): // shutting down: the reader must see its deadline
		}
	}
}

// admit asks the quotas to admit the connection once its tenant is known.
func (c *conn) admit() (release func(), err error) {
	if c.srv.cfg.Quotas == nil {
		return func() {}, nil
	}
	return c.srv.cfg.Quotas.AdmitConnection(c.info.Tenant)
}

package wire

// Broker-wide bounds on what connections hold, so that overload is
// backpressure, not an out-of-memory crash: at most MaxConnections
// connections, and at most MaxQueuedBytes of large requests read and not
// yet handled. A connection that would pass the byte bound stops reading
// (its client's sends then block in TCP) until handled requests free room.
// Requests of at most smallFrame bytes do not count: fetches, heartbeats
// and the other small requests always get through, so a pool full of
// produce requests waiting for acks=all cannot starve the follower fetches
// they wait for; per connection they are bounded by MaxQueuedRequests.

import (
	"context"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// smallFrame is the largest request that does not count against
// MaxQueuedBytes.
const smallFrame = 64 << 10

// limits holds a server's broker-wide bounds.
type limits struct {
	queued *semaphore.Weighted // nil: unbounded
	// lastRefusal is when a refused connection was last logged (Unix ns):
	// one line a second at most.
	lastRefusal atomic.Int64
}

func newLimits(cfg Config) *limits {
	l := &limits{}
	if cfg.MaxQueuedBytes > 0 {
		l.queued = semaphore.NewWeighted(cfg.MaxQueuedBytes)
	}
	return l
}

// hold reserves room for a request body of size bytes; it returns the
// bytes to release once the request is handled (0 when it does not
// count), or an error when ctx ends first.
func (l *limits) hold(ctx context.Context, size int32) (int64, error) {
	if l.queued == nil || size <= smallFrame {
		return 0, nil
	}
	n := int64(size)
	if err := l.queued.Acquire(ctx, n); err != nil {
		return 0, err
	}
	return n, nil
}

func (l *limits) release(n int64) {
	if n > 0 {
		l.queued.Release(n)
	}
}

func (s *Server) refuseConnection(remote string) {
	now := time.Now().UnixNano()
	if last := s.limits.lastRefusal.Load(); now-last >= int64(time.Second) && s.limits.lastRefusal.CompareAndSwap(last, now) {
		s.log.Warn("refusing connection: max.connections reached", "remote", remote, "max", s.cfg.MaxConnections)
	}
	s.metrics.refused.Inc()
}

package tenant

// Capacity scaling, as Kora does: a broker has byte rate limits of its own
// (QuotaConfig.ProduceCapacity, FetchCapacity). When the quotas of the
// tenants active on it add up to more than that, every tenant's quota is
// scaled down by the same factor, capacity / sum, so that each keeps its
// share in proportion to what it pays for and the broker is never driven
// past its limit (backpressure instead of collapse). A tenant without a
// quota counts with the whole capacity. Active means it produced (or
// fetched) within the last quota window.

import (
	"time"

	"github.com/strata-db/strata/internal/meta"
)

// scaleRecompute bounds how often a scale is recomputed: it walks every
// tracked tenant.
const scaleRecompute = 100 * time.Millisecond

type capacityScale struct {
	factor float64
	at     time.Time
}

// limit is the byte rate (or, for request time, milliseconds per second)
// a tenant is held to: its quota scaled to the broker's capacity, the
// capacity itself without a quota; false: no limit.
func (m *QuotaManager) limit(kind int, quota *int64, now time.Time) (float64, bool) {
	capacity := m.capacity(kind)
	if capacity <= 0 {
		if quota == nil {
			return 0, false
		}
		return float64(*quota), true
	}
	q := capacity
	if quota != nil {
		q = min(float64(*quota), capacity)
	}
	return q * m.scale(kind, now), true
}

func (m *QuotaManager) capacity(kind int) float64 {
	switch kind {
	case quotaProduce:
		return m.cfg.ProduceCapacity
	case quotaFetch:
		return m.cfg.FetchCapacity
	}
	return 0
}

// Scale returns the current capacity scale of produce (fetch false) or
// fetch quotas: 1 while the active tenants' quotas fit the capacity.
func (m *QuotaManager) Scale(fetch bool) float64 {
	kind := quotaProduce
	if fetch {
		kind = quotaFetch
	}
	if m.capacity(kind) <= 0 {
		return 1
	}
	return m.scale(kind, m.cfg.Now())
}

func (m *QuotaManager) scale(kind int, now time.Time) float64 {
	m.scaleMu.Lock()
	defer m.scaleMu.Unlock()
	sc := &m.scales[kind]
	if !sc.at.IsZero() && now.Sub(sc.at) < scaleRecompute {
		return sc.factor
	}
	capacity := m.capacity(kind)
	since := now.Add(-m.cfg.Rates.Window()).UnixNano()
	m.mu.RLock()
	active := make([]meta.TenantID, 0, len(m.tenants))
	for id, s := range m.tenants {
		if s.lastActive[kind].Load() >= since {
			active = append(active, id)
		}
	}
	m.mu.RUnlock()
	sum := 0.0
	for _, id := range active {
		q := m.quotas(id)
		quota := q.ProduceBytesRate
		if kind == quotaFetch {
			quota = q.FetchBytesRate
		}
		if quota == nil {
			sum += capacity
		} else {
			sum += min(float64(*quota), capacity)
		}
	}
	sc.factor, sc.at = 1, now
	if sum > capacity {
		sc.factor = capacity / sum
	}
	return sc.factor
}

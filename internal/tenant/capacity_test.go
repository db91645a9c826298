package tenant

import (
	"testing"
	"time"

	"github.com/strata-db/strata/internal/meta"
)

// TestCapacityScale: under a broker produce capacity of 1,000 B/s, one
// active tenant with a quota of 1,000 keeps it; two halve theirs (each is
// throttled as a tenant of quota 500 would be); once one has been idle
// for a window the other has its whole quota back; a tenant without a
// quota is held to the capacity share.
func TestCapacityScale(t *testing.T) {
	f := &fakeQuotas{now: t0, quotas: map[meta.TenantID]meta.Quotas{
		"lc-a": {ProduceBytesRate: n64(1000)}, "lc-b": {ProduceBytesRate: n64(1000)}, "lc-free": {},
	}}
	m := NewQuotaManager(QuotaConfig{
		Lookup:          func(id meta.TenantID) (meta.Quotas, bool) { q, ok := f.quotas[id]; return q, ok },
		ProduceCapacity: 1000,
		Now:             func() time.Time { return f.now },
	})
	// The throttle a fresh tenant of a given quota gets for 2,000 bytes.
	want := func(quota int64) time.Duration {
		ref := &fakeQuotas{now: f.now, quotas: map[meta.TenantID]meta.Quotas{"lc-r": {ProduceBytesRate: n64(quota)}}}
		return ref.manager().Produce("lc-r", 2000)
	}
	if got, w := m.Produce("lc-a", 2000), want(1000); got != w || m.Scale(false) != 1 {
		t.Fatalf("alone: throttle %v, want %v; scale %v", got, w, m.Scale(false))
	}
	f.now = f.now.Add(time.Second)
	m.Produce("lc-b", 1)
	f.now = f.now.Add(scaleRecompute)
	if s := m.Scale(false); s != 0.5 {
		t.Fatalf("two active tenants: scale %v, want 0.5", s)
	}
	// A fresh tenant of quota 1,000 scaled by 0.5 is throttled as one of 500.
	f.quotas["lc-c"] = meta.Quotas{ProduceBytesRate: n64(1000)}
	f.quotas["lc-b"] = meta.Quotas{ProduceBytesRate: n64(1000)}
	if got := m.Produce("lc-c", 2000); got < want(500)*9/10 {
		t.Fatalf("scaled: throttle %v, want about %v", got, want(500))
	}
	// Everyone idle for a window: the scale is back to 1.
	f.now = f.now.Add(12 * time.Second)
	if s := m.Scale(false); s != 1 {
		t.Fatalf("after idling: scale %v", s)
	}
	// No quota: held to the capacity.
	if got, w := m.Produce("lc-free", 2000), want(1000); got != w {
		t.Fatalf("no quota under capacity: throttle %v, want %v", got, w)
	}
}

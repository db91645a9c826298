package tenant

import (
	"errors"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/meta"
	"github.com/twmb/franz-go/pkg/kerr"
)

// fakeQuotas is a QuotaManager over a fixed clock and quota table.
type fakeQuotas struct {
	now     time.Time
	quotas  map[meta.TenantID]meta.Quotas
	storage int64
}

func (f *fakeQuotas) manager() *QuotaManager {
	return NewQuotaManager(QuotaConfig{
		Lookup: func(id meta.TenantID) (meta.Quotas, bool) {
			q, ok := f.quotas[id]
			return q, ok
		},
		StorageBytes: func(meta.TenantID) int64 { return f.storage },
		Now:          func() time.Time { return f.now },
	})
}

func n64(v int64) *int64 { return &v }

func TestQuotaManagerRates(t *testing.T) {
	f := &fakeQuotas{now: t0, quotas: map[meta.TenantID]meta.Quotas{
		"lc-a": {ProduceBytesRate: n64(1000), FetchBytesRate: n64(1000), RequestPercentage: n64(10)},
		"lc-b": {},
	}}
	m := f.manager()
	if th := m.Produce("lc-a", 2000); th != 2*time.Second {
		t.Fatalf("produce throttle %v, want 2s", th)
	}
	if th := m.Produce("lc-b", 1e9); th != 0 {
		t.Fatalf("unlimited tenant throttled %v", th)
	}
	// Fetch: nothing owed before the first read; owed after it, until
	// the time passes.
	if th := m.FetchThrottle("lc-a"); th != 0 {
		t.Fatalf("fresh fetch throttle %v", th)
	}
	if th := m.Fetch("lc-a", 500); th != 500*time.Millisecond {
		t.Fatalf("fetch throttle %v", th)
	}
	f.now = f.now.Add(200 * time.Millisecond)
	if th := m.FetchThrottle("lc-a"); th != 300*time.Millisecond {
		t.Fatalf("owed fetch throttle %v, want 300ms", th)
	}
	// 10% of a handler: 100 ms per second.
	if th := m.RequestTime("lc-a", 300*time.Millisecond); th != 3*time.Second {
		t.Fatalf("request time throttle %v, want 3s", th)
	}
}

func TestQuotaManagerConnections(t *testing.T) {
	f := &fakeQuotas{now: t0, quotas: map[meta.TenantID]meta.Quotas{"lc-a": {Connections: n64(2), ConnectionRate: n64(3)}}}
	m := f.manager()
	r1, err1 := m.AdmitConnection("lc-a")
	_, err2 := m.AdmitConnection("lc-a")
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if _, err := m.AdmitConnection("lc-a"); !errors.Is(err, ErrConnectionQuota) {
		t.Fatalf("third connection: %v", err)
	}
	r1()
	r1() // release is idempotent
	if n := m.Connections("lc-a"); n != 1 {
		t.Fatalf("%d open after a release, want 1", n)
	}
	// The third admitted connection within a second uses up the rate.
	if _, err := m.AdmitConnection("lc-a"); err != nil {
		t.Fatal(err)
	}
	f.quotas["lc-a"] = meta.Quotas{ConnectionRate: n64(3)}
	if _, err := m.AdmitConnection("lc-a"); !errors.Is(err, ErrConnectionQuota) {
		t.Fatalf("fourth connection within a second: %v", err)
	}
	f.now = f.now.Add(1100 * time.Millisecond)
	if _, err := m.AdmitConnection("lc-a"); err != nil {
		t.Fatalf("a second later: %v", err)
	}
}

func TestQuotaManagerMutationsAndStorage(t *testing.T) {
	f := &fakeQuotas{now: t0, quotas: map[meta.TenantID]meta.Quotas{"lc-a": {PartitionCreationRate: n64(2), StorageBytes: n64(100)}}}
	m := f.manager()
	// Burst: 11 s of 2/s = 22 tokens.
	for i, want := range []bool{true, true, false} {
		if ok, _ := m.Mutate("lc-a", 20, true); ok != want {
			t.Fatalf("mutation %d: %v", i, ok)
		}
	}
	if ok, th := m.Mutate("lc-a", 1, false); !ok || th != 9500*time.Millisecond {
		t.Fatalf("lenient mutation: %v %v", ok, th)
	}
	if err := m.CheckStorage("lc-a"); err != nil {
		t.Fatal(err)
	}
	f.storage = 100
	if err := m.CheckStorage("lc-a"); err != nil {
		t.Fatalf("measurement reused within a second: %v", err)
	}
	f.now = f.now.Add(time.Second)
	if err := m.CheckStorage("lc-a"); !errors.Is(err, kerr.PolicyViolation) {
		t.Fatalf("at the quota: %v", err)
	}
}

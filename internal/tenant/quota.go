package tenant

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-db/strata/internal/meta"
	"github.com/twmb/franz-go/pkg/kerr"
)

// QuotaManager enforces a broker's share of the tenants' quotas (values
// from meta.Quotas in the current image): it measures what each tenant
// does on this broker and answers how long a tenant must be held back
// (KIP-13, KIP-219), whether a connection may open, whether a partition
// mutation may go ahead (KIP-599) and whether the tenant's storage is
// full. It also meters every tenant, quotas or not: bytes produced and
// fetched, requests and their handling time (Stats), what a bill is
// computed from. Every method is safe for concurrent use; each tenant's
// state has its own lock, held only for arithmetic.
type QuotaManager struct {
	cfg QuotaConfig

	mu      sync.RWMutex
	tenants map[meta.TenantID]*quotaState
	// nextPrune is the map size at which deleted tenants are forgotten.
	nextPrune int

	// scales are the produce and fetch capacity scales (capacity.go),
	// recomputed at most every scaleRecompute.
	scaleMu sync.Mutex
	scales  [2]capacityScale
}

// ImageLookup is QuotaConfig.Lookup over a metadata image source.
func ImageLookup(image func() *meta.Image) func(meta.TenantID) (meta.Quotas, bool) {
	return func(id meta.TenantID) (meta.Quotas, bool) {
		im := image()
		if _, ok := im.Tenant(id); !ok {
			return meta.Quotas{}, false
		}
		return im.Quotas(id), true
	}
}

// QuotaConfig holds a QuotaManager's dependencies.
type QuotaConfig struct {
	// Lookup returns a tenant's quotas and whether the tenant exists, from
	// the current metadata image (ImageLookup).
	Lookup func(meta.TenantID) (meta.Quotas, bool)
	// Rates shapes the byte and request-time windows (Kafka's 11 x 1 s by
	// default).
	Rates RateConfig
	// MutationBurst is how many seconds of the partition creation rate a
	// tenant may use at once (Kafka: quota.window.num x
	// quota.window.size.seconds, 11).
	MutationBurst time.Duration
	// StorageBytes returns the bytes of a tenant's partition logs on this
	// broker; nil: storage is not limited.
	StorageBytes func(meta.TenantID) int64
	// StorageRecheck is how long a storage measurement is reused.
	StorageRecheck time.Duration
	// ProduceCapacity and FetchCapacity are this broker's own byte rate
	// limits (bytes/s; 0: none). Near them, every tenant's byte rate
	// quota is scaled down in proportion (capacity.go).
	ProduceCapacity, FetchCapacity float64
	// Now is the clock; time.Now by default.
	Now func() time.Time
}

type quotaState struct {
	mu        sync.Mutex
	produce   *Rate
	fetch     *Rate
	request   *Rate
	connRate  *Rate
	conns     int64
	mutations TokenBucket
	// lastActive is when the tenant last produced and fetched (Unix ns),
	// for the capacity scale.
	lastActive [2]atomic.Int64
	// storage is the last measurement of the tenant's bytes, taken at
	// storageAt.
	storage   int64
	storageAt time.Time
	// Counters for Stats.
	bytes       [2]int64 // by quotaProduce, quotaFetch
	requests    int64
	requestTime time.Duration
	throttled   [quotaKinds]time.Duration
	refused     int64
}

// Kinds of throttle, indexes of quotaState.throttled and names in Stats.
const (
	quotaProduce = iota
	quotaFetch
	quotaRequest
	quotaMutation
	quotaKinds
)

var quotaKindNames = [quotaKinds]string{"produce", "fetch", "request", "mutation"}

// QuotaStats is what one tenant did on this broker since it started, and
// what its quotas did to it. Tenants are tracked once they connect.
type QuotaStats struct {
	Tenant meta.TenantID
	// ProduceBytes are record batch bytes appended, FetchBytes returned
	// to consumers; Requests and RequestTime count every request handled
	// and its handling time (waits excluded, as for request_percentage).
	ProduceBytes, FetchBytes int64
	Requests                 int64
	RequestTime              time.Duration
	// Throttled is the throttle time handed out, by quota: produce, fetch,
	// request, mutation.
	Throttled          map[string]time.Duration
	Connections        int64
	RefusedConnections int64
}

// Stats returns the tracked tenants' counters, in no particular order.
func (m *QuotaManager) Stats() []QuotaStats {
	m.mu.RLock()
	states := make(map[meta.TenantID]*quotaState, len(m.tenants))
	for id, s := range m.tenants {
		states[id] = s
	}
	m.mu.RUnlock()
	out := make([]QuotaStats, 0, len(states))
	for id, s := range states {
		s.mu.Lock()
		st := QuotaStats{Tenant: id, ProduceBytes: s.bytes[quotaProduce], FetchBytes: s.bytes[quotaFetch],
			Requests: s.requests, RequestTime: s.requestTime,
			Throttled: map[string]time.Duration{}, Connections: s.conns, RefusedConnections: s.refused}
		for k, d := range s.throttled {
			st.Throttled[quotaKindNames[k]] = d
		}
		s.mu.Unlock()
		out = append(out, st)
	}
	return out
}

// connRateConfig counts connections over the last second in ten steps.
var connRateConfig = RateConfig{Samples: 10, SampleLength: 100 * time.Millisecond}

// NewQuotaManager returns a manager with cfg's gaps filled.
func NewQuotaManager(cfg QuotaConfig) *QuotaManager {
	if cfg.Rates.Samples == 0 {
		cfg.Rates = DefaultRateConfig()
	}
	if cfg.MutationBurst == 0 {
		cfg.MutationBurst = cfg.Rates.Window()
	}
	if cfg.StorageRecheck == 0 {
		cfg.StorageRecheck = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &QuotaManager{cfg: cfg, tenants: map[meta.TenantID]*quotaState{}, nextPrune: 16}
}

// state returns a tenant's state, created on first use. Tenants that no
// longer exist are forgotten whenever the map has doubled since the last
// sweep, so it stays bounded by the tenants that exist.
func (m *QuotaManager) state(tenant meta.TenantID) *quotaState {
	m.mu.RLock()
	s, ok := m.tenants[tenant]
	m.mu.RUnlock()
	if ok {
		return s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.tenants[tenant]; ok {
		return s
	}
	if len(m.tenants) >= m.nextPrune {
		for id := range m.tenants {
			if _, ok := m.cfg.Lookup(id); !ok {
				delete(m.tenants, id)
			}
		}
		m.nextPrune = 2*len(m.tenants) + 16
	}
	s = &quotaState{
		produce: NewRate(m.cfg.Rates), fetch: NewRate(m.cfg.Rates), request: NewRate(m.cfg.Rates),
		connRate: NewRate(connRateConfig),
	}
	m.tenants[tenant] = s
	return s
}

func (m *QuotaManager) quotas(tenant meta.TenantID) meta.Quotas {
	q, _ := m.cfg.Lookup(tenant)
	return q
}

// recordRate meters v and, if the quota is set, records it into the rate
// of its kind and returns the throttle.
func (m *QuotaManager) recordRate(tenant meta.TenantID, quota *int64, kind int, v float64) time.Duration {
	s := m.state(tenant)
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.request
	switch kind {
	case quotaProduce:
		r = s.produce
		s.bytes[kind] += int64(v)
	case quotaFetch:
		r = s.fetch
		s.bytes[kind] += int64(v)
	case quotaRequest:
		s.requests++
		s.requestTime += time.Duration(v * float64(time.Millisecond))
	}
	now := m.cfg.Now()
	if kind == quotaProduce || kind == quotaFetch {
		s.lastActive[kind].Store(now.UnixNano())
	}
	limit, limited := m.limit(kind, quota, now)
	if !limited {
		return 0
	}
	r.Record(now, v)
	th := r.Throttle(now, limit)
	s.throttled[kind] += th
	return th
}

// Produce records bytes appended for a tenant and returns how long the
// tenant's connection must then be held back.
func (m *QuotaManager) Produce(tenant meta.TenantID, bytes int) time.Duration {
	return m.recordRate(tenant, m.quotas(tenant).ProduceBytesRate, quotaProduce, float64(bytes))
}

// FetchThrottle is how long a tenant is still over its fetch quota; a
// fetch that arrives meanwhile is answered empty with this throttle
// (KIP-219: throttle before reading).
func (m *QuotaManager) FetchThrottle(tenant meta.TenantID) time.Duration {
	now := m.cfg.Now()
	limit, limited := m.limit(quotaFetch, m.quotas(tenant).FetchBytesRate, now)
	if !limited {
		return 0
	}
	s := m.state(tenant)
	s.mu.Lock()
	defer s.mu.Unlock()
	th := s.fetch.Throttle(now, limit)
	s.throttled[quotaFetch] += th
	return th
}

// Fetch records bytes returned to a tenant and returns the throttle.
func (m *QuotaManager) Fetch(tenant meta.TenantID, bytes int) time.Duration {
	return m.recordRate(tenant, m.quotas(tenant).FetchBytesRate, quotaFetch, float64(bytes))
}

// RequestTime records time spent handling a tenant's request and returns
// the throttle: request_percentage is a percentage of one handler's time,
// so a quota of 50 allows half a second of handling per second.
func (m *QuotaManager) RequestTime(tenant meta.TenantID, d time.Duration) time.Duration {
	v := float64(d) / float64(time.Millisecond)
	q := m.quotas(tenant).RequestPercentage
	if q == nil {
		return m.recordRate(tenant, nil, quotaRequest, v)
	}
	// Measured in milliseconds: a quota of p percent is 10*p ms per second.
	ms := 10 * *q
	return m.recordRate(tenant, &ms, quotaRequest, v)
}

// ErrConnectionQuota refuses a connection over its tenant's connection
// count or rate.
var ErrConnectionQuota = fmt.Errorf("tenant connection quota exceeded")

// AdmitConnection counts a new connection of a tenant, or refuses it when
// the tenant has its quota of open connections on this broker or has
// opened its quota of connections within the last second. A refused
// attempt is not counted. release must be called once when an admitted
// connection closes.
func (m *QuotaManager) AdmitConnection(tenant meta.TenantID) (release func(), err error) {
	q := m.quotas(tenant)
	s := m.state(tenant)
	now := m.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if q.Connections != nil && s.conns >= *q.Connections {
		s.refused++
		return nil, fmt.Errorf("%w: %d of %d connections open", ErrConnectionQuota, s.conns, *q.Connections)
	}
	if q.ConnectionRate != nil {
		if n, _ := s.connRate.Total(now); n >= float64(*q.ConnectionRate) {
			s.refused++
			return nil, fmt.Errorf("%w: %d new connections in the last second, the quota is %d/s", ErrConnectionQuota, int64(n), *q.ConnectionRate)
		}
	}
	s.connRate.Record(now, 1)
	s.conns++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.conns--
			s.mu.Unlock()
		})
	}, nil
}

// Connections is how many admitted connections of the tenant are open.
func (m *QuotaManager) Connections(tenant meta.TenantID) int64 {
	s := m.state(tenant)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns
}

// Mutate asks to create or delete partitions of a tenant (KIP-599). With
// strict (CreateTopics v6+, CreatePartitions v3+, DeleteTopics v5+) a
// mutation is refused while the tenant's bucket is negative; otherwise it
// is always admitted. The throttle is the time until the bucket is back at
// zero.
func (m *QuotaManager) Mutate(tenant meta.TenantID, partitions int, strict bool) (ok bool, throttle time.Duration) {
	q := m.quotas(tenant).PartitionCreationRate
	if q == nil {
		return true, 0
	}
	s := m.state(tenant)
	s.mu.Lock()
	defer s.mu.Unlock()
	rate := float64(*q)
	ok, throttle = s.mutations.Take(m.cfg.Now(), float64(partitions), rate, rate*m.cfg.MutationBurst.Seconds(), strict)
	s.throttled[quotaMutation] += throttle
	return ok, throttle
}

// CheckStorage fails with POLICY_VIOLATION when the tenant's partition
// logs on this broker hold its storage quota or more. The measurement is
// reused for StorageRecheck, so a burst of produce requests may pass the
// quota by what arrives within that time.
func (m *QuotaManager) CheckStorage(tenant meta.TenantID) error {
	q := m.quotas(tenant).StorageBytes
	if q == nil || m.cfg.StorageBytes == nil {
		return nil
	}
	s := m.state(tenant)
	now := m.cfg.Now()
	s.mu.Lock()
	if s.storageAt.IsZero() || now.Sub(s.storageAt) >= m.cfg.StorageRecheck {
		s.storage, s.storageAt = m.cfg.StorageBytes(tenant), now
	}
	used := s.storage
	s.mu.Unlock()
	if used >= *q {
		return fmt.Errorf("%w: the tenant stores %d bytes, its storage quota is %d", kerr.PolicyViolation, used, *q)
	}
	return nil
}

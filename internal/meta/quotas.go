package meta

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Quotas of a tenant live in the metadata log (SetQuotas), so every broker
// of a cluster enforces the same values. A nil field is unlimited. Rates
// are enforced per broker (each broker measures the traffic it serves, as
// Kafka's client quotas are per broker); counts and sizes (partitions) are
// checked when the record that would exceed them is applied, so two
// brokers creating partitions at once cannot together pass the limit.
//
// Deleting a tenant deletes its quotas.
type Quotas struct {
	// ProduceBytesRate and FetchBytesRate are bytes per second of record
	// batches appended and returned (Kafka's producer_byte_rate and
	// consumer_byte_rate).
	ProduceBytesRate *int64 `json:"produceBytesRate,omitempty"`
	FetchBytesRate   *int64 `json:"fetchBytesRate,omitempty"`
	// RequestPercentage is the share of one request handler thread's time,
	// in percent (Kafka's request_percentage).
	RequestPercentage *int64 `json:"requestPercentage,omitempty"`
	// Connections bounds the tenant's open connections per broker;
	// ConnectionRate its new connections per second per broker.
	Connections    *int64 `json:"connections,omitempty"`
	ConnectionRate *int64 `json:"connectionRate,omitempty"`
	// Partitions bounds the partitions of all the tenant's topics;
	// PartitionCreationRate the partitions created or deleted per second
	// (Kafka's controller_mutation_rate).
	Partitions            *int64 `json:"partitions,omitempty"`
	PartitionCreationRate *int64 `json:"partitionCreationRate,omitempty"`
	// StorageBytes bounds the bytes of the tenant's partition logs.
	StorageBytes *int64 `json:"storageBytes,omitempty"`
}

// QuotaField is one quota's name (as in JSON) and where it is in Quotas.
type QuotaField struct {
	Name string
	Get  func(*Quotas) **int64
}

// QuotaFields lists every quota, in a stable order.
var QuotaFields = []QuotaField{
	{"produceBytesRate", func(q *Quotas) **int64 { return &q.ProduceBytesRate }},
	{"fetchBytesRate", func(q *Quotas) **int64 { return &q.FetchBytesRate }},
	{"requestPercentage", func(q *Quotas) **int64 { return &q.RequestPercentage }},
	{"connections", func(q *Quotas) **int64 { return &q.Connections }},
	{"connectionRate", func(q *Quotas) **int64 { return &q.ConnectionRate }},
	{"partitions", func(q *Quotas) **int64 { return &q.Partitions }},
	{"partitionCreationRate", func(q *Quotas) **int64 { return &q.PartitionCreationRate }},
	{"storageBytes", func(q *Quotas) **int64 { return &q.StorageBytes }},
}

// Validate refuses negative values.
func (q *Quotas) Validate() error {
	for _, f := range QuotaFields {
		if v := *f.Get(q); v != nil && *v < 0 {
			return fmt.Errorf("%w: quota %s is %d; quotas must not be negative", kerr.InvalidRequest, f.Name, *v)
		}
	}
	return nil
}

// IsZero reports whether no quota is set.
func (q *Quotas) IsZero() bool {
	for _, f := range QuotaFields {
		if *f.Get(q) != nil {
			return false
		}
	}
	return true
}

// SetQuotas changes a tenant's quotas: with Replace they become exactly
// Set; otherwise the fields set in Set are changed and those named in
// Unset removed (made unlimited).
type SetQuotas struct {
	Tenant  TenantID `json:"tenant"`
	Set     Quotas   `json:"set"`
	Unset   []string `json:"unset,omitempty"`
	Replace bool     `json:"replace,omitempty"`
}

// Quotas returns a tenant's quotas (all nil: unlimited).
func (im *Image) Quotas(tenant TenantID) Quotas {
	if q, ok := im.quotas[tenant]; ok {
		return *q
	}
	return Quotas{}
}

// mergeQuotas applies a SetQuotas to old.
func mergeQuotas(old Quotas, s *SetQuotas) (Quotas, error) {
	out := old
	if s.Replace {
		out = Quotas{}
	}
	for _, name := range s.Unset {
		found := false
		for _, f := range QuotaFields {
			if f.Name == name {
				*f.Get(&out) = nil
				found = true
			}
		}
		if !found {
			return Quotas{}, fmt.Errorf("%w: unknown quota %q", kerr.InvalidRequest, name)
		}
	}
	set := s.Set
	for _, f := range QuotaFields {
		if v := *f.Get(&set); v != nil {
			c := *v
			*f.Get(&out) = &c
		}
	}
	return out, out.Validate()
}

func (im *Image) applySetQuotas(s *SetQuotas) error {
	if _, ok := im.Tenant(s.Tenant); !ok {
		return fmt.Errorf("%w: %s", ErrTenantNotFound, s.Tenant)
	}
	q, err := mergeQuotas(im.Quotas(s.Tenant), s)
	if err != nil {
		return err
	}
	im.quotas = copyMap(im.quotas, 1)
	if q.IsZero() {
		delete(im.quotas, s.Tenant)
	} else {
		im.quotas[s.Tenant] = &q
	}
	return nil
}

// tenantPartitions counts the partitions of a tenant's topics.
func (im *Image) tenantPartitions(tenant TenantID) int64 {
	n := int64(0)
	for k, t := range im.byKey {
		if k.Tenant == tenant {
			n += int64(len(t.Partitions))
		}
	}
	return n
}

// checkPartitionQuota fails with POLICY_VIOLATION when adding partitions
// to the tenant would pass its partition quota.
func (im *Image) checkPartitionQuota(tenant TenantID, adding int) error {
	q, ok := im.quotas[tenant]
	if !ok || q.Partitions == nil {
		return nil
	}
	have := im.tenantPartitions(tenant)
	if have+int64(adding) > *q.Partitions {
		return fmt.Errorf("%w: the tenant has %d partitions; %d more would exceed its partition quota of %d",
			kerr.PolicyViolation, have, adding, *q.Partitions)
	}
	return nil
}

// SetQuotas commits a change of a tenant's quotas and returns the quotas
// it left.
func (s *Store) SetQuotas(ctx context.Context, c *SetQuotas) (Quotas, error) {
	if _, err := mergeQuotas(Quotas{}, &SetQuotas{Set: c.Set, Unset: c.Unset}); err != nil {
		return Quotas{}, err // a clear error before proposing
	}
	if err := s.proposeOne(ctx, Record{TenantRecords: TenantRecords{SetQuotas: c}}); err != nil {
		return Quotas{}, err
	}
	return s.Image().Quotas(c.Tenant), nil
}

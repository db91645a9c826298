package api

// DescribeClientQuotas, v0-v1 (KIP-546). A tenant sees its own quotas,
// which all its API keys share, as one entity: user=<tenant id>. The
// values use Kafka's names where Kafka has the quota:
//
//	producer_byte_rate        produceBytesRate
//	consumer_byte_rate        fetchBytesRate
//	request_percentage        requestPercentage
//	connection_creation_rate  connectionRate
//	controller_mutation_rate  partitionCreationRate
//
// and Strata's own names for the rest: strata.connections,
// strata.partitions, strata.storage.bytes. Unlimited quotas are left out;
// a tenant without quotas has no entry. Filters follow Kafka: a component
// for "user" matches by exact name (the tenant id) or any name, never the
// default (there is no default entity); a component for "client-id" or
// "ip" matches nothing, since the entity has no such part. Describing
// needs DESCRIBE_CONFIGS on the cluster, as in Kafka.

import (
	"context"
	"fmt"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeClientQuotas, 0, 1, (*Handlers).describeClientQuotas) }

// quotaKeys maps Kafka's quota keys (and Strata's) to a tenant's quotas.
var quotaKeys = []struct {
	key string
	get func(*meta.Quotas) *int64
}{
	{"producer_byte_rate", func(q *meta.Quotas) *int64 { return q.ProduceBytesRate }},
	{"consumer_byte_rate", func(q *meta.Quotas) *int64 { return q.FetchBytesRate }},
	{"request_percentage", func(q *meta.Quotas) *int64 { return q.RequestPercentage }},
	{"connection_creation_rate", func(q *meta.Quotas) *int64 { return q.ConnectionRate }},
	{"controller_mutation_rate", func(q *meta.Quotas) *int64 { return q.PartitionCreationRate }},
	{"strata.connections", func(q *meta.Quotas) *int64 { return q.Connections }},
	{"strata.partitions", func(q *meta.Quotas) *int64 { return q.Partitions }},
	{"strata.storage.bytes", func(q *meta.Quotas) *int64 { return q.StorageBytes }},
}

const quotaEntityUser = "user"

func (h *Handlers) describeClientQuotas(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.DescribeClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	if !h.allowedCluster(r, kmsg.ACLOperationDescribeConfigs) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	tenant := tenantOf(r)
	match, err := quotaFilterMatches(req, string(tenant))
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp, nil
	}
	q := h.cfg.Meta.Image().Quotas(tenant)
	if !match || q.IsZero() {
		return resp, nil
	}
	e := kmsg.NewDescribeClientQuotasResponseEntry()
	ent := kmsg.NewDescribeClientQuotasResponseEntryEntity()
	ent.Type, ent.Name = quotaEntityUser, kmsg.StringPtr(string(tenant))
	e.Entity = append(e.Entity, ent)
	for _, k := range quotaKeys {
		if v := k.get(&q); v != nil {
			val := kmsg.NewDescribeClientQuotasResponseEntryValue()
			val.Key, val.Value = k.key, float64(*v)
			e.Values = append(e.Values, val)
		}
	}
	resp.Entries = append(resp.Entries, e)
	return resp, nil
}

// quotaFilterMatches reports whether the tenant's one entity, user=<tenant>,
// passes the request's filter, or INVALID_REQUEST for a filter Kafka
// refuses.
func quotaFilterMatches(req *kmsg.DescribeClientQuotasRequest, tenant string) (bool, error) {
	seen := map[string]bool{}
	match := true
	for _, c := range req.Components {
		switch c.EntityType {
		case quotaEntityUser, "client-id", "ip":
		default:
			return false, fmt.Errorf("%w: unknown entity type %q", kerr.InvalidRequest, c.EntityType)
		}
		if seen[c.EntityType] {
			return false, fmt.Errorf("%w: entity type %q appears twice", kerr.InvalidRequest, c.EntityType)
		}
		seen[c.EntityType] = true
		switch c.MatchType {
		case kmsg.QuotasMatchTypeExact:
			if c.Match == nil {
				return false, fmt.Errorf("%w: exact match of %q without a name", kerr.InvalidRequest, c.EntityType)
			}
			match = match && c.EntityType == quotaEntityUser && *c.Match == tenant
		case kmsg.QuotasMatchTypeDefault:
			match = false
		case kmsg.QuotasMatchTypeAny:
			match = match && c.EntityType == quotaEntityUser
		default:
			return false, fmt.Errorf("%w: unknown match type %d", kerr.InvalidRequest, c.MatchType)
		}
	}
	// Strict: the entity may have no part the filter does not name.
	if req.Strict && !seen[quotaEntityUser] {
		match = false
	}
	return match, nil
}

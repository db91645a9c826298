package api

// Requests between Strata brokers. Kafka's inter-broker APIs name topics
// and transactional ids without a tenant; a Strata broker sending one on
// behalf of a tenant's transaction (WriteTxnMarkers, AddPartitionsToTxn
// v4+ verification) names the tenant in a tagged field of the request's
// marker or transaction, under TenantTag, which Kafka clients never send.
// SystemTenant there, with the topic __consumer_offsets, names the offsets
// topic's partition of a transaction (coord.TxnPartition.Offsets).
//
// Like replica fetches, these requests are not authenticated yet: the
// listener security of the tenancy issue must restrict the tag to broker
// connections.

import (
	"github.com/strata-db/strata/internal/coord"
	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TenantTag is the tag of the tenant field ("ST" in ASCII).
const TenantTag uint32 = 0x5354

// TenantTags returns the tagged fields that name tenant.
func TenantTags(tenant meta.TenantID) kmsg.Tags {
	var tags kmsg.Tags
	tags.Set(TenantTag, []byte(tenant))
	return tags
}

// taggedTenant returns the tenant a request's tagged fields name, and
// whether they name one; without the tag it is the connection's.
func taggedTenant(tags kmsg.Tags, r *wire.Request) (meta.TenantID, bool) {
	var tenant []byte
	found := false
	tags.Each(func(key uint32, val []byte) {
		if key == TenantTag {
			tenant, found = val, true
		}
	})
	if !found || authenticated(r) {
		// A tenant's connection names only its own tenant.
		return tenantOf(r), false
	}
	return meta.TenantID(tenant), true
}

// interBrokerPartition is the transaction partition a broker's request
// names: the offsets topic's when the tenant is the system's.
func interBrokerPartition(tenant meta.TenantID, topic string, partition int32) coord.TxnPartition {
	return coord.TxnPartition{Topic: topic, Partition: partition, Offsets: tenant == meta.SystemTenant && topic == coord.OffsetsTopic}
}

package api

// WriteTxnMarkers, v0-v1: a transaction coordinator on another node asks
// this node to end a producer's transaction on partitions it leads (Kafka
// sends it broker to broker only). Each partition gets its marker written
// and committed (acks=all) before it is answered; a marker on a partition
// of the offsets topic also commits or drops the transaction's pending
// offsets in the group coordinator. Errors per partition:
// NOT_LEADER_OR_FOLLOWER when this node does not lead it (the coordinator
// retries at the current leader), TRANSACTION_COORDINATOR_FENCED for a
// coordinator epoch older than one seen, UNKNOWN_TOPIC_OR_PARTITION for a
// partition that is gone (no marker needed). The tenant is the one tagged
// on the marker (interbroker.go), else the connection's. v2 (KIP-890's
// transaction version) is not served.

import (
	"context"
	"fmt"

	"github.com/strata-db/strata/internal/coord"
	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.WriteTxnMarkers, 0, 1, (*Handlers).writeTxnMarkers) }

// MarkerWriter writes a transaction marker to a partition this node
// leads, as coord.MarkerWriter describes, and waits until it is
// committed.
type MarkerWriter interface {
	WriteLocalTxnMarker(ctx context.Context, tenant string, p coord.TxnPartition, producerID int64, epoch int16, commit bool, coordinatorEpoch int32) error
}

func (h *Handlers) writeTxnMarkers(ctx context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.WriteTxnMarkersRequest)
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	for _, m := range req.Markers {
		tenant, _ := taggedTenant(m.UnknownTags, r)
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		for _, t := range m.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition = p
				rp.ErrorCode = errorCode(h.writeMarker(ctx, r, tenant, t.Topic, p, &m))
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	return resp, nil
}

func (h *Handlers) writeMarker(ctx context.Context, r *wire.Request, tenant meta.TenantID, topic string, partition int32, m *kmsg.WriteTxnMarkersRequestMarker) error {
	tp := interBrokerPartition(tenant, topic, partition)
	switch {
	case clusterOnly(r):
		// Markers are brokers' requests, never a tenant's.
		return kerr.ClusterAuthorizationFailed
	case h.cfg.Markers == nil:
		return kerr.CoordinatorNotAvailable
	case tenant == meta.SystemTenant && !tp.Offsets:
		// Only the offsets topic of the system tenant takes markers.
		return fmt.Errorf("%w: %s", kerr.UnknownTopicOrPartition, topic)
	}
	return h.cfg.Markers.WriteLocalTxnMarker(ctx, string(tenant), tp, m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch)
}

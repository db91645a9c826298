package api

// OffsetForLeaderEpoch, v2-v4 (v0-v1 were dropped in Kafka 4.0). For each
// partition it answers the end offset of the requested leader epoch: the
// start of the next larger epoch, or the log end for the current one.
// Clients use it to detect log truncation after a leader change (KIP-320).

import (
	"cmp"
	"context"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.OffsetForLeaderEpoch, 2, 4, (*Handlers).offsetForLeaderEpoch) }

func (h *Handlers) offsetForLeaderEpoch(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	im := h.cfg.Meta.Image()
	var reqErr error
	if req.ReplicaID >= 0 && clusterOnly(r) { // a follower's, and a tenant's connection is no broker
		reqErr = kerr.ClusterAuthorizationFailed
	}
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		t, terr := h.resolveTopicFor(r, im, kmsg.ACLOperationDescribe, meta.TopicRef{Name: rt.Topic})
		terr = cmp.Or(reqErr, terr)
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LeaderEpoch, sp.EndOffset = -1, -1
			err := terr
			if err == nil {
				err = h.endOffsetForEpoch(t, &rp, &sp)
			}
			sp.ErrorCode = errorCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (h *Handlers) endOffsetForEpoch(t *meta.Topic, rp *kmsg.OffsetForLeaderEpochRequestTopicPartition, sp *kmsg.OffsetForLeaderEpochResponseTopicPartition) error {
	p, err := h.partitionFor(t, rp.Partition)
	if err != nil {
		return err
	}
	if err := checkLeaderEpoch(p, rp.CurrentLeaderEpoch); err != nil {
		return err
	}
	epoch, end := p.Log().EndOffsetForEpoch(rp.LeaderEpoch)
	if end > p.HighWatermark() && epoch == p.LeaderEpoch() {
		end = p.HighWatermark() // consumers are only told about committed offsets
	}
	sp.LeaderEpoch, sp.EndOffset = epoch, end
	return nil
}

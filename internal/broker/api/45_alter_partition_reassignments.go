package api

// AlterPartitionReassignments, v0-v1 (KIP-455): a partition's replicas
// move to a target list (null cancels the reassignment in progress). The
// new replicas are added and copy the log, leadership moves if the leader
// is leaving, and the old replicas are removed once every target replica
// is in sync (meta/reassign.go). v1 refuses a target of another size
// unless AllowReplicationFactorChange (KIP-860).

import (
	"context"
	"time"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(kmsg.AlterPartitionAssignments, 0, 1, (*Handlers).alterPartitionReassignments)
}

func (h *Handlers) alterPartitionReassignments(ctx context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	if clusterOnly(r) {
		// Replica placement is the operator's and the balancer's.
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	keepRF := r.Version >= 1 && !req.AllowReplicationFactorChange
	ctx, cancel := context.WithTimeout(ctx, time.Duration(max(req.TimeoutMillis, 1000))*time.Millisecond)
	defer cancel()
	im := h.cfg.Meta.Image()
	tenant := tenantOf(r)
	type slot struct{ topic, part int }
	var reqs []meta.Reassignment
	var slots []slot
	for _, rt := range req.Topics {
		st := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		st.Topic = rt.Topic
		t, terr := im.ResolveTopic(tenant, meta.TopicRef{Name: rt.Topic})
		for _, rp := range rt.Partitions {
			sp := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			sp.Partition = rp.Partition
			if err := partitionError(t, terr, rp.Partition); err != nil {
				sp.ErrorCode, sp.ErrorMessage = errorCode(err), errorMessage(err)
			} else {
				reqs = append(reqs, meta.Reassignment{PartitionRef: meta.PartitionRef{Topic: t.ID, Partition: rp.Partition},
					Target: rp.Replicas, KeepReplicationFactor: keepRF})
				slots = append(slots, slot{len(resp.Topics), len(st.Partitions)})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	for i, err := range h.cfg.Meta.AlterReassignments(ctx, reqs) {
		sp := &resp.Topics[slots[i].topic].Partitions[slots[i].part]
		sp.ErrorCode, sp.ErrorMessage = errorCode(err), errorMessage(err)
	}
	return resp, nil
}

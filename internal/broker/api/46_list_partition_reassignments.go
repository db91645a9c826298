package api

// ListPartitionReassignments, v0 (KIP-455): the partitions of the
// tenant's topics (all, or those named) with a reassignment in progress,
// with their replicas and the replicas being added and removed.
// Partitions named that do not exist are left out, as in Kafka.

import (
	"context"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(kmsg.ListPartitionReassignments, 0, 0, (*Handlers).listPartitionReassignments)
}

func (h *Handlers) listPartitionReassignments(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if clusterOnly(r) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	im := h.cfg.Meta.Image()
	tenant := tenantOf(r)
	list := func(t *meta.Topic, partitions []int32) {
		rt := kmsg.NewListPartitionReassignmentsResponseTopic()
		rt.Topic = t.Name
		for _, p := range partitions {
			if p < 0 || int(p) >= len(t.Partitions) || !t.Partitions[p].Reassigning() {
				continue
			}
			st := &t.Partitions[p]
			rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
			rp.Partition, rp.Replicas = p, st.Replicas
			rp.AddingReplicas, rp.RemovingReplicas = nonNil(st.AddingReplicas), nonNil(st.RemovingReplicas)
			rt.Partitions = append(rt.Partitions, rp)
		}
		if len(rt.Partitions) > 0 {
			resp.Topics = append(resp.Topics, rt)
		}
	}
	if req.Topics == nil {
		for _, t := range im.Topics(tenant) {
			list(t, allPartitions(t))
		}
	}
	for _, rt := range req.Topics {
		if t, err := im.ResolveTopic(tenant, meta.TopicRef{Name: rt.Topic}); err == nil {
			list(t, rt.Partitions)
		}
	}
	return resp, nil
}

func nonNil(ids []int32) []int32 {
	if ids == nil {
		return []int32{}
	}
	return ids
}

package api

// ElectLeaders, v0-v2 (KIP-460): preferred elections (v0, and election
// type 0) move leadership to each partition's first replica when it is
// alive and in sync; unclean elections (type 1) give a partition without
// a live leader one, from outside the ISR if no in-sync replica is alive.
// Null topics mean every partition of the tenant. The elections are
// recorded through the active controller (meta/reassign.go).

import (
	"context"
	"time"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ElectLeaders, 0, 2, (*Handlers).electLeaders) }

func (h *Handlers) electLeaders(ctx context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	if clusterOnly(r) {
		// Leadership is the operator's and the balancer's, not a tenant's;
		// v0 has no top-level error, so every partition asked gets it.
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		for _, t := range req.Topics {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewElectLeadersResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, kerr.ClusterAuthorizationFailed.Code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	if req.ElectionType != 0 && req.ElectionType != 1 {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(max(req.TimeoutMillis, 1000))*time.Millisecond)
	defer cancel()
	im := h.cfg.Meta.Image()
	tenant := tenantOf(r)
	type slot struct{ topic, part int }
	var refs []meta.PartitionRef
	var slots []slot
	add := func(name string, t *meta.Topic, terr error, partitions []int32) {
		rt := kmsg.NewElectLeadersResponseTopic()
		rt.Topic = name
		for _, p := range partitions {
			rp := kmsg.NewElectLeadersResponseTopicPartition()
			rp.Partition = p
			if err := partitionError(t, terr, p); err != nil {
				rp.ErrorCode, rp.ErrorMessage = errorCode(err), errorMessage(err)
			} else {
				refs = append(refs, meta.PartitionRef{Topic: t.ID, Partition: p})
				slots = append(slots, slot{len(resp.Topics), len(rt.Partitions)})
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if req.Topics == nil {
		for _, t := range im.Topics(tenant) {
			add(t.Name, t, nil, allPartitions(t))
		}
	}
	for _, rt := range req.Topics {
		t, terr := im.ResolveTopic(tenant, meta.TopicRef{Name: rt.Topic})
		add(rt.Topic, t, terr, rt.Partitions)
	}
	for i, err := range h.cfg.Meta.ElectLeaders(ctx, req.ElectionType == 1, refs) {
		rp := &resp.Topics[slots[i].topic].Partitions[slots[i].part]
		rp.ErrorCode, rp.ErrorMessage = errorCode(err), errorMessage(err)
	}
	return resp, nil
}

// partitionError is UNKNOWN_TOPIC_OR_PARTITION for a topic that did not
// resolve or a partition it does not have.
func partitionError(t *meta.Topic, terr error, p int32) error {
	if terr != nil {
		return terr
	}
	if p < 0 || int(p) >= len(t.Partitions) {
		return kerr.UnknownTopicOrPartition
	}
	return nil
}

func allPartitions(t *meta.Topic) []int32 {
	ps := make([]int32, len(t.Partitions))
	for i := range ps {
		ps[i] = int32(i)
	}
	return ps
}

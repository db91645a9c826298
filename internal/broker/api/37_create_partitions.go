package api

// CreatePartitions, v0-v3. Partition counts only grow; explicit assignments
// name the replicas of the new partitions only.
//
// Quotas: as CreateTopics (19_create_topics.go), strict from v3.

import (
	"context"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.CreatePartitions, 0, 3, (*Handlers).createPartitions) }

func (h *Handlers) createPartitions(ctx context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	im := h.cfg.Meta.Image()
	counts := map[string]int{}
	for _, rt := range req.Topics {
		counts[rt.Topic]++
	}
	var incs []meta.PartitionIncrease
	var at []int
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		resp.Topics = append(resp.Topics, st)
		if counts[rt.Topic] > 1 {
			msg := "topic appears more than once in the request"
			resp.Topics[len(resp.Topics)-1].ErrorCode = kerr.InvalidRequest.Code
			resp.Topics[len(resp.Topics)-1].ErrorMessage = &msg
			continue
		}
		if !h.allowedTopic(r, kmsg.ACLOperationAlter, rt.Topic) {
			resp.Topics[len(resp.Topics)-1].ErrorCode = kerr.TopicAuthorizationFailed.Code
			continue
		}
		if t, ok := im.TopicByName(tenantOf(r), rt.Topic); ok && !req.ValidateOnly && rt.Count > int32(len(t.Partitions)) {
			if err := h.mutationQuota(r, int(rt.Count)-len(t.Partitions), r.Version >= 3); err != nil {
				st := &resp.Topics[len(resp.Topics)-1]
				st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
				continue
			}
		}
		inc := meta.PartitionIncrease{Name: rt.Topic, Count: rt.Count}
		for _, a := range rt.Assignment {
			inc.Assignments = append(inc.Assignments, a.Replicas)
		}
		incs = append(incs, inc)
		at = append(at, len(resp.Topics)-1)
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout(req.TimeoutMillis))
	defer cancel()
	for i, res := range h.cfg.Meta.CreatePartitions(ctx, tenantOf(r), incs, req.ValidateOnly) {
		resp.Topics[at[i]].ErrorCode = errorCode(res.Err)
		resp.Topics[at[i]].ErrorMessage = errorMessage(res.Err)
	}
	if !req.ValidateOnly {
		h.waitPartitions(ctx)
	}
	return resp, nil
}

package api

// OffsetDelete, v0: deletes committed offsets of partitions the group's
// members do not subscribe to. Needs DELETE on the group and, as in Kafka,
// READ on each topic.

import (
	"context"

	"github.com/strata-db/strata/internal/coord"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.OffsetDelete, 0, 0, (*Handlers).offsetDelete) }

func (h *Handlers) offsetDelete(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.OffsetDeleteRequest)
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if err := h.authorizeGroup(r, kmsg.ACLOperationDelete, req.Group); err != nil {
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	var tps []coord.FetchedOffset
	for _, t := range req.Topics {
		if h.allowedTopic(r, kmsg.ACLOperationRead, t.Topic) {
			for _, p := range t.Partitions {
				tps = append(tps, coord.FetchedOffset{Topic: t.Topic, Partition: p.Partition})
			}
		}
	}
	errs, err := h.cfg.Groups.DeleteOffsets(groupKey(r, req.Group), tps)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	i := 0
	for _, t := range req.Topics {
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = t.Topic
		terr := h.authorizeTopic(r, kmsg.ACLOperationRead, t.Topic)
		for _, p := range t.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition, sp.ErrorCode = p.Partition, errorCode(terr)
			if terr == nil {
				sp.ErrorCode = errorCode(errs[i])
				i++
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

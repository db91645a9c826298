package api

// OffsetCommit, v2-v10 (v0-v1 were dropped in Kafka 4.0). Topics are named
// by name, or from v10 by id. Offsets for topics or partitions the tenant
// does not have are refused with UNKNOWN_TOPIC_OR_PARTITION. Members of a
// consumer group (KIP-848) commit with v9+ and their member epoch as the
// generation.

import (
	"cmp"
	"context"

	"github.com/strata-db/strata/internal/coord"
	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.OffsetCommit, 2, 10, (*Handlers).offsetCommit) }

func (h *Handlers) offsetCommit(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.OffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	im := h.cfg.Meta.Image()
	gerr := h.authorizeGroup(r, kmsg.ACLOperationRead, req.Group)
	cr := coord.CommitRequest{Group: groupKey(r, req.Group), Version: r.Version, Generation: req.Generation, MemberID: req.MemberID, InstanceID: derefString(req.InstanceID)}
	type slot struct{ topic, part int }
	var slots []slot // where each committed offset's error goes
	for ti, rt := range req.Topics {
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		ref := meta.TopicRef{Name: rt.Topic}
		if r.Version >= 10 {
			ref = meta.TopicRef{ID: meta.TopicID(rt.TopicID)}
		}
		t, terr := h.resolveTopicFor(r, im, kmsg.ACLOperationRead, ref)
		terr = cmp.Or(gerr, terr)
		for pi, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case terr != nil:
				sp.ErrorCode = errorCode(terr)
			case rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				cr.Offsets = append(cr.Offsets, coord.CommitOffset{Topic: t.Name, Partition: rp.Partition, Offset: rp.Offset, LeaderEpoch: rp.LeaderEpoch, Metadata: rp.Metadata})
				slots = append(slots, slot{ti, pi})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(cr.Offsets) == 0 {
		return resp, nil
	}
	for i, err := range h.cfg.Groups.CommitOffsets(cr) {
		resp.Topics[slots[i].topic].Partitions[slots[i].part].ErrorCode = errorCode(err)
	}
	return resp, nil
}

package api

// OffsetFetch, v1-v10 (v0 was dropped in Kafka 4.0). Before v8 one group
// per request, from v8 several; a null topic list asks for every committed
// offset; from v10 topics are named by id. A partition without a commit
// has offset -1. From v9 a member of a consumer group (KIP-848) names
// itself with its member id and epoch, which the coordinator checks. From
// v7 a fetch may require stable offsets (KIP-447): a partition with a
// transactional commit pending is UNSTABLE_OFFSET_COMMIT.

import (
	"context"

	"github.com/strata-db/strata/internal/coord"
	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.OffsetFetch, 1, 10, (*Handlers).offsetFetch) }

func (h *Handlers) offsetFetch(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.OffsetFetchRequest)
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if r.Version < 8 {
		var topics []kmsg.OffsetFetchRequestGroupTopic
		for _, t := range req.Topics {
			topics = append(topics, kmsg.OffsetFetchRequestGroupTopic{Topic: t.Topic, Partitions: t.Partitions})
		}
		g := h.fetchGroupOffsets(r, req.Group, nil, topics, req.Topics == nil, req.RequireStable)
		resp.ErrorCode = g.ErrorCode
		for _, gt := range g.Topics {
			st := kmsg.NewOffsetFetchResponseTopic()
			st.Topic = gt.Topic
			for _, gp := range gt.Partitions {
				sp := kmsg.NewOffsetFetchResponseTopicPartition()
				sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata, sp.ErrorCode = gp.Partition, gp.Offset, gp.LeaderEpoch, gp.Metadata, gp.ErrorCode
				if r.Version == 1 {
					sp.ErrorCode = max(sp.ErrorCode, g.ErrorCode) // v1 has no group-level error
				}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil
	}
	for _, rg := range req.Groups {
		var member *coord.FetchMember
		if rg.MemberID != nil {
			member = &coord.FetchMember{ID: *rg.MemberID, Epoch: rg.MemberEpoch}
		}
		resp.Groups = append(resp.Groups, h.fetchGroupOffsets(r, rg.Group, member, rg.Topics, rg.Topics == nil, req.RequireStable))
	}
	return resp, nil
}

// fetchGroupOffsets answers one group: the requested partitions, or every
// committed one when all is set. Topic ids (v10) are mapped to names for
// the coordinator and back.
func (h *Handlers) fetchGroupOffsets(r *wire.Request, group string, member *coord.FetchMember, topics []kmsg.OffsetFetchRequestGroupTopic, all, requireStable bool) kmsg.OffsetFetchResponseGroup {
	out := kmsg.NewOffsetFetchResponseGroup()
	out.Group = group
	im := h.cfg.Meta.Image()
	tenant := tenantOf(r)
	var want map[string][]int32
	ids := map[string][16]byte{}
	if !all {
		want = map[string][]int32{}
		for _, t := range topics {
			name := t.Topic
			if r.Version >= 10 {
				if tp, err := im.ResolveTopic(tenant, meta.TopicRef{ID: meta.TopicID(t.TopicID)}); err == nil {
					name = tp.Name
				}
				ids[name] = t.TopicID
			}
			want[name] = append(want[name], t.Partitions...)
		}
	}
	if err := h.authorizeGroup(r, kmsg.ACLOperationDescribe, group); err != nil {
		out.ErrorCode = errorCode(err)
		return out
	}
	offs, err := h.cfg.Groups.FetchStableOffsets(groupKey(r, group), member, want, requireStable && r.Version >= 7)
	if err != nil {
		out.ErrorCode = errorCode(err)
		return out
	}
	byTopic := map[string]*kmsg.OffsetFetchResponseGroupTopic{}
	var order []string
	for _, o := range offs {
		// As Kafka: topics the principal may not DESCRIBE are left out of
		// a fetch of all offsets, and refused when named.
		if err := h.authorizeTopic(r, kmsg.ACLOperationDescribe, o.Topic); err != nil {
			if all {
				continue
			}
			o = coord.FetchedOffset{Topic: o.Topic, Partition: o.Partition, Offset: -1, LeaderEpoch: -1, Err: err}
		}
		gt := byTopic[o.Topic]
		if gt == nil {
			t := kmsg.NewOffsetFetchResponseGroupTopic()
			t.Topic = o.Topic
			if r.Version >= 10 {
				t.TopicID = topicIDFor(im, tenant, o.Topic, ids)
			}
			gt = &t
			byTopic[o.Topic] = gt
			order = append(order, o.Topic)
		}
		p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
		p.Partition, p.Offset, p.LeaderEpoch = o.Partition, o.Offset, o.LeaderEpoch
		p.Metadata = stringPtr(o.Metadata)
		p.ErrorCode = errorCode(o.Err)
		gt.Partitions = append(gt.Partitions, p)
	}
	for _, name := range order {
		out.Topics = append(out.Topics, *byTopic[name])
	}
	return out
}

func topicIDFor(im *meta.Image, tenant meta.TenantID, name string, asked map[string][16]byte) [16]byte {
	if id, ok := asked[name]; ok {
		return id
	}
	if t, ok := im.TopicByName(tenant, name); ok {
		return t.ID
	}
	return [16]byte{}
}

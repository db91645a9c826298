package api

// ConsumerGroupDescribe, v0-v1: consumer groups (KIP-848) with their
// epochs, members, assignments and target assignments. A classic group is
// GROUP_ID_NOT_FOUND, as in Kafka, which tells admin clients to fall back
// to DescribeGroups. v1 adds the member type (always 1: consumer protocol).

import (
	"context"

	"github.com/strata-db/strata/internal/coord"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ConsumerGroupDescribe, 0, 1, (*Handlers).consumerGroupDescribe) }

// memberTypeConsumer is ConsumerGroupDescribe v1's member type of a member
// using the consumer protocol (0 would be a classic member).
const memberTypeConsumer = 1

func (h *Handlers) consumerGroupDescribe(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.ConsumerGroupDescribeRequest)
	resp := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
	for _, name := range req.Groups {
		g := kmsg.NewConsumerGroupDescribeResponseGroup()
		g.Group = name
		g.AuthorizedOperations = authorizedOperationsUnset
		err := h.authorizeGroup(r, kmsg.ACLOperationDescribe, name)
		var d coord.ConsumerGroupDescription
		if err == nil {
			d, err = h.cfg.Groups.DescribeConsumerGroup(groupKey(r, name))
		}
		if err != nil {
			g.ErrorCode, g.ErrorMessage = errorCode(err), errorMessage(err)
			resp.Groups = append(resp.Groups, g)
			continue
		}
		g.State, g.Epoch, g.AssignmentEpoch, g.AssignorName = string(d.State), d.Epoch, d.AssignmentEpoch, d.Assignor
		for _, m := range d.Members {
			gm := kmsg.NewConsumerGroupDescribeResponseGroupMember()
			gm.MemberID, gm.MemberEpoch, gm.ClientID, gm.ClientHost = m.MemberID, m.MemberEpoch, m.ClientID, m.ClientHost
			gm.SubscribedTopics = append([]string{}, m.SubscribedTopics...)
			if m.InstanceID != "" {
				gm.InstanceID = stringPtr(m.InstanceID)
			}
			if m.RackID != "" {
				gm.RackID = stringPtr(m.RackID)
			}
			if m.SubscribedRegex != "" {
				gm.SubscribedTopicRegex = stringPtr(m.SubscribedRegex)
			}
			gm.Assignment.TopicPartitions = describedPartitions(m.Assignment)
			gm.TargetAssignment.TopicPartitions = describedPartitions(m.TargetAssignment)
			if r.Version >= 1 {
				gm.MemberType = memberTypeConsumer
			}
			g.Members = append(g.Members, gm)
		}
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}

func describedPartitions(ps []coord.DescribedPartitions) []kmsg.AssignmentTopicPartition {
	out := make([]kmsg.AssignmentTopicPartition, 0, len(ps))
	for _, p := range ps {
		tp := kmsg.NewAssignmentTopicPartition()
		tp.TopicID, tp.Topic, tp.Partitions = p.TopicID, p.Topic, p.Partitions
		out = append(out, tp)
	}
	return out
}

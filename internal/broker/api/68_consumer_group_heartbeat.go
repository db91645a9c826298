package api

// ConsumerGroupHeartbeat, v0-v1: the consumer group protocol of KIP-848.
// One request joins (epoch 0), heartbeats, changes the subscription and
// acknowledges revoked partitions; the response carries the member epoch
// and, when it changed or the request was a full one, the assignment.
// From v1 members choose their own ids (KIP-1082) and may subscribe by
// regex. It never waits.

import (
	"cmp"
	"context"
	"slices"

	"github.com/strata-db/strata/internal/coord"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ConsumerGroupHeartbeat, 0, 1, (*Handlers).consumerGroupHeartbeat) }

func (h *Handlers) consumerGroupHeartbeat(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.ConsumerGroupHeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	hr := coord.ConsumerHeartbeatRequest{
		Group: groupKey(r, req.Group), Version: r.Version, MemberID: req.MemberID, MemberEpoch: req.MemberEpoch,
		InstanceID: req.InstanceID, RackID: req.RackID, RebalanceTimeout: -1,
		SubscribedTopicNames: req.SubscribedTopicNames, SubscribedTopicRegex: req.SubscribedTopicRegex,
		ServerAssignor: req.ServerAssignor, ClientID: r.ClientID, ClientHost: clientHost(r),
	}
	if req.RebalanceTimeoutMillis >= 0 {
		hr.RebalanceTimeout = millis(req.RebalanceTimeoutMillis)
	}
	if req.Topics != nil {
		hr.Owned = coord.Assignment{}
		for _, t := range req.Topics {
			id := coord.TopicID(t.TopicID)
			hr.Owned[id] = append(hr.Owned[id], t.Partitions...)
		}
		hr.Owned = hr.Owned.Normalized()
	}
	// As Kafka: READ on the group, and DESCRIBE on every topic named in
	// the subscription.
	res := coord.ConsumerHeartbeatResult{Err: h.authorizeGroup(r, kmsg.ACLOperationRead, req.Group)}
	for _, t := range req.SubscribedTopicNames {
		res.Err = cmp.Or(res.Err, h.authorizeTopic(r, kmsg.ACLOperationDescribe, t))
	}
	if res.Err == nil {
		res = h.cfg.Groups.ConsumerGroupHeartbeat(hr)
	}
	resp.ErrorCode, resp.ErrorMessage = errorCode(res.Err), errorMessage(res.Err)
	resp.MemberID = stringPtr(res.MemberID)
	resp.MemberEpoch = res.MemberEpoch
	resp.HeartbeatIntervalMillis = int32(res.HeartbeatInterval.Milliseconds())
	if res.Err != nil || res.Assignment == nil {
		return resp, nil
	}
	a := kmsg.NewConsumerGroupHeartbeatResponseAssignment()
	for _, id := range res.Assignment.TopicIDs() {
		t := kmsg.NewConsumerGroupHeartbeatResponseAssignmentTopic()
		t.TopicID, t.Partitions = id, slices.Clone(res.Assignment[id])
		a.Topics = append(a.Topics, t)
	}
	resp.Assignment = &a
	return resp, nil
}

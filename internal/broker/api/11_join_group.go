package api

// JoinGroup, v2-v9 (v0-v1 were dropped in Kafka 4.0). From v4 a member
// without an id is given one and asked to rejoin (KIP-394); from v5
// members may be static (KIP-345). The response waits for the rebalance.

import (
	"context"

	"github.com/strata-db/strata/internal/coord"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.JoinGroup, 2, 9, (*Handlers).joinGroup) }

func (h *Handlers) joinGroup(ctx context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.JoinGroupRequest)
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	jr := coord.JoinRequest{
		Group: groupKey(r, req.Group), MemberID: req.MemberID, InstanceID: derefString(req.InstanceID),
		ClientID: r.ClientID, ClientHost: clientHost(r),
		SessionTimeout: millis(req.SessionTimeoutMillis), RebalanceTimeout: millis(req.RebalanceTimeoutMillis),
		ProtocolType: req.ProtocolType, RequireKnownMemberID: r.Version >= 4,
	}
	for _, p := range req.Protocols {
		jr.Protocols = append(jr.Protocols, coord.Protocol{Name: p.Name, Metadata: p.Metadata})
	}
	if err := h.authorizeGroup(r, kmsg.ACLOperationRead, req.Group); err != nil {
		resp.ErrorCode, resp.Generation = errorCode(err), -1
		return resp, nil
	}
	res := h.cfg.Groups.JoinGroup(ctx, jr)
	resp.ErrorCode = errorCode(res.Err)
	resp.MemberID = res.MemberID
	if res.Err != nil {
		resp.Generation = -1
		return resp, nil
	}
	resp.Generation, resp.LeaderID, resp.SkipAssignment = res.Generation, res.LeaderID, res.SkipAssignment
	resp.ProtocolType, resp.Protocol = stringPtr(res.ProtocolType), stringPtr(res.Protocol)
	for _, m := range res.Members {
		rm := kmsg.NewJoinGroupResponseMember()
		rm.MemberID, rm.ProtocolMetadata = m.MemberID, m.Metadata
		if m.InstanceID != "" {
			rm.InstanceID = stringPtr(m.InstanceID)
		}
		resp.Members = append(resp.Members, rm)
	}
	return resp, nil
}

package api

// LeaveGroup, v0-v5. Before v3 one member leaves; from v3 a batch, each
// by member id or static instance id, with an error each.

import (
	"context"

	"github.com/strata-db/strata/internal/coord"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.LeaveGroup, 0, 5, (*Handlers).leaveGroup) }

func (h *Handlers) leaveGroup(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.LeaveGroupRequest)
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	var members []coord.LeaveMember
	if r.Version < 3 {
		members = []coord.LeaveMember{{MemberID: req.MemberID}}
	} else {
		for _, m := range req.Members {
			members = append(members, coord.LeaveMember{MemberID: m.MemberID, InstanceID: derefString(m.InstanceID)})
		}
	}
	if err := h.authorizeGroup(r, kmsg.ACLOperationRead, req.Group); err != nil {
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	errs, err := h.cfg.Groups.LeaveGroup(groupKey(r, req.Group), members)
	if err != nil {
		resp.ErrorCode = errorCode(err)
		return resp, nil
	}
	if r.Version < 3 {
		resp.ErrorCode = errorCode(errs[0])
		return resp, nil
	}
	for i, m := range req.Members {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID, rm.ErrorCode = m.MemberID, m.InstanceID, errorCode(errs[i])
		resp.Members = append(resp.Members, rm)
	}
	return resp, nil
}

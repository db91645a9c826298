package api

// Heartbeat, v0-v4: keeps a member's session alive; REBALANCE_IN_PROGRESS
// tells it to rejoin.

import (
	"context"

	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.Heartbeat, 0, 4, (*Handlers).heartbeat) }

func (h *Handlers) heartbeat(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.HeartbeatRequest)
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	err := h.authorizeGroup(r, kmsg.ACLOperationRead, req.Group)
	if err == nil {
		err = h.cfg.Groups.Heartbeat(groupKey(r, req.Group), req.MemberID, derefString(req.InstanceID), req.Generation)
	}
	resp.ErrorCode = errorCode(err)
	return resp, nil
}

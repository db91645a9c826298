package api

// SyncGroup, v0-v5. The leader sends every member's assignment; each
// member gets its own. From v5 the protocol type and name are checked.

import (
	"context"

	"github.com/strata-db/strata/internal/coord"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.SyncGroup, 0, 5, (*Handlers).syncGroup) }

func (h *Handlers) syncGroup(ctx context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.SyncGroupRequest)
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	sr := coord.SyncRequest{
		Group: groupKey(r, req.Group), Generation: req.Generation, MemberID: req.MemberID,
		InstanceID: derefString(req.InstanceID), ProtocolType: derefString(req.ProtocolType), Protocol: derefString(req.Protocol),
	}
	if len(req.GroupAssignment) > 0 {
		sr.Assignments = map[string][]byte{}
		for _, a := range req.GroupAssignment {
			sr.Assignments[a.MemberID] = a.MemberAssignment
		}
	}
	res := coord.SyncResult{Err: h.authorizeGroup(r, kmsg.ACLOperationRead, req.Group)}
	if res.Err == nil {
		res = h.cfg.Groups.SyncGroup(ctx, sr)
	}
	resp.ErrorCode = errorCode(res.Err)
	if res.Err == nil {
		resp.ProtocolType, resp.Protocol = stringPtr(res.ProtocolType), stringPtr(res.Protocol)
		resp.MemberAssignment = res.Assignment
	}
	if resp.MemberAssignment == nil {
		resp.MemberAssignment = []byte{}
	}
	return resp, nil
}

package api

// DeleteGroups, v0-v3: deletes groups without members, with their
// offsets.

import (
	"context"

	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DeleteGroups, 0, 3, (*Handlers).deleteGroups) }

func (h *Handlers) deleteGroups(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.DeleteGroupsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, name := range req.Groups {
		g := kmsg.NewDeleteGroupsResponseGroup()
		g.Group = name
		err := h.authorizeGroup(r, kmsg.ACLOperationDelete, name)
		if err == nil {
			err = h.cfg.Groups.DeleteGroup(groupKey(r, name))
		}
		g.ErrorCode = errorCode(err)
		resp.Groups = append(resp.Groups, g)
	}
	return resp, nil
}

package api

// ListGroups, v0-v5: the tenant's groups, filtered by state (v4+) and type
// (v5+: "classic", or "consumer" for KIP-848 groups). As in Kafka, a
// principal without DESCRIBE on the cluster sees only the groups it may
// DESCRIBE.

import (
	"context"

	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ListGroups, 0, 5, (*Handlers).listGroups) }

func (h *Handlers) listGroups(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.ListGroupsRequest)
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	all := h.allowedCluster(r, kmsg.ACLOperationDescribe)
	for _, g := range h.cfg.Groups.ListGroups(r.Conn.Tenant) {
		if !matchesFilter(req.StatesFilter, string(g.State)) || !matchesFilter(req.TypesFilter, string(g.Type)) ||
			!all && !h.allowedGroup(r, kmsg.ACLOperationDescribe, g.Group) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = g.Group, g.ProtocolType, string(g.State), string(g.Type)
		resp.Groups = append(resp.Groups, lg)
	}
	return resp, nil
}

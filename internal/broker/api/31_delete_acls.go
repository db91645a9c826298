package api

// DeleteAcls, v0-v3: removes the bindings of the connection's tenant that
// match each filter and lists them. Needs ALTER on the cluster (an admin
// key has it).

import (
	"context"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DeleteACLs, 0, 3, (*Handlers).deleteACLs) }

func (h *Handlers) deleteACLs(ctx context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	results, im := alterACLsPrologue(h, r, len(req.Filters), kmsg.NewDeleteACLsResponseResult,
		func(res *kmsg.DeleteACLsResponseResult) *int16 { return &res.ErrorCode })
	resp.Results = results
	if im == nil {
		return resp, nil
	}
	var gone []meta.ACL
	for i, f := range req.Filters {
		filter := aclFilter{f.ResourceType, f.ResourceName, f.ResourcePatternType, f.Principal, f.Host, f.Operation, f.PermissionType}
		if err := filter.validate(); err != nil {
			results[i].ErrorCode, results[i].ErrorMessage = errorCode(err), errorMessage(err)
			continue
		}
		for _, a := range matchingACLs(im, tenantOf(r), filter) {
			m := kmsg.NewDeleteACLsResponseResultMatchingACL()
			m.ResourceType, m.ResourceName, m.ResourcePatternType = a.ResourceType, a.ResourceName, a.PatternType
			m.Principal, m.Host, m.Operation, m.PermissionType = a.Principal, a.Host, a.Operation, a.Permission
			results[i].MatchingACLs = append(results[i].MatchingACLs, m)
			gone = append(gone, a)
		}
	}
	if len(gone) == 0 {
		return resp, nil
	}
	if err := h.cfg.Meta.DeleteACLs(ctx, tenantOf(r), gone); err != nil {
		for i := range results {
			if results[i].ErrorCode == 0 {
				results[i].ErrorCode, results[i].ErrorMessage = errorCode(err), errorMessage(err)
				results[i].MatchingACLs = nil
			}
		}
	}
	return resp, nil
}

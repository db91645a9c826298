package api

// CreateAcls, v0-v3: adds bindings to the connection's tenant. Needs
// ALTER on the cluster (an admin key has it). Each creation is validated
// on its own (meta.ValidateACL): a principal that is not one of the
// tenant's keys is refused with the same answer whether the key exists in
// another tenant or nowhere.

import (
	"context"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.CreateACLs, 0, 3, (*Handlers).createACLs) }

func (h *Handlers) createACLs(ctx context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	results, im := alterACLsPrologue(h, r, len(req.Creations), kmsg.NewCreateACLsResponseResult,
		func(res *kmsg.CreateACLsResponseResult) *int16 { return &res.ErrorCode })
	resp.Results = results
	if im == nil {
		return resp, nil
	}
	var valid []meta.ACL
	var at []int
	for i, c := range req.Creations {
		a := meta.ACL{ResourceType: c.ResourceType, ResourceName: c.ResourceName, PatternType: c.ResourcePatternType,
			Principal: c.Principal, Host: c.Host, Operation: c.Operation, Permission: c.PermissionType}
		if err := im.ValidateACL(tenantOf(r), a); err != nil {
			results[i].ErrorCode, results[i].ErrorMessage = errorCode(err), errorMessage(err)
			continue
		}
		valid, at = append(valid, a), append(at, i)
	}
	if len(valid) == 0 {
		return resp, nil
	}
	if err := h.cfg.Meta.CreateACLs(ctx, tenantOf(r), valid); err != nil {
		h.log.Info("CreateAcls failed", "tenant", r.Conn.Tenant, "err", err)
		for _, i := range at {
			results[i].ErrorCode, results[i].ErrorMessage = errorCode(err), errorMessage(err)
		}
	}
	return resp, nil
}

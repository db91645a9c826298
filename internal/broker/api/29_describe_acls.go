package api

// DescribeAcls, v0-v3: the bindings of the connection's tenant that match
// a filter, grouped by resource. Needs DESCRIBE on the cluster (an admin
// key has it). Only the tenant's own bindings exist for it.

import (
	"context"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeACLs, 0, 3, (*Handlers).describeACLs) }

func (h *Handlers) describeACLs(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	if !h.allowedCluster(r, kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	f := aclFilter{req.ResourceType, req.ResourceName, req.ResourcePatternType, req.Principal, req.Host, req.Operation, req.PermissionType}
	if err := f.validate(); err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp, nil
	}
	type resourceKey struct {
		rt      kmsg.ACLResourceType
		name    string
		pattern kmsg.ACLResourcePatternType
	}
	index := map[resourceKey]int{}
	for _, a := range matchingACLs(h.cfg.Meta.Image(), tenantOf(r), f) {
		k := resourceKey{a.ResourceType, a.ResourceName, a.PatternType}
		i, ok := index[k]
		if !ok {
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType, res.ResourceName, res.ResourcePatternType = k.rt, k.name, k.pattern
			resp.Resources = append(resp.Resources, res)
			i = len(resp.Resources) - 1
			index[k] = i
		}
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, describedACL(a))
	}
	return resp, nil
}

func describedACL(a meta.ACL) kmsg.DescribeACLsResponseResourceACL {
	d := kmsg.NewDescribeACLsResponseResourceACL()
	d.Principal, d.Host, d.Operation, d.PermissionType = a.Principal, a.Host, a.Operation, a.Permission
	return d
}

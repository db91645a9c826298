package api

// Shared by DescribeAcls and DeleteAcls: ACL binding filters (KIP-140,
// KIP-290's MATCH pattern type). Shared by CreateAcls and DeleteAcls: the
// check that the principal may change the tenant's ACLs.

import (
	"fmt"
	"strings"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// aclFilter selects bindings; nil strings and the ANY codes match all.
type aclFilter struct {
	resourceType kmsg.ACLResourceType
	name         *string
	pattern      kmsg.ACLResourcePatternType
	principal    *string
	host         *string
	operation    kmsg.ACLOperation
	permission   kmsg.ACLPermissionType
}

// validate refuses filters with codes that mean nothing (UNKNOWN) or
// that no filter may use.
func (f aclFilter) validate() error {
	switch {
	case f.resourceType == kmsg.ACLResourceTypeUnknown || f.pattern == kmsg.ACLResourcePatternTypeUnknown ||
		f.operation == kmsg.ACLOperationUnknown || f.permission == kmsg.ACLPermissionTypeUnknown:
		return fmt.Errorf("%w: the filter has an UNKNOWN value", kerr.InvalidRequest)
	}
	return nil
}

// matches reports whether a binding passes the filter.
func (f aclFilter) matches(a meta.ACL) bool {
	any := func(code, anyCode int8, got int8) bool { return code == anyCode || code == got }
	if !any(int8(f.resourceType), int8(kmsg.ACLResourceTypeAny), int8(a.ResourceType)) ||
		!any(int8(f.operation), int8(kmsg.ACLOperationAny), int8(a.Operation)) ||
		!any(int8(f.permission), int8(kmsg.ACLPermissionTypeAny), int8(a.Permission)) {
		return false
	}
	if f.principal != nil && *f.principal != a.Principal || f.host != nil && *f.host != a.Host {
		return false
	}
	switch f.pattern {
	case kmsg.ACLResourcePatternTypeAny:
		return f.name == nil || *f.name == a.ResourceName
	case kmsg.ACLResourcePatternTypeMatch:
		// Every binding that would apply to a resource of this name.
		if f.name == nil {
			return true
		}
		switch a.PatternType {
		case kmsg.ACLResourcePatternTypeLiteral:
			return a.ResourceName == *f.name || a.ResourceName == "*"
		case kmsg.ACLResourcePatternTypePrefixed:
			return strings.HasPrefix(*f.name, a.ResourceName)
		}
		return false
	default:
		return f.pattern == a.PatternType && (f.name == nil || *f.name == a.ResourceName)
	}
}

// matchingACLs lists the tenant's bindings that pass the filter.
func matchingACLs(im *meta.Image, tenant meta.TenantID, f aclFilter) []meta.ACL {
	var out []meta.ACL
	for _, a := range im.ACLs(tenant) {
		if f.matches(a) {
			out = append(out, a)
		}
	}
	return out
}

// alterACLsPrologue makes one result per creation or filter of a CreateAcls
// or DeleteAcls and returns them with the image to resolve the request
// against; without ALTER on the cluster every result is
// CLUSTER_AUTHORIZATION_FAILED and the image is nil.
func alterACLsPrologue[T any](h *Handlers, r *wire.Request, n int, newResult func() T, code func(*T) *int16) ([]T, *meta.Image) {
	results := make([]T, n)
	for i := range results {
		results[i] = newResult()
	}
	if !h.allowedCluster(r, kmsg.ACLOperationAlter) {
		for i := range results {
			*code(&results[i]) = kerr.ClusterAuthorizationFailed.Code
		}
		return results, nil
	}
	return results, h.cfg.Meta.Image()
}

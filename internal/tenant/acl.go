package tenant

import (
	"strings"

	"github.com/strata-db/strata/internal/meta"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Authorizer decides requests of API keys against their tenant's ACLs,
// with Kafka's semantics (KIP-11, KIP-290):
//
//   - an admin key may do everything in its tenant (a super user there);
//   - otherwise a binding applies when its principal is the key or
//     User:*, its host is the client's or *, and its resource is the
//     literal name, the literal *, or a prefix of the name (PREFIXED);
//   - a DENY binding for the operation (or ALL) wins over any ALLOW;
//   - an ALLOW for the operation or ALL allows; ALLOW of READ, WRITE,
//     DELETE or ALTER implies DESCRIBE, and ALTER_CONFIGS implies
//     DESCRIBE_CONFIGS;
//   - nothing applies: denied (allow.everyone.if.no.acl.found=false).
//
// It reads the current metadata image on every call, so a change of the
// ACLs or a key's revocation takes effect at the next request. Safe for
// concurrent use.
type Authorizer struct {
	image func() *meta.Image
}

// NewAuthorizer returns an authorizer over the metadata image.
func NewAuthorizer(image func() *meta.Image) *Authorizer { return &Authorizer{image: image} }

// Authorize reports whether the API key principal of tenant, connected
// from host, may do op on the named resource.
func (a *Authorizer) Authorize(tenant, principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	im := a.image()
	if ok, admin := a.member(im, tenant, principal); !ok || admin {
		return ok
	}
	allowed := false
	for _, acl := range im.ACLs(meta.TenantID(tenant)) {
		if !appliesTo(acl, principal, host, rt, name) {
			continue
		}
		switch acl.Permission {
		case kmsg.ACLPermissionTypeDeny:
			if acl.Operation == op || acl.Operation == kmsg.ACLOperationAll {
				return false
			}
		case kmsg.ACLPermissionTypeAllow:
			allowed = allowed || grants(acl.Operation, op)
		}
	}
	return allowed
}

// AuthorizeAny reports whether the key may do op on some resource of type
// rt, as Kafka's authorizeByResourceType: an ALLOW of op (or ALL) on some
// name or prefix that no DENY of op (or ALL) covers: a literal DENY of the
// same name or of *, or a PREFIXED DENY of a prefix of it.
func (a *Authorizer) AuthorizeAny(tenant, principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType) bool {
	im := a.image()
	if ok, admin := a.member(im, tenant, principal); !ok || admin {
		return ok
	}
	var allows, denies []meta.ACL
	for _, acl := range im.ACLs(meta.TenantID(tenant)) {
		if acl.ResourceType != rt || !appliesTo(acl, principal, host, rt, acl.ResourceName) ||
			(acl.Operation != op && acl.Operation != kmsg.ACLOperationAll) {
			continue
		}
		if acl.Permission == kmsg.ACLPermissionTypeDeny {
			denies = append(denies, acl)
		} else {
			allows = append(allows, acl)
		}
	}
	for _, allow := range allows {
		denied := false
		for _, deny := range denies {
			switch deny.PatternType {
			case kmsg.ACLResourcePatternTypeLiteral:
				denied = denied || deny.ResourceName == "*" ||
					(allow.PatternType == kmsg.ACLResourcePatternTypeLiteral && deny.ResourceName == allow.ResourceName)
			case kmsg.ACLResourcePatternTypePrefixed:
				denied = denied || strings.HasPrefix(allow.ResourceName, deny.ResourceName)
			}
		}
		if !denied {
			return true
		}
	}
	return false
}

// member reports whether principal is a live key of tenant, and whether
// it is an admin key.
func (a *Authorizer) member(im *meta.Image, tenant, principal string) (ok, admin bool) {
	c, ok := im.Credential(principal)
	if !ok || string(c.Tenant) != tenant {
		return false, false
	}
	return true, c.IsAdmin()
}

// appliesTo reports whether a binding is about this principal, host and
// resource.
func appliesTo(acl meta.ACL, principal, host string, rt kmsg.ACLResourceType, name string) bool {
	if acl.ResourceType != rt {
		return false
	}
	if acl.Principal != meta.PrincipalPrefix+"*" && acl.Principal != meta.PrincipalPrefix+principal {
		return false
	}
	if acl.Host != "*" && acl.Host != host {
		return false
	}
	switch acl.PatternType {
	case kmsg.ACLResourcePatternTypeLiteral:
		return acl.ResourceName == name || acl.ResourceName == "*"
	case kmsg.ACLResourcePatternTypePrefixed:
		return strings.HasPrefix(name, acl.ResourceName)
	}
	return false
}

// grants reports whether an ALLOW of granted allows op, with Kafka's
// implied operations.
func grants(granted, op kmsg.ACLOperation) bool {
	switch {
	case granted == op || granted == kmsg.ACLOperationAll:
		return true
	case op == kmsg.ACLOperationDescribe:
		switch granted {
		case kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDelete, kmsg.ACLOperationAlter:
			return true
		}
	case op == kmsg.ACLOperationDescribeConfigs:
		return granted == kmsg.ACLOperationAlterConfigs
	}
	return false
}

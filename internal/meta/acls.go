package meta

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Kafka ACLs (KIP-11, KIP-140, KIP-290 prefixed patterns), one set per
// tenant. A binding's resource names and principal live in its tenant's
// namespace: tenant A's ACL on topic "orders" is about A's "orders" only,
// and its principal is "User:*" or "User:<key>" with a key of tenant A.
//
// CreateACLs adds bindings (an existing one is not added twice);
// DeleteACLs removes exact bindings (one not present is ignored, so a
// retried delete is harmless). Deleting a tenant deletes its ACLs.

// ACL is one binding, with kmsg's codes for the enums.
type ACL struct {
	ResourceType kmsg.ACLResourceType        `json:"resourceType"`
	ResourceName string                      `json:"resourceName"`
	PatternType  kmsg.ACLResourcePatternType `json:"patternType"`
	Principal    string                      `json:"principal"`
	Host         string                      `json:"host"`
	Operation    kmsg.ACLOperation           `json:"operation"`
	Permission   kmsg.ACLPermissionType      `json:"permission"`
}

// ClusterResourceName is the one name of the cluster resource.
const ClusterResourceName = "kafka-cluster"

// PrincipalPrefix starts every principal: Kafka's "User" type.
const PrincipalPrefix = "User:"

// ACLChange adds or removes a tenant's bindings.
type ACLChange struct {
	Tenant TenantID `json:"tenant"`
	ACLs   []ACL    `json:"acls"`
}

// ValidateACL checks a binding a tenant wants to create: concrete enums,
// a resource type ACLs apply to, the cluster's one name, a principal that
// is "User:*" or one of the tenant's own keys (the same error for a key of
// another tenant as for no key at all), and an operation that applies to
// the resource type.
func (im *Image) ValidateACL(tenant TenantID, a ACL) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", kerr.InvalidRequest, fmt.Sprintf(format, args...))
	}
	switch a.ResourceType {
	case kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup, kmsg.ACLResourceTypeTransactionalId:
	case kmsg.ACLResourceTypeCluster:
		if a.ResourceName != ClusterResourceName {
			return bad("the cluster resource is named %s", ClusterResourceName)
		}
	default:
		return bad("resource type %s cannot have ACLs here", a.ResourceType)
	}
	if a.ResourceName == "" {
		return bad("empty resource name")
	}
	switch a.PatternType {
	case kmsg.ACLResourcePatternTypeLiteral:
	case kmsg.ACLResourcePatternTypePrefixed:
		if a.ResourceName == "*" {
			return bad("a prefixed pattern cannot be the wildcard")
		}
	default:
		return bad("pattern type %s is not LITERAL or PREFIXED", a.PatternType)
	}
	switch a.Permission {
	case kmsg.ACLPermissionTypeAllow, kmsg.ACLPermissionTypeDeny:
	default:
		return bad("permission %s is not ALLOW or DENY", a.Permission)
	}
	if !slices.Contains(OperationsFor(a.ResourceType), a.Operation) && a.Operation != kmsg.ACLOperationAll {
		return bad("operation %s does not apply to resource type %s", a.Operation, a.ResourceType)
	}
	if a.Host == "" {
		return bad("empty host (use * for any)")
	}
	key, ok := strings.CutPrefix(a.Principal, PrincipalPrefix)
	if !ok || key == "" {
		return bad("principal %q is not User:<API key> or User:*", a.Principal)
	}
	if key != "*" {
		if c, ok := im.Credential(key); !ok || c.Tenant != tenant {
			return bad("principal %q is not an API key of this tenant", a.Principal)
		}
	}
	return nil
}

// OperationsFor lists the operations that apply to a resource type, as
// Kafka's AclEntry.supportedOperations does (ALL aside).
func OperationsFor(t kmsg.ACLResourceType) []kmsg.ACLOperation {
	switch t {
	case kmsg.ACLResourceTypeTopic:
		return []kmsg.ACLOperation{kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate, kmsg.ACLOperationDescribe,
			kmsg.ACLOperationDelete, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs}
	case kmsg.ACLResourceTypeGroup:
		return []kmsg.ACLOperation{kmsg.ACLOperationRead, kmsg.ACLOperationDescribe, kmsg.ACLOperationDelete}
	case kmsg.ACLResourceTypeCluster:
		return []kmsg.ACLOperation{kmsg.ACLOperationCreate, kmsg.ACLOperationClusterAction, kmsg.ACLOperationDescribeConfigs,
			kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite, kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe}
	case kmsg.ACLResourceTypeTransactionalId:
		return []kmsg.ACLOperation{kmsg.ACLOperationDescribe, kmsg.ACLOperationWrite}
	}
	return nil
}

// ACLs returns a tenant's bindings. The slice must not be modified.
func (im *Image) ACLs(tenant TenantID) []ACL { return im.acls[tenant] }

// applyACLRecord applies r if it is an ACL record.
func (im *Image) applyACLRecord(r *Record) (handled bool, err error) {
	switch {
	case r.CreateACLs != nil:
		return true, im.applyCreateACLs(r.CreateACLs)
	case r.DeleteACLs != nil:
		im.applyDeleteACLs(r.DeleteACLs)
		return true, nil
	}
	return false, nil
}

func (im *Image) applyCreateACLs(c *ACLChange) error {
	if err := im.checkTenant(c.Tenant); err != nil {
		return err
	}
	for _, a := range c.ACLs {
		if err := im.ValidateACL(c.Tenant, a); err != nil {
			return err
		}
	}
	cur := slices.Clone(im.acls[c.Tenant])
	for _, a := range c.ACLs {
		if !slices.Contains(cur, a) {
			cur = append(cur, a)
		}
	}
	im.acls = copyMap(im.acls, 1)
	im.acls[c.Tenant] = cur
	return nil
}

func (im *Image) applyDeleteACLs(c *ACLChange) {
	cur := slices.DeleteFunc(slices.Clone(im.acls[c.Tenant]), func(a ACL) bool { return slices.Contains(c.ACLs, a) })
	im.acls = copyMap(im.acls, 0)
	if len(cur) == 0 {
		delete(im.acls, c.Tenant)
	} else {
		im.acls[c.Tenant] = cur
	}
}

// CreateACLs commits bindings of a tenant; they are validated again when
// applied, so a key revoked meanwhile fails the record.
func (s *Store) CreateACLs(ctx context.Context, tenant TenantID, acls []ACL) error {
	return s.proposeOne(ctx, Record{ACLRecords: ACLRecords{CreateACLs: &ACLChange{Tenant: tenant, ACLs: acls}}})
}

// DeleteACLs removes bindings of a tenant.
func (s *Store) DeleteACLs(ctx context.Context, tenant TenantID, acls []ACL) error {
	return s.proposeOne(ctx, Record{ACLRecords: ACLRecords{DeleteACLs: &ACLChange{Tenant: tenant, ACLs: acls}}})
}

// ACLRecords are the ACL fields of Record, embedded so that they marshal
// at its top level.
type ACLRecords struct {
	CreateACLs *ACLChange `json:"createAcls,omitempty"`
	DeleteACLs *ACLChange `json:"deleteAcls,omitempty"`
}

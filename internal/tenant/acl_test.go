package tenant

import (
	"context"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/meta"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// authorizerWith returns an authorizer over a one-node metadata store
// whose tenant has an admin key "ADMIN", a member key "MEMBER" and acls
// (principal User:MEMBER, host *), and the tenant's id.
func authorizerWith(t *testing.T, acls ...meta.ACL) (*Authorizer, string) {
	t.Helper()
	s, err := meta.Open(meta.Config{NodeID: 1, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	tn, err := s.CreateTenant(ctx, "A", 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*meta.Credential{{Key: "ADMIN", Tenant: tn.ID, Role: meta.RoleAdmin}, {Key: "MEMBER", Tenant: tn.ID, Role: meta.RoleMember}} {
		if err := s.CreateCredential(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for i := range acls {
		acls[i].Principal, acls[i].Host = meta.PrincipalPrefix+"MEMBER", "*"
	}
	if len(acls) > 0 {
		if err := s.CreateACLs(ctx, tn.ID, acls); err != nil {
			t.Fatal(err)
		}
	}
	return NewAuthorizer(s.Image), string(tn.ID)
}

func acl(name string, pattern kmsg.ACLResourcePatternType, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) meta.ACL {
	return meta.ACL{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: name, PatternType: pattern, Operation: op, Permission: perm}
}

const (
	literal  = kmsg.ACLResourcePatternTypeLiteral
	prefixed = kmsg.ACLResourcePatternTypePrefixed
	allow    = kmsg.ACLPermissionTypeAllow
	deny     = kmsg.ACLPermissionTypeDeny
	read     = kmsg.ACLOperationRead
	write    = kmsg.ACLOperationWrite
	describe = kmsg.ACLOperationDescribe
)

// TestAuthorizeAny: Kafka's authorizeByResourceType, which InitProducerId
// asks for an idempotent producer (KIP-679): some ALLOW of the operation
// that no DENY covers.
func TestAuthorizeAny(t *testing.T) {
	for _, tc := range []struct {
		name string
		acls []meta.ACL
		want bool
	}{
		{"nothing", nil, false},
		{"literal allow", []meta.ACL{acl("t", literal, write, allow)}, true},
		{"allow of another operation", []meta.ACL{acl("t", literal, read, allow)}, false},
		{"allow of ALL", []meta.ACL{acl("t", prefixed, kmsg.ACLOperationAll, allow)}, true},
		{"same literal denied", []meta.ACL{acl("t", literal, write, allow), acl("t", literal, write, deny)}, false},
		{"other literal denied", []meta.ACL{acl("t", literal, write, allow), acl("u", literal, write, deny)}, true},
		{"all denied", []meta.ACL{acl("t", prefixed, write, allow), acl("*", literal, kmsg.ACLOperationAll, deny)}, false},
		{"prefix denied", []meta.ACL{acl("team-t", literal, write, allow), acl("team-", prefixed, write, deny)}, false},
		{"one of two denied", []meta.ACL{acl("t", literal, write, allow), acl("u", literal, write, allow), acl("t", literal, write, deny)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, tenant := authorizerWith(t, tc.acls...)
			if got := a.AuthorizeAny(tenant, "MEMBER", "10.0.0.1", write, kmsg.ACLResourceTypeTopic); got != tc.want {
				t.Errorf("member: %v, want %v", got, tc.want)
			}
			if !a.AuthorizeAny(tenant, "ADMIN", "10.0.0.1", write, kmsg.ACLResourceTypeTopic) {
				t.Error("admin refused")
			}
			if a.AuthorizeAny("lc-other", "ADMIN", "10.0.0.1", write, kmsg.ACLResourceTypeTopic) {
				t.Error("admin allowed in another tenant")
			}
		})
	}
}

// TestAuthorize: DENY wins, implied DESCRIBE, prefixes.
func TestAuthorize(t *testing.T) {
	a, tenant := authorizerWith(t,
		acl("pub-", prefixed, read, allow), acl("pub-secret", literal, describe, deny), acl("w", literal, write, allow))
	for _, tc := range []struct {
		op   kmsg.ACLOperation
		name string
		want bool
	}{
		{read, "pub-a", true},
		{describe, "pub-a", true}, // implied by READ
		{write, "pub-a", false},
		{read, "pub-secret", true}, // a DENY of DESCRIBE does not deny READ
		{describe, "pub-secret", false},
		{describe, "w", true},
		{read, "w", false},
		{read, "private", false},
	} {
		if got := a.Authorize(tenant, "MEMBER", "10.0.0.1", tc.op, kmsg.ACLResourceTypeTopic, tc.name); got != tc.want {
			t.Errorf("%v %s: %v, want %v", tc.op, tc.name, got, tc.want)
		}
	}
}

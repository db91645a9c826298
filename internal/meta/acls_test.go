package meta

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func topicACL(principal, name string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) ACL {
	return ACL{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: name, PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Principal: principal, Host: "*", Operation: op, Permission: perm}
}

// TestACLs: bindings are per tenant, validated (a key of another tenant
// is refused with the same message as a key that does not exist), added
// once, deleted exactly, and gone with their tenant.
func TestACLs(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	register(t, s, 1)
	ctx := context.Background()
	a, _ := s.CreateTenant(ctx, "A", 1)
	b, _ := s.CreateTenant(ctx, "B", 1)
	for _, c := range []*Credential{{Key: "KA", Tenant: a.ID, Role: RoleMember}, {Key: "KB", Tenant: b.ID}} {
		if err := s.CreateCredential(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateCredential(ctx, &Credential{Key: "KX", Tenant: a.ID, Role: "root"}); !errors.Is(err, kerr.InvalidRequest) {
		t.Fatalf("bad role: %v", err)
	}
	allow := topicACL("User:KA", "orders", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)
	if err := s.CreateACLs(ctx, a.ID, []ACL{allow, allow}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateACLs(ctx, a.ID, []ACL{allow}); err != nil {
		t.Fatal(err)
	}
	if got := s.Image().ACLs(a.ID); len(got) != 1 || got[0] != allow {
		t.Fatalf("ACLs of A: %+v", got)
	}
	if got := s.Image().ACLs(b.ID); len(got) != 0 {
		t.Fatalf("ACLs of B: %+v", got)
	}

	var msgs []string
	for _, tc := range []struct {
		name string
		acl  ACL
	}{
		{"other tenant's key", topicACL("User:KB", "orders", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)},
		{"no such key", topicACL("User:KZ", "orders", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)},
		{"not a user", topicACL("Group:x", "orders", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)},
		{"empty name", topicACL("User:*", "", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)},
		{"any permission", topicACL("User:*", "o", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAny)},
		{"op of another type", topicACL("User:*", "o", kmsg.ACLOperationIdempotentWrite, kmsg.ACLPermissionTypeAllow)},
		{"cluster name", ACL{ResourceType: kmsg.ACLResourceTypeCluster, ResourceName: "c", PatternType: kmsg.ACLResourcePatternTypeLiteral, Principal: "User:*", Host: "*", Operation: kmsg.ACLOperationCreate, Permission: kmsg.ACLPermissionTypeAllow}},
		{"user resource", ACL{ResourceType: kmsg.ACLResourceTypeUser, ResourceName: "u", PatternType: kmsg.ACLResourcePatternTypeLiteral, Principal: "User:*", Host: "*", Operation: kmsg.ACLOperationAll, Permission: kmsg.ACLPermissionTypeAllow}},
		{"match pattern", ACL{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "u", PatternType: kmsg.ACLResourcePatternTypeMatch, Principal: "User:*", Host: "*", Operation: kmsg.ACLOperationAll, Permission: kmsg.ACLPermissionTypeAllow}},
		{"prefixed wildcard", ACL{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "*", PatternType: kmsg.ACLResourcePatternTypePrefixed, Principal: "User:*", Host: "*", Operation: kmsg.ACLOperationAll, Permission: kmsg.ACLPermissionTypeAllow}},
		{"empty host", ACL{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "t", PatternType: kmsg.ACLResourcePatternTypeLiteral, Principal: "User:*", Operation: kmsg.ACLOperationAll, Permission: kmsg.ACLPermissionTypeAllow}},
	} {
		err := s.CreateACLs(ctx, a.ID, []ACL{tc.acl})
		if !errors.Is(err, kerr.InvalidRequest) {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if strings.Contains(err.Error(), string(b.ID)) {
			t.Errorf("%s: error names the other tenant: %v", tc.name, err)
		}
		msgs = append(msgs, err.Error())
	}
	if len(msgs) > 1 && msgs[0] != strings.ReplaceAll(msgs[1], "KZ", "KB") { // the same but for the name given
		t.Errorf("another tenant's key and an unknown key answer differently: %q vs %q", msgs[0], msgs[1])
	}

	other := topicACL("User:*", "orders", kmsg.ACLOperationWrite, kmsg.ACLPermissionTypeDeny)
	if err := s.DeleteACLs(ctx, a.ID, []ACL{other}); err != nil {
		t.Fatal(err)
	}
	if len(s.Image().ACLs(a.ID)) != 1 {
		t.Fatal("deleting an absent binding removed something")
	}
	if err := s.CreateACLs(ctx, b.ID, []ACL{other}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTenant(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if len(s.Image().ACLs(a.ID)) != 0 || len(s.Image().ACLs(b.ID)) != 1 {
		t.Fatal("ACLs after the tenant's deletion")
	}
	if err := s.CreateACLs(ctx, a.ID, []ACL{topicACL("User:*", "x", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)}); err == nil {
		t.Fatal("ACL created in a deleted tenant")
	}
	if err := s.DeleteACLs(ctx, b.ID, []ACL{other}); err != nil || len(s.Image().ACLs(b.ID)) != 0 {
		t.Fatalf("delete: %v", err)
	}
}

func TestACLsSurviveSnapshot(t *testing.T) {
	f := newFSM()
	im := f.image.Load().clone()
	acl := topicACL("User:*", "orders", kmsg.ACLOperationRead, kmsg.ACLPermissionTypeAllow)
	for _, r := range []Record{
		{TenantRecords: TenantRecords{CreateTenant: &Tenant{ID: "lc-abc", Name: "A"}}},
		{ACLRecords: ACLRecords{CreateACLs: &ACLChange{Tenant: "lc-abc", ACLs: []ACL{acl}}}},
	} {
		if err := im.apply(&r); err != nil {
			t.Fatal(err)
		}
	}
	var sink bufSink
	if err := (&fsmSnapshot{im: im}).Persist(&sink); err != nil {
		t.Fatal(err)
	}
	g := newFSM()
	if err := g.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatal(err)
	}
	if got := g.image.Load().ACLs("lc-abc"); len(got) != 1 || got[0] != acl {
		t.Fatalf("ACLs after a snapshot: %+v", got)
	}
}

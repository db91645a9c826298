package meta

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/twmb/franz-go/pkg/kerr"
)

func TestTenantLifecycle(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	register(t, s, 1)
	ctx := context.Background()

	a, err := s.CreateTenant(ctx, "Team A", 1)
	if err != nil || !strings.HasPrefix(string(a.ID), "lc-") || len(a.ID) != 11 {
		t.Fatalf("create: %+v %v", a, err)
	}
	b, _ := s.CreateTenant(ctx, "Team B", 2)
	if _, err := s.CreateTenant(ctx, " ", 3); !errors.Is(err, kerr.InvalidRequest) {
		t.Fatalf("blank name: %v", err)
	}
	if _, err := s.CreateTenant(ctx, "bad\x01", 3); err == nil {
		t.Fatal("control character accepted")
	}
	if got := s.Image().Tenants(); len(got) != 3 || got[0].ID != DefaultTenant {
		t.Fatalf("list: %+v", got)
	}
	if u, err := s.UpdateTenant(ctx, a.ID, "Team A2"); err != nil || u.Name != "Team A2" {
		t.Fatalf("update: %+v %v", u, err)
	}
	if _, err := s.UpdateTenant(ctx, "lc-nope", "x"); !errors.Is(err, ErrTenantNotFound) {
		t.Fatalf("update unknown: %v", err)
	}

	// The same topic name in two tenants; a credential each.
	for _, tn := range []TenantID{a.ID, b.ID} {
		if res := s.CreateTopics(ctx, tn, []TopicSpec{{Name: "orders", NumPartitions: 1, ReplicationFactor: 1}}, false); res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
		if err := s.CreateCredential(ctx, &Credential{Key: "K-" + string(tn), Tenant: tn}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateCredential(ctx, &Credential{Key: "K-" + string(a.ID), Tenant: a.ID}); err == nil {
		t.Fatal("duplicate key accepted")
	}
	if err := s.CreateCredential(ctx, &Credential{Key: "K-x", Tenant: "lc-nope"}); !errors.Is(err, ErrTenantNotFound) {
		t.Fatalf("key of unknown tenant: %v", err)
	}

	if err := s.DeleteTenant(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	im := s.Image()
	if _, ok := im.Tenant(a.ID); ok {
		t.Fatal("tenant still there")
	}
	if _, ok := im.TopicByName(a.ID, "orders"); ok || len(im.Topics(a.ID)) != 0 {
		t.Fatal("deleted tenant's topic still there")
	}
	if _, ok := im.Credential("K-" + string(a.ID)); ok {
		t.Fatal("deleted tenant's credential still there")
	}
	if _, ok := im.TopicByName(b.ID, "orders"); !ok {
		t.Fatal("other tenant's topic went too")
	}
	if !im.TenantDeleted(a.ID) || im.TenantDeleted(b.ID) || im.TenantDeleted("lc-never") || im.DeletedTenantCount() != 1 {
		t.Fatal("deleted tenants misreported")
	}
	// A connection of the deleted tenant cannot recreate its topics.
	if res := s.CreateTopics(ctx, a.ID, []TopicSpec{{Name: "orders", NumPartitions: 1, ReplicationFactor: 1}}, false); res[0].Err == nil {
		t.Fatal("topic created in a deleted tenant")
	}
	if err := s.DeleteTenant(ctx, a.ID); !errors.Is(err, ErrTenantNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if err := s.DeleteTenant(ctx, DefaultTenant); err == nil {
		t.Fatal("default tenant deleted")
	}
	if err := s.DeleteCredential(ctx, "K-"+string(b.ID)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteCredential(ctx, "K-"+string(b.ID)); !errors.Is(err, ErrCredentialNotFound) {
		t.Fatalf("revoke twice: %v", err)
	}
}

type bufSink struct{ bytes.Buffer }

func (*bufSink) ID() string    { return "test" }
func (*bufSink) Cancel() error { return nil }
func (*bufSink) Close() error  { return nil }

var _ raft.SnapshotSink = (*bufSink)(nil)

func TestTenantsSurviveSnapshot(t *testing.T) {
	f := newFSM()
	im := f.image.Load().clone()
	for _, r := range []Record{
		{TenantRecords: TenantRecords{CreateTenant: &Tenant{ID: "lc-abc", Name: "A"}}},
		{TenantRecords: TenantRecords{CreateCredential: &Credential{Key: "K1", Tenant: "lc-abc", Scram: map[string]ScramCredential{"SCRAM-SHA-256": {Iterations: 4096}}}}},
		{TenantRecords: TenantRecords{CreateTenant: &Tenant{ID: "lc-gone", Name: "G"}}},
		{TenantRecords: TenantRecords{DeleteTenant: &DeleteTenant{ID: "lc-gone"}}},
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
	got := g.image.Load()
	if tn, ok := got.Tenant("lc-abc"); !ok || tn.Name != "A" {
		t.Fatal("tenant lost in snapshot")
	}
	if c, ok := got.Credential("K1"); !ok || c.Scram["SCRAM-SHA-256"].Iterations != 4096 {
		t.Fatal("credential lost in snapshot")
	}
	if !got.TenantDeleted("lc-gone") || got.TenantDeleted("lc-abc") {
		t.Fatal("deleted tenant lost in snapshot")
	}
}

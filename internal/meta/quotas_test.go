package meta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func i64(v int64) *int64 { return &v }

// TestQuotas: set merges, unset and replace clear, negatives and unknown
// names fail, the partition quota holds per topic (all or nothing), and
// quotas survive a snapshot and go with their tenant.
func TestQuotas(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	register(t, s, 1)
	ctx := context.Background()
	a, _ := s.CreateTenant(ctx, "A", 1)

	q, err := s.SetQuotas(ctx, &SetQuotas{Tenant: a.ID, Set: Quotas{ProduceBytesRate: i64(100), Partitions: i64(5)}})
	if err != nil || *q.ProduceBytesRate != 100 || *q.Partitions != 5 || q.FetchBytesRate != nil {
		t.Fatalf("set: %+v %v", q, err)
	}
	if q, err = s.SetQuotas(ctx, &SetQuotas{Tenant: a.ID, Set: Quotas{FetchBytesRate: i64(7)}, Unset: []string{"produceBytesRate"}}); err != nil ||
		q.ProduceBytesRate != nil || *q.FetchBytesRate != 7 || *q.Partitions != 5 {
		t.Fatalf("merge: %+v %v", q, err)
	}
	bad := []*SetQuotas{
		{Tenant: a.ID, Set: Quotas{Connections: i64(-1)}},
		{Tenant: a.ID, Unset: []string{"nope"}},
	}
	for _, c := range bad {
		if _, err := s.SetQuotas(ctx, c); !errors.Is(err, kerr.InvalidRequest) {
			t.Fatalf("%+v: %v", c, err)
		}
	}
	if _, err := s.SetQuotas(ctx, &SetQuotas{Tenant: "lc-nope", Set: Quotas{Connections: i64(1)}}); !errors.Is(err, ErrTenantNotFound) {
		t.Fatalf("unknown tenant: %v", err)
	}

	// 5 partitions: 3 + 2 fit, then nothing more, whether by a new topic
	// or by growing one.
	res := s.CreateTopics(ctx, a.ID, []TopicSpec{{Name: "t1", NumPartitions: 3, ReplicationFactor: 1}, {Name: "t2", NumPartitions: 2, ReplicationFactor: 1}}, false)
	if res[0].Err != nil || res[1].Err != nil {
		t.Fatal(res[0].Err, res[1].Err)
	}
	if res := s.CreateTopics(ctx, a.ID, []TopicSpec{{Name: "t3", NumPartitions: 1, ReplicationFactor: 1}}, false); !errors.Is(res[0].Err, kerr.PolicyViolation) {
		t.Fatalf("over the partition quota: %v", res[0].Err)
	}
	if res := s.CreatePartitions(ctx, a.ID, []PartitionIncrease{{Name: "t1", Count: 4}}, false); !errors.Is(res[0].Err, kerr.PolicyViolation) {
		t.Fatalf("grow over the partition quota: %v", res[0].Err)
	}
	// Records checked before proposing are checked again when applied:
	// two specs that each fit alone do not both fit.
	s.SetQuotas(ctx, &SetQuotas{Tenant: a.ID, Set: Quotas{Partitions: i64(7)}})
	res = s.CreateTopics(ctx, a.ID, []TopicSpec{{Name: "t4", NumPartitions: 2, ReplicationFactor: 1}, {Name: "t5", NumPartitions: 2, ReplicationFactor: 1}}, false)
	if res[0].Err != nil || !errors.Is(res[1].Err, kerr.PolicyViolation) {
		t.Fatalf("two specs against one quota: %v, %v", res[0].Err, res[1].Err)
	}
	if _, ok := s.Image().TopicByName(a.ID, "t5"); ok {
		t.Fatal("refused topic created")
	}

	var sink bufSink
	if err := (&fsmSnapshot{im: s.Image()}).Persist(&sink); err != nil {
		t.Fatal(err)
	}
	g := newFSM()
	if err := g.Restore(io.NopCloser(&sink)); err != nil {
		t.Fatal(err)
	}
	if q := g.image.Load().Quotas(a.ID); q.Partitions == nil || *q.Partitions != 7 || *q.FetchBytesRate != 7 {
		t.Fatalf("after snapshot: %+v", q)
	}
	if q, _ := s.SetQuotas(ctx, &SetQuotas{Tenant: a.ID, Replace: true}); !q.IsZero() {
		t.Fatalf("replace with nothing: %+v", q)
	}
	s.SetQuotas(ctx, &SetQuotas{Tenant: a.ID, Set: Quotas{Connections: i64(1)}})
	if err := s.DeleteTenant(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if q := s.Image().Quotas(a.ID); !q.IsZero() {
		t.Fatalf("deleted tenant's quotas: %+v", q)
	}
}

// TestQuotasReachEveryNode: quotas set through a follower of a three-node
// quorum are in every node's image, and a negative value comes back as
// INVALID_REQUEST across the forwarding.
func TestQuotasReachEveryNode(t *testing.T) {
	q := newQuorum(t, 3)
	f := q.stores[q.follower()]
	ctx := context.Background()
	ten, err := f.CreateTenant(ctx, "A", 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.SetQuotas(ctx, &SetQuotas{Tenant: ten.ID, Set: Quotas{ProduceBytesRate: i64(123)}}); err != nil {
		t.Fatal(err)
	}
	for id, s := range q.stores {
		waitFor(t, fmt.Sprintf("node %d to see the quota", id), func() bool {
			p := s.Image().Quotas(ten.ID).ProduceBytesRate
			return p != nil && *p == 123
		})
	}
	// Checked again where it is applied, not only before proposing.
	errs, err := f.Propose(ctx, Record{TenantRecords: TenantRecords{SetQuotas: &SetQuotas{Tenant: ten.ID, Set: Quotas{Partitions: i64(-2)}}}})
	if err != nil || !errors.Is(errs[0], kerr.InvalidRequest) {
		t.Fatalf("negative quota through a follower: %v %v", errs, err)
	}
}

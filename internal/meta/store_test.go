package meta

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func openStore(t *testing.T, dir string) *Store {
	t.Helper()
	s, err := Open(Config{NodeID: 1, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func register(t *testing.T, s *Store, id int32) {
	t.Helper()
	errs, err := s.Propose(context.Background(), Record{RegisterBroker: &Broker{ID: id, Host: "127.0.0.1", Port: 9092}})
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
}

func TestStoreSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	register(t, s, 1)
	ctx := context.Background()
	res := s.CreateTopics(ctx, DefaultTenant, []TopicSpec{{Name: "orders", NumPartitions: 3, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "1000"}}}, false)
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	id := res[0].Topic.ID
	cluster := s.Image().ClusterID
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, dir)
	defer s.Close()
	im := s.Image()
	top, ok := im.TopicByName(DefaultTenant, "orders")
	if !ok || top.ID != id || len(top.Partitions) != 3 || top.Configs["retention.ms"] != "1000" {
		t.Fatalf("after restart: %+v %v", top, ok)
	}
	if im.ClusterID != cluster {
		t.Fatalf("cluster id changed: %s -> %s", cluster, im.ClusterID)
	}
}

func TestStoreSnapshotRestore(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	register(t, s, 1)
	for i := range 20 {
		res := s.CreateTopics(context.Background(), DefaultTenant, []TopicSpec{{Name: fmt.Sprintf("t%d", i), NumPartitions: 1, ReplicationFactor: 1}}, false)
		if res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
	}
	if err := s.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	want := s.Image()
	s.Close()

	s = openStore(t, dir)
	defer s.Close()
	got := s.Image()
	if len(got.AllTopics()) != 20 || got.ClusterID != want.ClusterID {
		t.Fatalf("restored %d topics, cluster %q; want 20, %q", len(got.AllTopics()), got.ClusterID, want.ClusterID)
	}
	for _, wt := range want.AllTopics() {
		gt, ok := got.TopicByID(wt.ID)
		if !ok || gt.Name != wt.Name {
			t.Fatalf("topic %s lost in snapshot", wt.Name)
		}
	}
}

func TestCreateTopicErrors(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	register(t, s, 1)
	ctx := context.Background()
	if res := s.CreateTopics(ctx, DefaultTenant, []TopicSpec{{Name: "a.b", NumPartitions: 1, ReplicationFactor: 1}}, false); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	tests := []struct {
		name string
		spec TopicSpec
		want *kerr.Error
	}{
		{"exists", TopicSpec{Name: "a.b", NumPartitions: 1, ReplicationFactor: 1}, kerr.TopicAlreadyExists},
		{"collides", TopicSpec{Name: "a_b", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{"bad name", TopicSpec{Name: "a/b", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{"dot", TopicSpec{Name: "..", NumPartitions: 1, ReplicationFactor: 1}, kerr.InvalidTopicException},
		{"zero partitions", TopicSpec{Name: "z", NumPartitions: 0, ReplicationFactor: 1}, kerr.InvalidPartitions},
		{"too many partitions", TopicSpec{Name: "z", NumPartitions: MaxPartitionsPerTopic + 1, ReplicationFactor: 1}, kerr.InvalidPartitions},
		{"rf too large", TopicSpec{Name: "z", NumPartitions: 1, ReplicationFactor: 3}, kerr.InvalidReplicationFactor},
		{"bad config", TopicSpec{Name: "z", NumPartitions: 1, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "soon"}}, kerr.InvalidConfig},
		{"unknown config", TopicSpec{Name: "z", NumPartitions: 1, ReplicationFactor: 1, Configs: map[string]string{"no.such": "1"}}, kerr.InvalidConfig},
		{"unknown broker", TopicSpec{Name: "z", NumPartitions: -1, ReplicationFactor: -1, Assignments: [][]int32{{7}}}, kerr.InvalidReplicaAssignment},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := s.CreateTopics(ctx, DefaultTenant, []TopicSpec{tc.spec}, false)
			if !errors.Is(res[0].Err, tc.want) {
				t.Fatalf("got %v, want %v", res[0].Err, tc.want)
			}
		})
	}
	// Another tenant has its own namespace.
	if errs, err := s.Propose(ctx, Record{TenantRecords: TenantRecords{CreateTenant: &Tenant{ID: "lc-other", Name: "other"}}}); err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	if res := s.CreateTopics(ctx, "lc-other", []TopicSpec{{Name: "a.b", NumPartitions: 1, ReplicationFactor: 1}}, false); res[0].Err != nil {
		t.Fatalf("same name in another tenant: %v", res[0].Err)
	}
	if len(s.Image().Topics(DefaultTenant)) != 1 || len(s.Image().Topics("lc-other")) != 1 {
		t.Fatal("tenants see each other's topics")
	}
}

func TestAlterConfigs(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	register(t, s, 1)
	ctx := context.Background()
	s.CreateTopics(ctx, DefaultTenant, []TopicSpec{{Name: "c", NumPartitions: 1, ReplicationFactor: 1, Configs: map[string]string{"retention.ms": "5"}}}, false)
	str := func(s string) *string { return &s }
	err := s.AlterTopicConfigs(ctx, DefaultTenant, "c", []ConfigChange{
		{Name: "cleanup.policy", Op: OpAppend, Value: str("compact")},
		{Name: "segment.ms", Op: OpSet, Value: str("60000")},
		{Name: "retention.ms", Op: OpDelete},
	}, true, false)
	if err != nil {
		t.Fatal(err)
	}
	top, _ := s.Image().TopicByName(DefaultTenant, "c")
	want := map[string]string{"cleanup.policy": "delete,compact", "segment.ms": "60000"}
	if fmt.Sprint(top.Configs) != fmt.Sprint(want) {
		t.Fatalf("configs %v, want %v", top.Configs, want)
	}
	// A non-incremental alter replaces the whole set.
	if err := s.AlterTopicConfigs(ctx, DefaultTenant, "c", []ConfigChange{{Name: "retention.ms", Value: str("7")}}, false, false); err != nil {
		t.Fatal(err)
	}
	top, _ = s.Image().TopicByName(DefaultTenant, "c")
	if fmt.Sprint(top.Configs) != "map[retention.ms:7]" {
		t.Fatalf("after replace: %v", top.Configs)
	}
	if err := s.AlterTopicConfigs(ctx, DefaultTenant, "c", []ConfigChange{{Name: "segment.ms", Op: OpAppend, Value: str("1")}}, true, false); !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("append to non-list: %v", err)
	}
	if err := s.AlterBrokerConfigs(ctx, 1, []ConfigChange{{Name: "node.id", Value: str("3")}}, true, false); !errors.Is(err, kerr.InvalidRequest) {
		t.Fatalf("read-only broker config: %v", err)
	}
}

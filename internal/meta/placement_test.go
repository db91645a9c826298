package meta

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func brokersIn(racks ...string) []*Broker {
	var out []*Broker
	for i, r := range racks {
		out = append(out, &Broker{ID: int32(i + 1), Rack: r})
	}
	return out
}

func TestPlacementSpread(t *testing.T) {
	tests := []struct {
		name     string
		racks    []string
		n, rf    int
		minRacks int // distinct racks every partition must span
	}{
		{"three zones rf3", []string{"a", "b", "c"}, 12, 3, 3},
		{"three zones rf1", []string{"a", "b", "c"}, 12, 1, 1},
		{"six brokers three zones rf3", []string{"a", "a", "b", "b", "c", "c"}, 30, 3, 3},
		{"uneven zones rf2", []string{"a", "a", "a", "b"}, 8, 2, 2},
		{"two zones rf3", []string{"a", "b", "a", "b"}, 8, 3, 2},
		{"no zones", []string{"", "", "", ""}, 10, 2, 1},
	}
	for _, tc := range tests {
		for start := range len(tc.racks) {
			t.Run(fmt.Sprintf("%s/start%d", tc.name, start), func(t *testing.T) {
				brokers := brokersIn(tc.racks...)
				parts := place(brokers, tc.n, tc.rf, start)
				leaders := map[int32]int{}
				replicas := map[int32]int{}
				for p, part := range parts {
					racks := map[string]bool{}
					seen := map[int32]bool{}
					for _, r := range part.Replicas {
						if seen[r] {
							t.Fatalf("partition %d lists broker %d twice: %v", p, r, part.Replicas)
						}
						seen[r] = true
						racks[tc.racks[r-1]] = true
						replicas[r]++
					}
					if len(part.Replicas) != tc.rf || len(racks) < tc.minRacks || part.Leader != part.Replicas[0] {
						t.Fatalf("partition %d: replicas %v over racks %v", p, part.Replicas, racks)
					}
					leaders[part.Leader]++
				}
				checkEven(t, "leaders", leaders, len(brokers), tc.n, 0)
				if tc.name != "uneven zones rf2" { // zone spread beats broker spread there
					// Followers are placed greedily around round-robin
					// leaders: within one of the even share.
					checkEven(t, "replicas", replicas, len(brokers), tc.n*tc.rf, 1)
				}
			})
		}
	}
}

// checkEven fails unless total is spread over n brokers with counts within
// slack of the even share.
func checkEven(t *testing.T, what string, counts map[int32]int, n, total, slack int) {
	t.Helper()
	lo, hi := total/n-slack, (total+n-1)/n+slack
	for id := int32(1); id <= int32(n); id++ {
		if c := counts[id]; c < lo || c > hi {
			t.Fatalf("%s: broker %d has %d, want %d..%d (%v)", what, id, c, lo, hi, counts)
		}
	}
}

func TestPlacementErrors(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	for id := int32(1); id <= 3; id++ {
		register(t, s, id)
	}
	ctx := context.Background()
	errs, err := s.Propose(ctx, Record{FenceBroker: &BrokerRef{ID: 3, Epoch: mustBroker(t, s, 3).Epoch}})
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	tests := []struct {
		name string
		spec TopicSpec
		want *kerr.Error
	}{
		{"rf above unfenced brokers", TopicSpec{Name: "x", NumPartitions: 1, ReplicationFactor: 3}, kerr.InvalidReplicationFactor},
		{"unknown broker", TopicSpec{Name: "x", NumPartitions: -1, ReplicationFactor: -1, Assignments: [][]int32{{1, 9}}}, kerr.InvalidReplicaAssignment},
		{"uneven assignment", TopicSpec{Name: "x", NumPartitions: -1, ReplicationFactor: -1, Assignments: [][]int32{{1, 2}, {1}}}, kerr.InvalidReplicaAssignment},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := s.Image().Index
			res := s.CreateTopics(ctx, DefaultTenant, []TopicSpec{tc.spec}, false)
			if !errors.Is(res[0].Err, tc.want) {
				t.Fatalf("got %v, want %v", res[0].Err, tc.want)
			}
			if s.Image().Index != before {
				t.Fatal("a failed create changed the metadata")
			}
		})
	}
	// rf 2 fits the two unfenced brokers and avoids the fenced one.
	res := s.CreateTopics(ctx, DefaultTenant, []TopicSpec{{Name: "y", NumPartitions: 8, ReplicationFactor: 2}}, false)
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	for _, p := range res[0].Topic.Partitions {
		for _, r := range p.Replicas {
			if r == 3 {
				t.Fatalf("fenced broker 3 got a replica: %v", p.Replicas)
			}
		}
	}
	// An explicit assignment may name a registered broker, fenced or not.
	res = s.CreateTopics(ctx, DefaultTenant, []TopicSpec{{Name: "z", NumPartitions: -1, ReplicationFactor: -1, Assignments: [][]int32{{3}}}}, false)
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
}

func mustBroker(t *testing.T, s *Store, id int32) *Broker {
	t.Helper()
	b, ok := s.Image().Broker(id)
	if !ok {
		t.Fatalf("broker %d not registered", id)
	}
	return b
}

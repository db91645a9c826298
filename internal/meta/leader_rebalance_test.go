package meta

import (
	"testing"
)

// TestLeaderRebalancePlan: broker 1 prefers 10 partitions; the ones it
// lost are elected back only beyond the tolerated share, only where it is
// in sync, and never during a reassignment.
func TestLeaderRebalancePlan(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lost     int // of broker 1's 10 preferred partitions, led by 2
		outOfISR int // of those, broker 1 is not in sync
		moving   bool
		percent  int
		want     int
	}{
		{name: "balanced", lost: 0, percent: 10, want: 0},
		{name: "within tolerance", lost: 1, percent: 10, want: 0},
		{name: "over tolerance", lost: 4, percent: 10, want: 4},
		{name: "zero tolerance", lost: 1, percent: 0, want: 1},
		{name: "only in-sync", lost: 4, outOfISR: 3, percent: 10, want: 1},
		{name: "reassigning", lost: 4, moving: true, percent: 10, want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im := emptyImage()
			for id := int32(1); id <= 3; id++ {
				im.brokers[id] = &Broker{ID: id, Epoch: 1}
			}
			tp := &Topic{ID: NewTopicID(), Tenant: DefaultTenant, Name: "t"}
			for i := range 10 {
				p := Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1}
				if i < tc.lost {
					p.Leader = 2
					if tc.moving {
						p.AddingReplicas = []int32{3}
					}
				}
				if i < tc.outOfISR {
					p.ISR = []int32{2, 3}
				}
				tp.Partitions = append(tp.Partitions, p)
			}
			if err := im.applyCreateTopic(tp); err != nil {
				t.Fatal(err)
			}
			recs := planLeaderRebalance(im, aliveExcept(im, nil, nil), tc.percent)
			if len(recs) != tc.want {
				t.Fatalf("%d elections, want %d", len(recs), tc.want)
			}
			for _, r := range recs {
				if c := r.PartitionChange; c.Leader != 1 || int(c.Partition) >= tc.lost {
					t.Fatalf("election %+v", c)
				}
			}
		})
	}
}

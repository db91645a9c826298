package meta

import (
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// reassignImage has brokers 1-4 (4 fenced) and topic t with one partition
// on [1 2 3], led by 1, all in sync.
func reassignImage(t *testing.T) (*Image, *Topic) {
	t.Helper()
	im := emptyImage()
	for id := int32(1); id <= 4; id++ {
		im.brokers[id] = &Broker{ID: id, Epoch: int64(10 * id), Fenced: id == 4}
	}
	tp := &Topic{ID: NewTopicID(), Tenant: DefaultTenant, Name: "t",
		Partitions: []Partition{{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 2, PartitionEpoch: 5}}}
	if err := im.applyCreateTopic(tp); err != nil {
		t.Fatal(err)
	}
	return im, tp
}

func TestReassignmentLifecycle(t *testing.T) {
	im, tp := reassignImage(t)
	ref := PartitionRef{Topic: tp.ID}
	apply := func(c *PartitionChange) Partition {
		t.Helper()
		if err := im.apply(&Record{PartitionChange: c}); err != nil {
			t.Fatal(err)
		}
		return im.byID[tp.ID].Partitions[0]
	}

	// Start: 1 leaves, 4 joins. Replicas are the target, then the leaving.
	c, err := planReassignment(im, Reassignment{PartitionRef: ref, Target: []int32{4, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	p := apply(c)
	if !slices.Equal(p.Replicas, []int32{4, 2, 3, 1}) || !slices.Equal(p.AddingReplicas, []int32{4}) ||
		!slices.Equal(p.RemovingReplicas, []int32{1}) || p.Leader != 1 || !slices.Equal(p.ISR, []int32{1, 2, 3}) {
		t.Fatalf("started: %+v", p)
	}
	alive := func(id int32) bool { return id != 4 || !im.brokers[4].Fenced }
	if recs := planReassignments(im, alive); len(recs) != 0 {
		t.Fatalf("completed before the new replica is in sync: %+v", recs[0].PartitionChange)
	}

	// Cancel, then start again: the original replicas come back (in
	// Kafka's order: the ones kept, then the ones that were leaving).
	c, err = planReassignment(im, Reassignment{PartitionRef: ref})
	if err != nil {
		t.Fatal(err)
	}
	if p := apply(c); !slices.Equal(p.Replicas, []int32{2, 3, 1}) || p.Reassigning() || p.Leader != 1 {
		t.Fatalf("cancelled: %+v", p)
	}
	if _, err := planReassignment(im, Reassignment{PartitionRef: ref}); !errors.Is(err, kerr.NoReassignmentInProgress) {
		t.Fatalf("cancel without a reassignment: %v", err)
	}
	c, _ = planReassignment(im, Reassignment{PartitionRef: ref, Target: []int32{4, 2, 3}})
	p = apply(c)

	// 4 catches up and joins the ISR: the controller completes the move,
	// and leadership leaves 1 for the first target replica in sync, 4.
	im.brokers[4] = &Broker{ID: 4, Epoch: 40}
	p = apply(&PartitionChange{Topic: tp.ID, PartitionEpoch: p.PartitionEpoch, Leader: 1, ISR: []int32{1, 2, 3, 4}})
	recs := planReassignments(im, alive)
	if len(recs) != 1 {
		t.Fatalf("%d completions, want 1", len(recs))
	}
	p = apply(recs[0].PartitionChange)
	if !slices.Equal(p.Replicas, []int32{4, 2, 3}) || p.Reassigning() || p.Leader != 4 || !slices.Equal(p.ISR, []int32{2, 3, 4}) || p.LeaderEpoch != 3 {
		t.Fatalf("completed: %+v", p)
	}
}

func TestPlanReassignmentErrors(t *testing.T) {
	im, tp := reassignImage(t)
	ref := PartitionRef{Topic: tp.ID}
	for _, c := range []struct {
		name string
		r    Reassignment
		want error
	}{
		{"unknown partition", Reassignment{PartitionRef: PartitionRef{Topic: tp.ID, Partition: 3}, Target: []int32{1}}, kerr.UnknownTopicOrPartition},
		{"empty target", Reassignment{PartitionRef: ref, Target: []int32{}}, kerr.InvalidReplicaAssignment},
		{"duplicate broker", Reassignment{PartitionRef: ref, Target: []int32{1, 1, 2}}, kerr.InvalidReplicaAssignment},
		{"unknown broker", Reassignment{PartitionRef: ref, Target: []int32{1, 2, 9}}, kerr.InvalidReplicaAssignment},
		{"replication factor change refused", Reassignment{PartitionRef: ref, Target: []int32{1, 2}, KeepReplicationFactor: true}, kerr.InvalidReplicationFactor},
		{"no reassignment to cancel", Reassignment{PartitionRef: ref}, kerr.NoReassignmentInProgress},
	} {
		if _, err := planReassignment(im, c.r); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Same replicas: nothing to do. A shrink completes at once.
	if c, err := planReassignment(im, Reassignment{PartitionRef: ref, Target: []int32{1, 2, 3}}); c != nil || err != nil {
		t.Fatalf("same replicas: %+v %v", c, err)
	}
	c, err := planReassignment(im, Reassignment{PartitionRef: ref, Target: []int32{3, 2}})
	if err != nil || !slices.Equal(c.Replicas, []int32{3, 2}) || len(c.Removing) != 0 || c.Leader != 3 || !slices.Equal(c.ISR, []int32{2, 3}) {
		t.Fatalf("shrink: %+v %v", c, err)
	}
}

func TestPlanElections(t *testing.T) {
	im, tp := reassignImage(t)
	p := &tp.Partitions[0]
	all := func(int32) bool { return true }
	if _, err := planPreferredElection(tp.ID, 0, p, all); !errors.Is(err, kerr.ElectionNotNeeded) {
		t.Fatalf("preferred already leads: %v", err)
	}
	moved := *p
	moved.Leader = 2
	if c, err := planPreferredElection(tp.ID, 0, &moved, all); err != nil || c.Leader != 1 {
		t.Fatalf("preferred election: %+v %v", c, err)
	}
	if _, err := planPreferredElection(tp.ID, 0, &moved, func(id int32) bool { return id != 1 }); !errors.Is(err, kerr.PreferredLeaderNotAvailable) {
		t.Fatalf("preferred replica dead: %v", err)
	}
	if _, err := planUncleanElection(tp, 0, all); !errors.Is(err, kerr.ElectionNotNeeded) {
		t.Fatalf("unclean with a live leader: %v", err)
	}
	// Leader 1 dead and the only in-sync replica: 2 leads, unclean.
	leaderless := &Topic{ID: tp.ID, Name: "t", Partitions: []Partition{{Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: NoLeader}}}
	only23 := func(id int32) bool { return id == 2 || id == 3 }
	if c, err := planUncleanElection(leaderless, 0, only23); err != nil || c.Leader != 2 || !slices.Equal(c.ISR, []int32{2}) {
		t.Fatalf("unclean election: %+v %v", c, err)
	}
	if _, err := planUncleanElection(leaderless, 0, func(int32) bool { return false }); !errors.Is(err, kerr.EligibleLeadersNotAvailable) {
		t.Fatalf("nobody alive: %v", err)
	}
	_ = im
}

package meta

// Partition reassignments (KIP-455) and leader elections on request
// (KIP-460), as KRaft's ReplicationControlManager does them, written as
// PartitionChange records:
//
//   - AlterPartitionReassignments sets a target: the replicas become the
//     target followed by the replicas being removed, AddingReplicas the
//     target's new members and RemovingReplicas the old ones leaving. The
//     new replicas open their logs and fetch from the leader like any
//     follower; the leader adds them to the ISR once they catch up.
//   - Once every target replica is in the ISR the active controller
//     completes it (planReassignments): the replicas become the target,
//     the removed ones leave the ISR and, if the leader is one of them,
//     leadership moves to the first target replica in the ISR, in one
//     record. The removed replicas delete their logs when they apply it.
//   - A reassignment that adds no replica completes at once; one with a
//     nil target is cancelled: the original replicas come back, in
//     KRaft's order (the replicas minus the adding ones), so the preferred
//     leader may differ from before.
//   - ElectLeaders moves leadership to the preferred replica (the first)
//     when it is alive and in sync, or elects a leader for a partition
//     without one, from the ISR first and outside it as a last resort
//     (unclean).

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// PartitionRef names one partition of a topic.
type PartitionRef struct {
	Topic     TopicID
	Partition int32
}

// Reassignment is one partition's new target replicas; nil cancels the
// reassignment in progress.
type Reassignment struct {
	PartitionRef
	Target []int32
	// KeepReplicationFactor refuses a target of another size
	// (AlterPartitionReassignments v1 without
	// AllowReplicationFactorChange, KIP-860).
	KeepReplicationFactor bool
}

// AlterReassignments starts, replaces or cancels reassignments and returns
// one outcome per request: nil once the change is recorded (the
// reassignment then completes in the background), or a Kafka error
// (UNKNOWN_TOPIC_OR_PARTITION, INVALID_REPLICA_ASSIGNMENT,
// INVALID_REPLICATION_FACTOR, NO_REASSIGNMENT_IN_PROGRESS,
// INVALID_UPDATE_VERSION if the partition changed meanwhile).
func (s *Store) AlterReassignments(ctx context.Context, reqs []Reassignment) []error {
	im := s.Image()
	errs := make([]error, len(reqs))
	var recs []Record
	var at []int
	for i, r := range reqs {
		c, err := planReassignment(im, r)
		switch {
		case err != nil:
			errs[i] = err
		case c != nil:
			recs = append(recs, Record{PartitionChange: c})
			at = append(at, i)
		}
	}
	s.proposeChanges(ctx, recs, at, errs)
	return errs
}

// ElectLeaders elects leaders of the partitions named (KIP-460): the
// preferred replica, or, with unclean, a leader for partitions that have
// none. Outcomes: nil, ELECTION_NOT_NEEDED, PREFERRED_LEADER_NOT_AVAILABLE,
// ELIGIBLE_LEADERS_NOT_AVAILABLE, UNKNOWN_TOPIC_OR_PARTITION.
func (s *Store) ElectLeaders(ctx context.Context, unclean bool, parts []PartitionRef) []error {
	im := s.Image()
	alive := aliveExcept(im, nil, nil)
	errs := make([]error, len(parts))
	var recs []Record
	var at []int
	for i, ref := range parts {
		t, p, err := im.partitionAt(ref.Topic, ref.Partition)
		if err != nil {
			errs[i] = err
			continue
		}
		var c *PartitionChange
		if unclean {
			c, err = planUncleanElection(t, ref.Partition, alive)
		} else {
			c, err = planPreferredElection(t.ID, ref.Partition, p, alive)
		}
		if err != nil {
			errs[i] = err
			continue
		}
		recs = append(recs, Record{PartitionChange: c})
		at = append(at, i)
	}
	s.proposeChanges(ctx, recs, at, errs)
	return errs
}

// proposeChanges proposes recs in one entry and puts record j's outcome
// in errs[at[j]].
func (s *Store) proposeChanges(ctx context.Context, recs []Record, at []int, errs []error) {
	if len(recs) == 0 {
		return
	}
	out, err := s.Propose(ctx, recs...)
	for j, i := range at {
		if err != nil {
			errs[i] = err
		} else {
			errs[i] = out[j]
		}
	}
}

// planPreferredElection moves leadership to the first replica.
func planPreferredElection(id TopicID, partition int32, p *Partition, alive func(int32) bool) (*PartitionChange, error) {
	preferred := p.Replicas[0]
	switch {
	case p.Leader == preferred:
		return nil, fmt.Errorf("%w: broker %d already leads", kerr.ElectionNotNeeded, preferred)
	case !alive(preferred) || !slices.Contains(p.ISR, preferred):
		return nil, fmt.Errorf("%w: broker %d is not alive and in sync", kerr.PreferredLeaderNotAvailable, preferred)
	}
	return &PartitionChange{Topic: id, Partition: partition, PartitionEpoch: p.PartitionEpoch, Leader: preferred,
		ISR: slices.Clone(p.ISR), Reason: "preferred election"}, nil
}

// planUncleanElection elects a leader for a partition without a live one,
// outside the ISR if no in-sync replica is alive.
func planUncleanElection(t *Topic, partition int32, alive func(int32) bool) (*PartitionChange, error) {
	p := &t.Partitions[partition]
	if p.Leader != NoLeader && alive(p.Leader) {
		return nil, fmt.Errorf("%w: broker %d leads", kerr.ElectionNotNeeded, p.Leader)
	}
	c := planPartition(t, partition, alive, true)
	if c == nil || c.Leader == NoLeader {
		return nil, fmt.Errorf("%w: no replica of %s-%d is alive", kerr.EligibleLeadersNotAvailable, t.Name, partition)
	}
	return c, nil
}

// planReassignment plans the change that starts (or cancels) one
// reassignment, or returns nil when there is nothing to do.
func planReassignment(im *Image, r Reassignment) (*PartitionChange, error) {
	t, p, err := im.partitionAt(r.Topic, r.Partition)
	if err != nil {
		return nil, err
	}
	original := without(p.Replicas, p.AddingReplicas)
	target := r.Target
	if target == nil {
		if !p.Reassigning() {
			return nil, fmt.Errorf("%w: %s-%d", kerr.NoReassignmentInProgress, t.Name, r.Partition)
		}
		target = original
	} else if err := im.checkTarget(target, len(original), r.KeepReplicationFactor); err != nil {
		return nil, err
	}
	if !p.Reassigning() && slices.Equal(target, p.Replicas) {
		return nil, nil
	}
	c := &PartitionChange{Topic: t.ID, Partition: r.Partition, PartitionEpoch: p.PartitionEpoch, Reason: "reassignment",
		Adding: without(target, original), Removing: without(original, target)}
	c.Replicas = append(slices.Clone(target), c.Removing...)
	if len(c.Adding) == 0 {
		// Nothing to copy: the target takes over at once.
		c.Replicas, c.Removing = slices.Clone(target), nil
	}
	if !finishWith(c, p, c.Replicas) {
		return nil, fmt.Errorf("%w: no replica of %v is in the ISR %v", kerr.InvalidReplicaAssignment, c.Replicas, p.ISR)
	}
	return c, nil
}

// checkTarget validates a reassignment's target replicas.
func (im *Image) checkTarget(target []int32, rf int, keepRF bool) error {
	if len(target) == 0 {
		return fmt.Errorf("%w: empty replica list", kerr.InvalidReplicaAssignment)
	}
	if keepRF && len(target) != rf {
		return fmt.Errorf("%w: %d replicas instead of %d", kerr.InvalidReplicationFactor, len(target), rf)
	}
	for i, id := range target {
		if slices.Contains(target[:i], id) {
			return fmt.Errorf("%w: broker %d listed twice", kerr.InvalidReplicaAssignment, id)
		}
		if _, ok := im.brokers[id]; !ok {
			return fmt.Errorf("%w: broker %d is not registered", kerr.InvalidReplicaAssignment, id)
		}
	}
	return nil
}

// checkReplicas validates the replicas a PartitionChange sets.
func (im *Image) checkReplicas(c *PartitionChange) error {
	if err := im.checkTarget(c.Replicas, 0, false); err != nil {
		return err
	}
	for _, id := range append(slices.Clone(c.Adding), c.Removing...) {
		if !slices.Contains(c.Replicas, id) {
			return fmt.Errorf("%w: reassigned broker %d outside the replicas %v", kerr.InvalidRequest, id, c.Replicas)
		}
	}
	return nil
}

// finishWith sets c's ISR to p's in-sync replicas among replicas and keeps
// p's leader if it is one of them, else takes the first of replicas in
// the ISR. It reports false when no in-sync replica would remain.
func finishWith(c *PartitionChange, p *Partition, replicas []int32) bool {
	c.ISR = nil
	for _, id := range p.ISR {
		if slices.Contains(replicas, id) {
			c.ISR = append(c.ISR, id)
		}
	}
	if len(c.ISR) == 0 {
		return false
	}
	c.Leader = p.Leader
	if !slices.Contains(c.ISR, c.Leader) {
		c.Leader = NoLeader
		for _, id := range replicas {
			if slices.Contains(c.ISR, id) {
				c.Leader = id
				break
			}
		}
	}
	return true
}

// planReassignments completes the reassignments whose target replicas
// are all in the ISR, when a live one of them can lead.
func planReassignments(im *Image, alive func(int32) bool) []Record {
	var recs []Record
	for _, t := range im.AllTopics() {
		for i := range t.Partitions {
			p := &t.Partitions[i]
			if !p.Reassigning() {
				continue
			}
			target := without(p.Replicas, p.RemovingReplicas)
			if len(without(target, p.ISR)) > 0 {
				continue
			}
			c := &PartitionChange{Topic: t.ID, Partition: int32(i), PartitionEpoch: p.PartitionEpoch,
				Replicas: target, Reason: "reassignment completed"}
			if !finishWith(c, p, target) || !alive(c.Leader) {
				continue
			}
			recs = append(recs, Record{PartitionChange: c})
		}
	}
	return recs
}

// without returns the members of a not in b, in a's order.
func without(a, b []int32) []int32 {
	var out []int32
	for _, id := range a {
		if !slices.Contains(b, id) {
			out = append(out, id)
		}
	}
	return out
}

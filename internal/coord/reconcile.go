package coord

import "fmt"

// memberState is where a consumer group member stands in reconciling its
// assignment with its target (KIP-848's CurrentAssignmentBuilder states).
type memberState string

const (
	// memberStable: the member has its whole target at the target epoch.
	memberStable memberState = "stable"
	// memberUnrevoked: the member must give up partitions not in its
	// target before anything else happens; its epoch stays behind until it
	// acknowledges by heartbeating without them.
	memberUnrevoked memberState = "unrevoked"
	// memberUnreleased: the member is at the target epoch but waits for
	// partitions of its target that other members still own.
	memberUnreleased memberState = "unreleased"
)

// memberAssignment is a member's side of reconciliation. Its epoch is the
// member epoch: the group epoch of the target the member last caught up
// with. assigned holds what the member may consume; revoking what it was
// asked to give up and has not yet confirmed giving up. A member owns both
// sets: no partition is in two members' owned sets at once.
//
// assignedAt holds, for every owned partition, the member epoch at which
// the member got it (KIP-1251's assignment epoch): the member has owned the
// partition without a break since, so a commit of it carrying any epoch
// from there to the current one is the member's own.
type memberAssignment struct {
	epoch      int32
	prevEpoch  int32
	state      memberState
	assigned   Assignment
	revoking   Assignment
	assignedAt map[topicIDPartition]int32
}

// owns reports every partition the member owns: assigned and revoking.
func (m *memberAssignment) owns(fn func(topicIDPartition)) {
	m.assigned.each(fn)
	m.revoking.each(fn)
}

// reconcileTarget is what a member reconciles towards.
type reconcileTarget struct {
	epoch      int32
	partitions Assignment
	// ownedByOther reports a partition some other member still owns.
	ownedByOther func(topicIDPartition) bool
	// exists reports a topic that still exists; partitions of deleted
	// topics count as given up.
	exists func(TopicID) bool
}

// reconcile moves m one step towards t. reported is the member's own view
// of the partitions it holds (the heartbeat's Topics), nil when the
// heartbeat did not say.
//
// The order is what keeps a partition from having two consumers: a member
// first drops what it must give up (its epoch stays), and only once it
// confirms does its epoch advance and does it get new partitions, and only
// those no other member owns any more.
func (m *memberAssignment) reconcile(t reconcileTarget, reported Assignment) {
	switch m.state {
	case memberUnrevoked:
		if reported == nil || stillHolds(reported, m.revoking, t.exists) {
			return
		}
		m.revoking = Assignment{}
	case memberStable:
		if m.epoch == t.epoch {
			return
		}
	case memberUnreleased:
	default:
		panic(fmt.Sprintf("coord: member in unknown state %q", m.state))
	}
	keep, revoke := Assignment{}, Assignment{}
	m.assigned.each(func(p topicIDPartition) {
		switch {
		case t.partitions.contains(p):
			keep.add(p)
		case t.exists(p.Topic):
			revoke.add(p)
		}
		// A deleted topic's partitions are gone without a confirmation.
	})
	if revoke.size() > 0 {
		m.assigned, m.revoking, m.state = keep, revoke, memberUnrevoked
		m.pruneAssignedAt() // deleted topics' partitions went without revocation
		return
	}
	blocked := false
	if m.assignedAt == nil {
		m.assignedAt = map[topicIDPartition]int32{}
	}
	t.partitions.each(func(p topicIDPartition) {
		switch {
		case keep.contains(p):
		case t.ownedByOther(p):
			blocked = true
		default:
			keep.add(p)
			m.assignedAt[p] = t.epoch
		}
	})
	if m.epoch != t.epoch {
		m.prevEpoch, m.epoch = m.epoch, t.epoch
	}
	m.assigned, m.state = keep, memberStable
	if blocked {
		m.state = memberUnreleased
	}
	m.pruneAssignedAt()
}

// pruneAssignedAt forgets the assignment epochs of partitions the member
// no longer owns.
func (m *memberAssignment) pruneAssignedAt() {
	for p := range m.assignedAt {
		if !m.assigned.contains(p) && !m.revoking.contains(p) {
			delete(m.assignedAt, p)
		}
	}
}

// stillHolds reports whether held includes any partition of revoking whose
// topic still exists.
func stillHolds(held, revoking Assignment, exists func(TopicID) bool) bool {
	found := false
	revoking.each(func(p topicIDPartition) {
		if !found && held.contains(p) && exists(p.Topic) {
			found = true
		}
	})
	return found
}

package coord

import (
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ConsumerGroupDescription is a consumer group as ConsumerGroupDescribe
// reports it.
type ConsumerGroupDescription struct {
	Group           string
	State           State
	Epoch           int32
	AssignmentEpoch int32
	Assignor        string
	Members         []ConsumerMemberDescription
}

// ConsumerMemberDescription is one member of a consumer group.
type ConsumerMemberDescription struct {
	MemberID         string
	InstanceID       string
	RackID           string
	MemberEpoch      int32
	ClientID         string
	ClientHost       string
	SubscribedTopics []string
	SubscribedRegex  string
	Assignment       []DescribedPartitions
	TargetAssignment []DescribedPartitions
}

// DescribedPartitions is a topic's partitions, by id and name (the name is
// empty for a topic deleted since).
type DescribedPartitions struct {
	TopicID    TopicID
	Topic      string
	Partitions []int32
}

// DescribeConsumerGroup describes a consumer group. A classic group, like
// a group that does not exist, is GROUP_ID_NOT_FOUND, as in Kafka.
func (c *Coordinator) DescribeConsumerGroup(k GroupKey) (ConsumerGroupDescription, error) {
	_, g, err := c.lock(k, false)
	if err != nil {
		return ConsumerGroupDescription{Group: k.Group, State: StateDead}, err
	}
	if g == nil {
		return ConsumerGroupDescription{Group: k.Group, State: StateDead}, fmt.Errorf("%w: group %s not found", kerr.GroupIDNotFound, k.Group)
	}
	defer g.mu.Unlock()
	cg := g.cg
	if cg == nil {
		return ConsumerGroupDescription{Group: k.Group, State: StateDead}, fmt.Errorf("%w: group %s is not a consumer group", kerr.GroupIDNotFound, k.Group)
	}
	assignor := cg.assignor
	if assignor == "" {
		assignor = cg.preferredAssignor()
	}
	d := ConsumerGroupDescription{Group: k.Group, State: cg.state(), Epoch: cg.epoch, AssignmentEpoch: cg.assignmentEpoch, Assignor: assignor}
	snap := c.cfg.Topics.Snapshot()
	for _, m := range cg.members {
		d.Members = append(d.Members, ConsumerMemberDescription{
			MemberID: m.id, InstanceID: m.instanceID, RackID: m.rackID, MemberEpoch: m.epoch,
			ClientID: m.clientID, ClientHost: m.clientHost, SubscribedTopics: m.topicNames, SubscribedRegex: m.regex,
			Assignment: describe(g, snap, m.assigned), TargetAssignment: describe(g, snap, m.target),
		})
	}
	sort.Slice(d.Members, func(i, j int) bool { return d.Members[i].MemberID < d.Members[j].MemberID })
	return d, nil
}

func describe(g *lockedGroup, snap TopicSnapshot, a Assignment) []DescribedPartitions {
	out := make([]DescribedPartitions, 0, len(a))
	for t, ps := range a {
		dp := DescribedPartitions{TopicID: t, Partitions: ps}
		if info, ok := snap.ByID(g.key.Tenant, t); ok {
			dp.Topic = info.Name
		}
		out = append(out, dp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Topic < out[j].Topic })
	return out
}

// leaveConsumerProtocol makes an empty consumer group classic again, for a
// JoinGroup; a consumer group with members refuses classic members
// (INCONSISTENT_GROUP_PROTOCOL) since Strata does not run classic members
// inside consumer groups (Kafka's migration path of KIP-848).
func (c *Coordinator) leaveConsumerProtocol(s *shard, g *lockedGroup) error {
	if len(g.cg.members) > 0 {
		return fmt.Errorf("%w: group %s is a consumer group with members using the consumer protocol", kerr.InconsistentGroupProtocol, g.key.Group)
	}
	if err := c.write(s, g.consumerTombstones()...); err != nil {
		return err
	}
	g.cg = nil
	g.protocolType = ""
	g.setState(StateEmpty, c.cfg.Now())
	return nil
}

// checkConsumerCommit applies KIP-848's rules to an OffsetCommit into a
// consumer group: a commit without a member (epoch < 0) only while the
// group is empty; otherwise the member must exist, use OffsetCommit v9+,
// and send an epoch no newer than its own. An older epoch is checked per
// partition as KIP-1251 (Kafka 4.3) does: the member must own the
// partition since that epoch or before (assignedAt <= epoch <= member
// epoch), so a commit from before a handover is refused with
// STALE_MEMBER_EPOCH while one that merely raced a heartbeat is not. The
// returned check is nil when every partition passes.
func (c *Coordinator) checkConsumerCommit(g *lockedGroup, req *CommitRequest) (func(CommitOffset) error, error) {
	cg := g.cg
	if req.Generation < 0 && len(cg.members) == 0 {
		return nil, nil
	}
	m := cg.members[req.MemberID]
	switch {
	case m == nil:
		return nil, kerr.UnknownMemberID
	case req.Version < 9:
		return nil, fmt.Errorf("%w: OffsetCommit version 9 or above must be used by members using the consumer protocol", kerr.UnsupportedVersion)
	case req.Generation > m.epoch || req.Generation < 0:
		return nil, fmt.Errorf("%w: member epoch %d, current %d", kerr.StaleMemberEpoch, req.Generation, m.epoch)
	case req.Generation == m.epoch:
		return nil, nil
	}
	snap := c.cfg.Topics.Snapshot()
	return func(o CommitOffset) error {
		if t, ok := snap.ByName(g.key.Tenant, o.Topic); ok {
			if at, owned := m.assignedAt[topicIDPartition{t.ID, o.Partition}]; owned && at <= req.Generation {
				return nil
			}
		}
		return fmt.Errorf("%w: member epoch %d, current %d, and the member did not own %s/%d since then",
			kerr.StaleMemberEpoch, req.Generation, m.epoch, o.Topic, o.Partition)
	}, nil
}

// checkFetch applies KIP-848's rules to an OffsetFetch from a member of a
// consumer group: the member must exist and send its current epoch. A
// fetch that names no member (an admin tool) is always allowed.
func (cg *consumerGroup) checkFetch(member *FetchMember) error {
	if member == nil || (member.ID == "" && member.Epoch < 0) {
		return nil
	}
	m := cg.members[member.ID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID
	case member.Epoch != m.epoch:
		return fmt.Errorf("%w: member epoch %d, current %d", kerr.StaleMemberEpoch, member.Epoch, m.epoch)
	}
	return nil
}

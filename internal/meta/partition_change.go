package meta

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Leaders and in-sync replica sets change through two records:
//
//   - PartitionChange is written by the active controller alone: a leader
//     election (the leader was fenced or is shutting down, or a partition
//     without a leader got a live in-sync replica back) and the removal of
//     fenced brokers from ISRs (KIP-841). It is KRaft's
//     PartitionChangeRecord.
//   - AlterPartition is a partition leader's request to shrink or expand
//     its ISR (KIP-497), proposed by the leader's broker and checked when
//     applied, with AlterPartition's error codes. An expansion names the
//     broker epoch the leader saw in each added replica's fetches
//     (KIP-903): a replica whose broker re-registered since (a new
//     process, which may have lost unflushed data) is refused, so that
//     catch-up seen from its predecessor's fetches cannot put it in the
//     ISR.
//
// Both bump the partition epoch, so that a request based on an older
// partition state fails with INVALID_UPDATE_VERSION; only a change of
// leader bumps the leader epoch (KIP-101 truncation keys on it).
//
// NoLeader is the leader of a partition whose in-sync replicas are all
// fenced (and no unclean election is allowed): its ISR keeps the last
// member, which becomes leader again when it comes back.
const NoLeader int32 = -1

// PartitionChange sets the leader and ISR of one partition.
type PartitionChange struct {
	Topic     TopicID `json:"topic"`
	Partition int32   `json:"partition"`
	// PartitionEpoch is the epoch the change was planned against.
	PartitionEpoch int32   `json:"partitionEpoch"`
	Leader         int32   `json:"leader"`
	ISR            []int32 `json:"isr"`
	Reason         string  `json:"reason,omitempty"`
	// Replicas, when set, replaces the replicas, and Adding and Removing
	// the reassignment in progress (reassign.go); when nil both stay.
	Replicas []int32 `json:"replicas,omitempty"`
	Adding   []int32 `json:"adding,omitempty"`
	Removing []int32 `json:"removing,omitempty"`
}

// AlterPartition is a leader's ISR change (KIP-497).
type AlterPartition struct {
	Topic          TopicID `json:"topic"`
	Partition      int32   `json:"partition"`
	Leader         int32   `json:"leader"`
	BrokerEpoch    int64   `json:"brokerEpoch"`
	LeaderEpoch    int32   `json:"leaderEpoch"`
	PartitionEpoch int32   `json:"partitionEpoch"`
	ISR            []int32 `json:"isr"`
	// Added names, for each replica the change adds to the ISR, the broker
	// epoch of the fetches the leader based the expansion on (KIP-903;
	// Kafka's AlterPartition v3 NewIsrWithEpochs). Each added replica must
	// be named, at its broker's current registration, or the change is
	// refused with INELIGIBLE_REPLICA.
	//
	// Records written before this field existed have none: they add
	// replicas with the checks of their time (registered, unfenced, not
	// shutting down) and no epoch check, so that replaying an old log
	// rebuilds the same image. Leaders of this version always fill it for
	// an expansion.
	Added []BrokerRef `json:"added,omitempty"`
}

// partitionAt returns a topic's partition for a change record.
func (im *Image) partitionAt(id TopicID, partition int32) (*Topic, *Partition, error) {
	t, ok := im.byID[id]
	if !ok || partition < 0 || int(partition) >= len(t.Partitions) {
		return nil, nil, fmt.Errorf("%w: topic id %s partition %d", kerr.UnknownTopicOrPartition, id, partition)
	}
	return t, &t.Partitions[partition], nil
}

// setPartition replaces one partition of a topic, copy on write.
func (im *Image) setPartition(t *Topic, partition int32, p Partition) {
	n := *t
	n.Partitions = slices.Clone(t.Partitions)
	n.Partitions[partition] = p
	im.replaceTopic(&n)
}

func (im *Image) applyPartitionChange(c *PartitionChange) error {
	t, cur, err := im.partitionAt(c.Topic, c.Partition)
	if err != nil {
		return err
	}
	if cur.PartitionEpoch != c.PartitionEpoch {
		return fmt.Errorf("%w: partition %s-%d is at partition epoch %d, not %d", kerr.InvalidUpdateVersion, t.Name, c.Partition, cur.PartitionEpoch, c.PartitionEpoch)
	}
	if len(c.ISR) == 0 || (c.Leader != NoLeader && !slices.Contains(c.ISR, c.Leader)) {
		return fmt.Errorf("%w: leader %d outside ISR %v", kerr.InvalidRequest, c.Leader, c.ISR)
	}
	n := *cur
	if c.Replicas != nil {
		if err := im.checkReplicas(c); err != nil {
			return err
		}
		n.Replicas, n.AddingReplicas, n.RemovingReplicas = slices.Clone(c.Replicas), slices.Clone(c.Adding), slices.Clone(c.Removing)
	}
	for _, id := range c.ISR {
		if !slices.Contains(n.Replicas, id) {
			return fmt.Errorf("%w: ISR %v outside the replicas %v", kerr.InvalidRequest, c.ISR, n.Replicas)
		}
	}
	n.ISR = slices.Clone(c.ISR)
	if c.Leader != cur.Leader {
		n.Leader = c.Leader
		n.LeaderEpoch++
	}
	n.PartitionEpoch++
	im.setPartition(t, c.Partition, n)
	return nil
}

// applyAlterPartition applies Kafka's checks of an AlterPartition request
// (KRaft's ReplicationControlManager, with KIP-841's ineligible replicas).
func (im *Image) applyAlterPartition(a *AlterPartition) error {
	t, cur, err := im.partitionAt(a.Topic, a.Partition)
	if err != nil {
		return err
	}
	b, ok := im.brokers[a.Leader]
	switch {
	case !ok || b.Epoch != a.BrokerEpoch:
		return fmt.Errorf("%w: broker %d epoch %d", kerr.StaleBrokerEpoch, a.Leader, a.BrokerEpoch)
	case a.LeaderEpoch < cur.LeaderEpoch:
		return fmt.Errorf("%w: leader epoch %d is below %d", kerr.FencedLeaderEpoch, a.LeaderEpoch, cur.LeaderEpoch)
	case a.LeaderEpoch > cur.LeaderEpoch:
		return fmt.Errorf("%w: leader epoch %d is above the controller's %d", kerr.NotController, a.LeaderEpoch, cur.LeaderEpoch)
	case cur.Leader != a.Leader:
		return fmt.Errorf("%w: broker %d does not lead %s-%d", kerr.InvalidRequest, a.Leader, t.Name, a.Partition)
	case a.PartitionEpoch != cur.PartitionEpoch:
		return fmt.Errorf("%w: partition epoch %d, current %d", kerr.InvalidUpdateVersion, a.PartitionEpoch, cur.PartitionEpoch)
	case !slices.Contains(a.ISR, a.Leader):
		return fmt.Errorf("%w: ISR %v leaves out the leader %d", kerr.InvalidRequest, a.ISR, a.Leader)
	}
	for i, id := range a.ISR {
		if slices.Contains(a.ISR[:i], id) || !slices.Contains(cur.Replicas, id) {
			return fmt.Errorf("%w: ISR %v names broker %d twice or outside the replicas %v", kerr.InvalidRequest, a.ISR, id, cur.Replicas)
		}
		if slices.Contains(cur.ISR, id) {
			continue
		}
		if err := im.checkJoining(a, id); err != nil {
			return err
		}
	}
	n := *cur
	n.ISR = slices.Clone(a.ISR)
	n.PartitionEpoch++
	im.setPartition(t, a.Partition, n)
	return nil
}

// checkJoining checks a replica an AlterPartition adds to the ISR: its
// broker is live (KIP-841) and, unless the record predates KIP-903 (no
// Added), at the registration whose fetches the leader saw (KIP-903).
func (im *Image) checkJoining(a *AlterPartition, id int32) error {
	rb, ok := im.brokers[id]
	if !ok || !rb.Alive() {
		return fmt.Errorf("%w: broker %d is fenced or shutting down", kerr.IneligibleReplica, id)
	}
	if a.Added == nil {
		return nil // written before KIP-903: applied as it was then
	}
	i := slices.IndexFunc(a.Added, func(r BrokerRef) bool { return r.ID == id })
	switch {
	case i < 0:
		return fmt.Errorf("%w: broker %d joins the ISR without the broker epoch of its fetches", kerr.IneligibleReplica, id)
	case a.Added[i].Epoch != rb.Epoch:
		return fmt.Errorf("%w: broker %d joins the ISR on fetches at broker epoch %d, but is registered at epoch %d",
			kerr.IneligibleReplica, id, a.Added[i].Epoch, rb.Epoch)
	}
	return nil
}

// planElections returns the partition changes that make the image agree
// with the brokers' liveness as alive reports it: brokers that are not
// alive leave every ISR (unless they are its last member, KIP-841), and a
// partition whose leader is not alive (or that has none) gets the first
// replica, in replica order, that is alive and in the ISR. With no such
// replica the leader is NoLeader, unless the topic allows an unclean
// election: then the first live replica leads with an ISR of itself.
func planElections(im *Image, alive func(id int32) bool) []Record {
	var recs []Record
	for _, t := range im.AllTopics() {
		unclean := uncleanElection(im, t)
		for i := range t.Partitions {
			if c := planPartition(t, int32(i), alive, unclean); c != nil {
				recs = append(recs, Record{PartitionChange: c})
			}
		}
	}
	return recs
}

func planPartition(t *Topic, partition int32, alive func(int32) bool, unclean bool) *PartitionChange {
	p := &t.Partitions[partition]
	isr := make([]int32, 0, len(p.ISR))
	for _, id := range p.ISR {
		if alive(id) {
			isr = append(isr, id)
		}
	}
	leader := p.Leader
	if leader == NoLeader || !slices.Contains(isr, leader) {
		leader = NoLeader
		for _, id := range p.Replicas {
			if slices.Contains(isr, id) {
				leader = id
				break
			}
		}
	}
	reason := "election"
	if leader == NoLeader && unclean {
		for _, id := range p.Replicas {
			if alive(id) {
				leader, isr, reason = id, []int32{id}, "unclean election"
				break
			}
		}
	}
	if len(isr) == 0 {
		isr = p.ISR // the last in-sync replica stays, leaderless
		if p.Leader == NoLeader {
			return nil
		}
		leader = NoLeader
	}
	if leader == p.Leader && slices.Equal(isr, p.ISR) {
		return nil
	}
	return &PartitionChange{Topic: t.ID, Partition: partition, PartitionEpoch: p.PartitionEpoch, Leader: leader, ISR: isr, Reason: reason}
}

// uncleanElection resolves unclean.leader.election.enable for a topic from
// what the image holds: the topic's override, else the cluster-wide
// dynamic default. Static broker configs are not consulted: elections
// must not depend on which node happens to be the active controller.
func uncleanElection(im *Image, t *Topic) bool {
	const name = "unclean.leader.election.enable"
	if v, ok := t.Configs[name]; ok {
		return v == "true"
	}
	return im.BrokerConfigs(ClusterConfigKey)[name] == "true"
}

// aliveExcept reports liveness as im has it, with the brokers of down
// counted as not alive and those of up as alive: the liveness an entry
// will leave once its broker records apply.
func aliveExcept(im *Image, down, up []int32) func(int32) bool {
	return func(id int32) bool {
		if slices.Contains(down, id) {
			return false
		}
		if slices.Contains(up, id) {
			return true
		}
		b, ok := im.Broker(id)
		return ok && b.Alive()
	}
}

// AlterPartition proposes a leader's ISR change and returns its outcome.
func (s *Store) AlterPartition(ctx context.Context, a AlterPartition) error {
	errs, err := s.Propose(ctx, Record{AlterPartition: &a})
	if err != nil {
		return err
	}
	return errs[0]
}

package coord

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Consumer groups (KIP-848): members heartbeat with ConsumerGroupHeartbeat,
// the coordinator computes every member's target assignment with a
// server-side assignor and each member reconciles towards its target one
// heartbeat at a time (reconcile.go).
//
// Epochs: the group epoch counts changes of membership, subscriptions and
// subscribed topics; each change computes a new target assignment at that
// epoch (the assignment epoch, equal to the group epoch once computed;
// Strata computes it at once, so a group is never seen Assigning). A
// member's epoch reaches the assignment epoch once it has given up what its
// target no longer holds.
//
// A group id names either a classic group or a consumer group. The two
// share committed offsets and the group's lock; a *consumerGroup hangs off
// the group while it is of the consumer type, and the classic fields stay
// empty (state is Empty or Stable only, for offset expiry).
//
// Topics: the coordinator reads the tenant's topics from TopicMetadata on
// each heartbeat and compares the snapshot's version with the one the
// group epoch was computed at, so created, deleted or grown topics (and new
// regex matches) bump the group epoch at the next heartbeat of any member.
// Regexes are Go's RE2, matched against whole topic names; Kafka uses
// RE2/J, whose syntax is the same but for rarely used details.
//
// What Kafka does and Strata does not (yet):
//   - Online migration between protocols (KIP-848's upgrade and
//     downgrade): only an empty group changes type. A ConsumerGroupHeartbeat
//     to a classic group with members is GROUP_ID_NOT_FOUND, a JoinGroup to
//     a consumer group with members INCONSISTENT_GROUP_PROTOCOL, and
//     classic Heartbeat, SyncGroup and LeaveGroup find no member there.
//   - Client-side assignors (ConsumerGroupPrepareAssignment and
//     ConsumerGroupInstallAssignment) and rack-aware assignment: the rack
//     is stored and described but not used.
//   - Per-group configs (group.consumer.session.timeout.ms and the like
//     set on the group with IncrementalAlterConfigs), the configurable
//     assignor list (group.consumer.assignors is fixed to uniform, range)
//     and group.consumer.min/max.session.timeout.ms.
//   - Offset expiry of topics a non-empty group no longer subscribes to.

// Consumer group states, as ConsumerGroupDescribe and ListGroups report
// them (Empty and Stable are shared with classic groups).
const (
	StateAssigning   State = "Assigning"
	StateReconciling State = "Reconciling"
)

// Member epochs with a meaning of their own in ConsumerGroupHeartbeat.
const (
	epochJoin        int32 = 0
	epochLeave       int32 = -1
	epochStaticLeave int32 = -2 // a static member that left and may come back
)

// consumerMember is one member of a consumer group. Fields are guarded by
// the group's lock.
type consumerMember struct {
	id               string
	instanceID       string
	rackID           string
	clientID         string
	clientHost       string
	rebalanceTimeout time.Duration
	topicNames       []string // sorted
	regex            string   // "" for none
	re               *regexp.Regexp
	assignor         string // the assignor the member asks for, "" for any
	memberAssignment
	// target is the member's share of the group's target assignment.
	target Assignment

	// deadline is when the session expires without a heartbeat; timer
	// fires at or after it. revokeDeadline bounds how long the member may
	// take to give up partitions; revokeTimer fires then, and revokeSeq
	// tells a stale revocation timer from the current one.
	deadline       time.Time
	timer          *time.Timer
	revokeDeadline time.Time
	revokeTimer    *time.Timer
	revokeSeq      int64
}

// consumerGroup is the consumer-protocol state of a group.
type consumerGroup struct {
	epoch           int32
	assignmentEpoch int32
	assignor        string // the assignor of the last target assignment
	members         map[string]*consumerMember
	static          map[string]string // instance id -> member id
	// owners maps every owned partition (assigned or being revoked) to
	// its member: the invariant that no partition has two owners lives
	// here.
	owners map[topicIDPartition]string
	// topics is the subscribed topics as of the last group epoch, by
	// name; metaVersion the TopicSnapshot version it was computed at.
	topics      map[string]TopicInfo
	metaVersion uint64
	// Pending writes, flushed at the end of every operation (storage in
	// consumer_storage.go).
	dirtyGroup   bool
	dirtyMembers map[string]bool
	// logged is the member ids with a record in the log; unsynced means
	// a write failed, so that the next write rewrites everything.
	logged   map[string]bool
	unsynced bool
}

func newConsumerGroup() *consumerGroup {
	return &consumerGroup{
		members: map[string]*consumerMember{}, static: map[string]string{},
		owners: map[topicIDPartition]string{}, topics: map[string]TopicInfo{},
		dirtyMembers: map[string]bool{}, logged: map[string]bool{},
	}
}

// state is the group's state as ConsumerGroupDescribe reports it.
func (cg *consumerGroup) state() State {
	switch {
	case len(cg.members) == 0:
		return StateEmpty
	case cg.epoch != cg.assignmentEpoch:
		return StateAssigning
	}
	for _, m := range cg.members {
		if m.epoch != cg.assignmentEpoch || m.state != memberStable {
			return StateReconciling
		}
	}
	return StateStable
}

// setOwned records m as the owner of what it owns after a change, given
// what it owned before. A partition already owned by another member is a
// broken invariant.
func (cg *consumerGroup) setOwned(m *consumerMember, before map[topicIDPartition]bool) {
	m.owns(func(p topicIDPartition) {
		if o, ok := cg.owners[p]; ok && o != m.id {
			panic(fmt.Sprintf("coord: partition %v given to %s while %s owns it", p, m.id, o))
		}
		cg.owners[p] = m.id
		delete(before, p)
	})
	for p := range before {
		if cg.owners[p] == m.id {
			delete(cg.owners, p)
		}
	}
}

func ownedSet(m *consumerMember) map[topicIDPartition]bool {
	out := map[topicIDPartition]bool{}
	m.owns(func(p topicIDPartition) { out[p] = true })
	return out
}

// subscribedTopics resolves a member's subscription against snap: its
// topic names that exist and the topics its regex matches.
func (m *consumerMember) subscribedTopics(tenant string, snap TopicSnapshot, out map[string]TopicInfo) {
	for _, name := range m.topicNames {
		if t, ok := snap.ByName(tenant, name); ok {
			out[name] = t
		}
	}
	if m.re == nil {
		return
	}
	for _, t := range snap.List(tenant) {
		if m.re.MatchString(t.Name) {
			out[t.Name] = t
		}
	}
}

// compileSubscription compiles a subscription regex. Kafka matches
// RE2/J patterns against whole topic names; Go's regexp is RE2 too.
func compileSubscription(expr string) (*regexp.Regexp, error) {
	re, err := regexp.Compile("^(?:" + expr + ")$")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", kerr.InvalidRegularExpression, err)
	}
	return re, nil
}

// subscriptionMetadata is the union of every member's resolved topics.
func (g *group) subscriptionMetadata(snap TopicSnapshot) map[string]TopicInfo {
	out := map[string]TopicInfo{}
	for _, m := range g.cg.members {
		m.subscribedTopics(g.key.Tenant, snap, out)
	}
	return out
}

func sameTopics(a, b map[string]TopicInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// refreshTopics bumps the group epoch when the topics the group subscribes
// to changed (created, deleted, grown, or a new regex match) since the
// last group epoch. It costs a comparison of versions when nothing changed.
func (c *Coordinator) refreshTopics(s *shard, g *lockedGroup, snap TopicSnapshot) {
	cg := g.cg
	if snap.Version() == cg.metaVersion {
		return
	}
	if now := g.subscriptionMetadata(snap); !sameTopics(now, cg.topics) {
		c.rebalanceConsumers(g, snap, "subscribed topics changed")
		return
	}
	cg.metaVersion = snap.Version()
}

// rebalanceConsumers bumps the group epoch and computes the new target
// assignment at it. Members learn of their new targets as they heartbeat.
func (c *Coordinator) rebalanceConsumers(g *lockedGroup, snap TopicSnapshot, why string) {
	cg := g.cg
	cg.epoch++
	cg.topics = g.subscriptionMetadata(snap)
	cg.metaVersion = snap.Version()
	cg.dirtyGroup = true
	partitions := map[TopicID]int32{}
	for _, t := range cg.topics {
		partitions[t.ID] = t.Partitions
	}
	ids := slices.Sorted(maps.Keys(cg.members))
	spec := make([]assignMember, 0, len(ids))
	for _, id := range ids {
		m := cg.members[id]
		mine := map[string]TopicInfo{}
		m.subscribedTopics(g.key.Tenant, snap, mine)
		am := assignMember{id: id, instanceID: m.instanceID, current: m.target}
		for _, t := range mine {
			if _, ok := partitions[t.ID]; ok {
				am.topics = append(am.topics, t.ID)
			}
		}
		sortTopicIDs(am.topics)
		spec = append(spec, am)
	}
	cg.assignor = cg.preferredAssignor()
	targets := assignors[cg.assignor](spec, partitions)
	for id, m := range cg.members {
		t := targets[id]
		if !t.equal(m.target) {
			m.target = t
			cg.dirtyMembers[id] = true
		}
	}
	cg.assignmentEpoch = cg.epoch
	c.log.Debug("consumer group epoch bumped", "group", g.key.String(), "epoch", cg.epoch,
		"members", len(cg.members), "topics", len(cg.topics), "assignor", cg.assignor, "reason", why)
}

// preferredAssignor is the assignor most members ask for (ties to the
// first in name order), or the default.
func (cg *consumerGroup) preferredAssignor() string {
	votes := map[string]int{}
	for _, m := range cg.members {
		if m.assignor != "" {
			votes[m.assignor]++
		}
	}
	best := defaultAssignor
	for _, name := range slices.Sorted(maps.Keys(votes)) {
		if votes[name] > votes[best] {
			best = name
		}
	}
	return best
}

// reconcileMember moves a member one step towards its target and keeps
// the owners map and the revocation timer in step. It reports whether the
// member's assignment or epoch changed.
func (c *Coordinator) reconcileMember(s *shard, g *lockedGroup, m *consumerMember, reported Assignment, snap TopicSnapshot) bool {
	cg := g.cg
	if m.state == memberStable && m.epoch == cg.assignmentEpoch {
		return false // the common heartbeat: nothing to do
	}
	before := m.memberAssignment
	owned := ownedSet(m)
	m.reconcile(reconcileTarget{
		epoch: cg.assignmentEpoch, partitions: m.target,
		ownedByOther: func(p topicIDPartition) bool { o, ok := cg.owners[p]; return ok && o != m.id },
		exists:       func(t TopicID) bool { _, ok := snap.ByID(g.key.Tenant, t); return ok },
	}, reported)
	changed := m.epoch != before.epoch || m.state != before.state ||
		!m.assigned.equal(before.assigned) || !m.revoking.equal(before.revoking)
	if !changed {
		return false
	}
	cg.setOwned(m, owned)
	cg.dirtyMembers[m.id] = true
	switch {
	case m.state == memberUnrevoked && before.state != memberUnrevoked:
		c.armRevocation(s, g, m)
	case m.state != memberUnrevoked:
		stopRevocation(m)
	}
	return true
}

// removeConsumer drops a member: its partitions are free for others and
// the group rebalances without it.
func (c *Coordinator) removeConsumer(g *lockedGroup, m *consumerMember, snap TopicSnapshot, why string) {
	cg := g.cg
	stopConsumerTimers(m)
	m.owns(func(p topicIDPartition) {
		if cg.owners[p] == m.id {
			delete(cg.owners, p)
		}
	})
	delete(cg.members, m.id)
	if m.instanceID != "" && cg.static[m.instanceID] == m.id {
		delete(cg.static, m.instanceID)
	}
	delete(cg.dirtyMembers, m.id)
	c.log.Info("consumer group member removed", "group", g.key.String(), "member", m.id, "reason", why)
	c.rebalanceConsumers(g, snap, why)
	if len(cg.members) == 0 {
		g.setState(StateEmpty, c.cfg.Now())
	}
}

// armConsumerSession (re)starts a member's session: heartbeats move the
// deadline, and a timer that finds a later deadline re-arms itself.
func (c *Coordinator) armConsumerSession(s *shard, g *lockedGroup, m *consumerMember) {
	m.deadline = c.cfg.Now().Add(c.cfg.ConsumerSessionTimeout)
	if m.timer != nil {
		return
	}
	m.timer = time.AfterFunc(c.cfg.ConsumerSessionTimeout, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.cg == nil || g.cg.members[m.id] != m || m.timer == nil {
			return // left, replaced, converted or unloaded meanwhile
		}
		if wait := m.deadline.Sub(c.cfg.Now()); wait > 0 {
			m.timer.Reset(wait)
			return
		}
		c.removeConsumer(g, m, c.cfg.Topics.Snapshot(), "session expired")
		c.flushConsumers(s, g)
	})
}

// armRevocation gives a member its rebalance timeout to give up the
// partitions it was asked to; one that does not is removed, which frees
// them for the others.
func (c *Coordinator) armRevocation(s *shard, g *lockedGroup, m *consumerMember) {
	stopRevocation(m)
	m.revokeSeq++
	seq := m.revokeSeq
	m.revokeDeadline = c.cfg.Now().Add(m.rebalanceTimeout)
	m.revokeTimer = time.AfterFunc(m.rebalanceTimeout, func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.cg == nil || g.cg.members[m.id] != m || m.revokeTimer == nil || m.revokeSeq != seq || m.state != memberUnrevoked {
			return
		}
		c.removeConsumer(g, m, c.cfg.Topics.Snapshot(), "partitions not revoked within the rebalance timeout")
		c.flushConsumers(s, g)
	})
}

func stopRevocation(m *consumerMember) {
	if m.revokeTimer != nil {
		m.revokeTimer.Stop()
		m.revokeTimer = nil
	}
}

func stopConsumerTimers(m *consumerMember) {
	if m.timer != nil {
		m.timer.Stop()
		m.timer = nil
	}
	stopRevocation(m)
}

// hasMembers reports whether the group has members of either protocol.
func (g *group) hasMembers() bool {
	return len(g.members) > 0 || (g.cg != nil && len(g.cg.members) > 0)
}

// consumerGroupOf returns the consumer-protocol state of a group, making
// an empty classic group a consumer group (its offsets stay). A classic
// group with members is not a consumer group: Strata does not migrate a
// live group between protocols (Kafka's online upgrade of KIP-848).
func (g *group) consumerGroupOf() (*consumerGroup, error) {
	if g.cg != nil {
		return g.cg, nil
	}
	if len(g.members) > 0 || len(g.pending) > 0 || g.state != StateEmpty {
		return nil, fmt.Errorf("%w: group %s is a classic group with members", kerr.GroupIDNotFound, g.key.Group)
	}
	g.cg = newConsumerGroup()
	g.cg.unsynced = true // the first write records the whole group and drops the classic record
	g.protocolType, g.protocol, g.leader = consumerProtocolType, "", ""
	return g.cg, nil
}

// consumerProtocolType is the protocol type reported for consumer groups.
const consumerProtocolType = "consumer"

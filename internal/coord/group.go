// Package coord is the group coordinator: the classic consumer-group
// protocol (join, sync, heartbeat, leave), the consumer group protocol of
// KIP-848 (ConsumerGroupHeartbeat with server-side assignors), committed
// offsets and their expiry, with every change written to a partition of
// Strata's internal offsets topic and replayed from it when the
// coordinator loads.
//
// Concurrency: a Coordinator holds shards, one per loaded partition of the
// offsets topic; a shard's mu guards its map of groups, and each group's mu
// guards the group. Requests lock one group at a time; timers (session
// expiry, rebalance deadlines, consumer revocation deadlines) lock the
// group when they fire and check that
// what they were set for still holds. A group's lock may be held while
// taking its shard's lock, never the other way round. Writes to the log happen under the
// group's lock, so a group's records are appended in the order its state
// changed.
package coord

import (
	"fmt"
	"hash/fnv"
	"time"
)

// GroupKey names a group: group ids are unique per tenant.
type GroupKey struct {
	Tenant string
	Group  string
}

func (k GroupKey) String() string { return k.Tenant + "/" + k.Group }

// PartitionFor is the offsets-topic partition, out of n, that holds a
// group's state; its leader coordinates the group.
func PartitionFor(k GroupKey, n int32) int32 {
	h := fnv.New32a()
	h.Write([]byte(k.Tenant))
	h.Write([]byte{0})
	h.Write([]byte(k.Group))
	return int32(h.Sum32() % uint32(n))
}

// State is a classic group's state, named as DescribeGroups reports it.
type State string

const (
	StateEmpty               State = "Empty"
	StatePreparingRebalance  State = "PreparingRebalance"
	StateCompletingRebalance State = "CompletingRebalance"
	StateStable              State = "Stable"
	StateDead                State = "Dead"
)

// Protocol is one assignment protocol a member offers, with its metadata
// (the client's subscription), kept as the client sent it.
type Protocol struct {
	Name     string `json:"name"`
	Metadata []byte `json:"metadata"`
}

type member struct {
	id               string
	instanceID       string // "" for dynamic members
	clientID         string
	clientHost       string
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocols        []Protocol
	assignment       []byte

	// joinWait and syncWait are set while the member's JoinGroup or
	// SyncGroup waits for the rebalance; a member waiting is alive.
	joinWait chan JoinResult
	syncWait chan SyncResult
	// isNew marks a member that joined during the current rebalance; if it
	// does not rejoin (e.g. its client gave up) it is dropped sooner.
	isNew bool
	// deadline is when its session expires without a heartbeat; timer
	// fires at or after it (see Coordinator.armSession).
	deadline time.Time
	timer    *time.Timer
	// joinSeq orders members by when they joined, for picking a leader.
	joinSeq int64
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// group is one classic group. All fields are guarded by mu.
type group struct {
	key          GroupKey
	state        State
	protocolType string
	protocol     string
	generation   int32
	leader       string
	members      map[string]*member
	static       map[string]string    // instance id -> member id
	pending      map[string]time.Time // member ids handed out by MEMBER_ID_REQUIRED, until they join or expire
	stateSince   time.Time            // when the group entered its state (offset expiry counts from Empty)
	offsets      map[topicPartition]offsetCommit
	// pendingTxn holds transactional offset commits by producer id until
	// their transaction's marker (txn_offsets.go); nil when none.
	pendingTxn map[int64]map[topicPartition]offsetCommit

	// rebalanceTimer completes a rebalance when members are slow to
	// rejoin; rebalanceID tells a stale timer from the current one.
	rebalanceTimer *time.Timer
	rebalanceID    int64
	// joinDeadline is when the current rebalance must complete, and
	// delayUntil when a new group's initial delay ends.
	joinDeadline time.Time
	delayUntil   time.Time
	nextJoinSeq  int64

	// cg is set while the group is a consumer group (KIP-848,
	// consumer_group.go); the classic fields above then stay empty.
	cg *consumerGroup
}

func newGroup(k GroupKey, now time.Time) *group {
	return &group{
		key: k, state: StateEmpty, stateSince: now,
		members: map[string]*member{}, static: map[string]string{}, pending: map[string]time.Time{},
		offsets: map[topicPartition]offsetCommit{},
	}
}

func (g *group) setState(s State, now time.Time) {
	g.state = s
	g.stateSince = now
}

// candidateProtocols are the protocols every member supports.
func (g *group) candidateProtocols() map[string]bool {
	var out map[string]bool
	for _, m := range g.members {
		mine := map[string]bool{}
		for _, p := range m.protocols {
			if out == nil || out[p.Name] {
				mine[p.Name] = true
			}
		}
		out = mine
	}
	return out
}

// supports reports whether a member with these protocols can join.
func (g *group) supports(protocolType string, protocols []Protocol) bool {
	if len(g.members) == 0 {
		return protocolType != "" && len(protocols) > 0
	}
	if protocolType != g.protocolType {
		return false
	}
	cands := g.candidateProtocols()
	for _, p := range protocols {
		if cands[p.Name] {
			return true
		}
	}
	return false
}

// selectProtocol picks, among the protocols all members support, the one
// most members prefer (the first candidate in each member's list); ties go
// to the leader's preference.
func (g *group) selectProtocol() string {
	cands := g.candidateProtocols()
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if cands[p.Name] {
				votes[p.Name]++
				break
			}
		}
	}
	best, bestVotes := "", -1
	order := g.members[g.leader]
	if order == nil {
		for _, m := range g.members {
			order = m
			break
		}
	}
	for _, p := range order.protocols {
		if cands[p.Name] && votes[p.Name] > bestVotes {
			best, bestVotes = p.Name, votes[p.Name]
		}
	}
	return best
}

func (g *group) allJoined() bool {
	if len(g.pending) > 0 {
		return false
	}
	for _, m := range g.members {
		if m.joinWait == nil {
			return false
		}
	}
	return true
}

func (g *group) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return d
}

func (g *group) String() string {
	return fmt.Sprintf("group %s (%s, generation %d, %d members)", g.key, g.state, g.generation, len(g.members))
}

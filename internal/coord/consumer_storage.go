package coord

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/strata-db/strata/internal/record"
)

// Consumer groups are stored as one record for the group and one per
// member, so that a heartbeat that moves one member writes one record:
//
//	key   {"v":1,"type":"cgroup","tenant":T,"group":G}
//	value consumerGroupValue
//	key   {"v":1,"type":"cmember","tenant":T,"group":G,"member":M}
//	value consumerMemberValue (membership, reconciliation and target)
//
// Every change of an operation goes out in one batch, so a replay sees a
// group epoch together with the targets computed at it. A removed member
// is a tombstone of its key; a deleted group, a tombstone of the group key
// (its members are tombstoned as they leave). The first write of a group
// that was classic tombstones the classic record in the same batch, and
// the reverse, so a replay finds at most one of the two for a group.
const (
	keyTypeConsumerGroup  = "cgroup"
	keyTypeConsumerMember = "cmember"
)

type consumerGroupValue struct {
	Epoch           int32       `json:"epoch"`
	AssignmentEpoch int32       `json:"assignmentEpoch"`
	Assignor        string      `json:"assignor"`
	StateMs         int64       `json:"stateMs"`
	Topics          []TopicInfo `json:"topics"`
}

type consumerMemberValue struct {
	InstanceID  string     `json:"instanceId,omitempty"`
	RackID      string     `json:"rackId,omitempty"`
	ClientID    string     `json:"clientId"`
	ClientHost  string     `json:"clientHost"`
	RebalanceMs int64      `json:"rebalanceMs"`
	TopicNames  []string   `json:"topicNames,omitempty"`
	Regex       string     `json:"regex,omitempty"`
	Assignor    string     `json:"assignor,omitempty"`
	Epoch       int32      `json:"epoch"`
	PrevEpoch   int32      `json:"prevEpoch"`
	State       string     `json:"state"`
	Assigned    Assignment `json:"assigned,omitempty"`
	Revoking    Assignment `json:"revoking,omitempty"`
	Target      Assignment `json:"target,omitempty"`
	// AssignedAt is the assignment epoch of each owned partition.
	AssignedAt map[TopicID]map[int32]int32 `json:"assignedAt,omitempty"`
}

func consumerGroupKey(g GroupKey) []byte {
	return mustJSON(recordKey{V: 1, Type: keyTypeConsumerGroup, Tenant: g.Tenant, Group: g.Group})
}

func consumerMemberKey(g GroupKey, member string) []byte {
	return mustJSON(recordKey{V: 1, Type: keyTypeConsumerMember, Tenant: g.Tenant, Group: g.Group, Member: member})
}

func (g *group) consumerGroupRecord() record.Record {
	cg := g.cg
	v := consumerGroupValue{Epoch: cg.epoch, AssignmentEpoch: cg.assignmentEpoch, Assignor: cg.assignor, StateMs: g.stateSince.UnixMilli()}
	for _, name := range slices.Sorted(maps.Keys(cg.topics)) {
		v.Topics = append(v.Topics, cg.topics[name])
	}
	return record.Record{Key: consumerGroupKey(g.key), Value: mustJSON(v)}
}

func (g *group) consumerMemberRecord(m *consumerMember) record.Record {
	v := consumerMemberValue{
		InstanceID: m.instanceID, RackID: m.rackID, ClientID: m.clientID, ClientHost: m.clientHost,
		RebalanceMs: m.rebalanceTimeout.Milliseconds(), TopicNames: m.topicNames, Regex: m.regex, Assignor: m.assignor,
		Epoch: m.epoch, PrevEpoch: m.prevEpoch, State: string(m.state),
		Assigned: m.assigned, Revoking: m.revoking, Target: m.target,
	}
	if len(m.assignedAt) > 0 {
		v.AssignedAt = map[TopicID]map[int32]int32{}
		for p, e := range m.assignedAt {
			if v.AssignedAt[p.Topic] == nil {
				v.AssignedAt[p.Topic] = map[int32]int32{}
			}
			v.AssignedAt[p.Topic][p.Partition] = e
		}
	}
	return record.Record{Key: consumerMemberKey(g.key, m.id), Value: mustJSON(v)}
}

// flushConsumers writes what the operation changed: dirty members, the
// tombstones of members gone since the last write, and the group record.
// After a failed write the next one rewrites the whole group, so the log
// catches up with memory. A failure is returned as
// COORDINATOR_NOT_AVAILABLE, which clients retry.
func (c *Coordinator) flushConsumers(s *shard, g *lockedGroup) error {
	cg := g.cg
	full := cg.unsynced
	var recs []record.Record
	if full {
		recs = append(recs, record.Record{Key: groupKey(g.key)})
	}
	for id := range cg.logged {
		if _, ok := cg.members[id]; !ok {
			recs = append(recs, record.Record{Key: consumerMemberKey(g.key, id)})
		}
	}
	for _, id := range slices.Sorted(maps.Keys(cg.members)) {
		if full || cg.dirtyMembers[id] {
			recs = append(recs, g.consumerMemberRecord(cg.members[id]))
		}
	}
	if full || cg.dirtyGroup {
		recs = append(recs, g.consumerGroupRecord())
	}
	clear(cg.dirtyMembers)
	cg.dirtyGroup = false
	if len(recs) == 0 {
		return nil
	}
	if err := c.write(s, recs...); err != nil {
		cg.unsynced = true
		return err
	}
	cg.unsynced = false
	clear(cg.logged)
	for id := range cg.members {
		cg.logged[id] = true
	}
	return nil
}

// consumerTombstones are the records that delete a consumer group.
func (g *group) consumerTombstones() []record.Record {
	recs := []record.Record{{Key: consumerGroupKey(g.key)}}
	for id := range g.cg.logged {
		recs = append(recs, record.Record{Key: consumerMemberKey(g.key, id)})
	}
	return recs
}

// applyConsumer applies one consumer group record during replay.
func (st *loadedState) applyConsumer(k recordKey, value []byte) error {
	gk := GroupKey{k.Tenant, k.Group}
	switch k.Type {
	case keyTypeConsumerGroup:
		if value == nil {
			delete(st.cgroups, gk)
			delete(st.cmembers, gk)
			return nil
		}
		var v consumerGroupValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("bad consumer group value for %s: %w", gk, err)
		}
		st.cgroups[gk] = &v
	case keyTypeConsumerMember:
		if value == nil {
			delete(st.cmembers[gk], k.Member)
			return nil
		}
		var v consumerMemberValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("bad consumer member value for %s member %s: %w", gk, k.Member, err)
		}
		if st.cmembers[gk] == nil {
			st.cmembers[gk] = map[string]*consumerMemberValue{}
		}
		st.cmembers[gk][k.Member] = &v
	}
	return nil
}

// restoreConsumer builds a consumer group from its replayed records.
// Members keep their epochs and assignments and get a fresh session (and
// revocation deadline) from now, so clients that come back within their
// session carry on as if nothing happened.
func restoreConsumer(k GroupKey, v *consumerGroupValue, members map[string]*consumerMemberValue, offsets map[topicPartition]offsetCommit, now time.Time) (*group, error) {
	g := newGroup(k, now)
	if offsets != nil {
		g.offsets = offsets
	}
	g.protocolType = consumerProtocolType
	g.stateSince = time.UnixMilli(v.StateMs)
	cg := newConsumerGroup()
	g.cg = cg
	cg.epoch, cg.assignmentEpoch, cg.assignor = v.Epoch, v.AssignmentEpoch, v.Assignor
	for _, t := range v.Topics {
		cg.topics[t.Name] = t
	}
	for id, mv := range members {
		m := &consumerMember{
			id: id, instanceID: mv.InstanceID, rackID: mv.RackID, clientID: mv.ClientID, clientHost: mv.ClientHost,
			rebalanceTimeout: time.Duration(mv.RebalanceMs) * time.Millisecond,
			topicNames:       mv.TopicNames, regex: mv.Regex, assignor: mv.Assignor, target: mv.Target,
			memberAssignment: memberAssignment{
				epoch: mv.Epoch, prevEpoch: mv.PrevEpoch, state: memberState(mv.State),
				assigned: mv.Assigned, revoking: mv.Revoking, assignedAt: map[topicIDPartition]int32{},
			},
		}
		for t, ps := range mv.AssignedAt {
			for p, e := range ps {
				m.assignedAt[topicIDPartition{t, p}] = e
			}
		}
		switch m.state {
		case memberStable, memberUnrevoked, memberUnreleased:
		default:
			return nil, fmt.Errorf("coord: group %s member %s: unknown state %q", k, id, mv.State)
		}
		if m.regex != "" {
			re, err := compileSubscription(m.regex)
			if err != nil {
				return nil, fmt.Errorf("coord: group %s member %s: %w", k, id, err)
			}
			m.re = re
		}
		for _, p := range []*Assignment{&m.assigned, &m.revoking, &m.target} {
			if *p == nil {
				*p = Assignment{}
			}
		}
		var clash error
		m.owns(func(p topicIDPartition) {
			if o, ok := cg.owners[p]; ok && clash == nil {
				clash = fmt.Errorf("coord: group %s: partition %v owned by both %s and %s", k, p, o, id)
			}
			cg.owners[p] = id
		})
		if clash != nil {
			return nil, clash
		}
		cg.members[id] = m
		cg.logged[id] = true
		if m.instanceID != "" {
			cg.static[m.instanceID] = id
		}
	}
	if len(cg.members) > 0 {
		g.state = StateStable
	}
	return g, nil
}

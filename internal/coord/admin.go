package coord

import (
	"fmt"
	"sort"

	"github.com/strata-db/strata/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// GroupDescription is a group as DescribeGroups reports it.
type GroupDescription struct {
	Group        string
	State        State
	ProtocolType string
	Protocol     string
	Members      []MemberDescription
}

// MemberDescription is one member; its assignment is set once the group
// is stable.
type MemberDescription struct {
	MemberID   string
	InstanceID string
	ClientID   string
	ClientHost string
	Metadata   []byte
	Assignment []byte
}

// DescribeGroup describes a group; a group that does not exist is Dead
// with GROUP_ID_NOT_FOUND.
func (c *Coordinator) DescribeGroup(k GroupKey) (GroupDescription, error) {
	_, g, err := c.lock(k, false)
	if err != nil {
		return GroupDescription{Group: k.Group, State: StateDead}, err
	}
	if g == nil {
		return GroupDescription{Group: k.Group, State: StateDead}, kerr.GroupIDNotFound
	}
	defer g.mu.Unlock()
	if g.cg != nil {
		// As Kafka 4 answers DescribeGroups for a consumer group.
		return GroupDescription{Group: k.Group, State: StateDead}, fmt.Errorf("%w: group %s is not a classic group", kerr.GroupIDNotFound, k.Group)
	}
	d := GroupDescription{Group: k.Group, State: g.state, ProtocolType: g.protocolType, Protocol: g.protocol}
	for _, m := range g.members {
		md := MemberDescription{MemberID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost, Metadata: m.metadataFor(g.protocol)}
		if g.state == StateStable {
			md.Assignment = m.assignment
		}
		d.Members = append(d.Members, md)
	}
	sort.Slice(d.Members, func(i, j int) bool { return d.Members[i].MemberID < d.Members[j].MemberID })
	return d, nil
}

// ListedGroup is a group as ListGroups reports it.
type ListedGroup struct {
	Group        string
	ProtocolType string
	State        State
	Type         GroupType
}

// GroupType is the protocol a group runs, as ListGroups v5 reports it.
type GroupType string

const (
	GroupTypeClassic  GroupType = "classic"
	GroupTypeConsumer GroupType = "consumer"
)

// ListGroups lists a tenant's groups on this coordinator.
func (c *Coordinator) ListGroups(tenant string) []ListedGroup {
	c.mu.RLock()
	shards := make([]*shard, 0, len(c.shards))
	for _, s := range c.shards {
		shards = append(shards, s)
	}
	c.mu.RUnlock()
	var out []ListedGroup
	for _, s := range shards {
		for _, g := range s.snapshot() {
			if g.key.Tenant != tenant {
				continue
			}
			g.mu.Lock()
			switch {
			case g.state == StateDead:
			case g.cg != nil:
				out = append(out, ListedGroup{Group: g.key.Group, ProtocolType: consumerProtocolType, State: g.cg.state(), Type: GroupTypeConsumer})
			default:
				out = append(out, ListedGroup{Group: g.key.Group, ProtocolType: g.protocolType, State: g.state, Type: GroupTypeClassic})
			}
			g.mu.Unlock()
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Group < out[j].Group })
	return out
}

// DeleteGroup deletes a group without members, with its offsets.
func (c *Coordinator) DeleteGroup(k GroupKey) error {
	s, g, err := c.lock(k, false)
	if err != nil {
		return err
	}
	if g == nil {
		return kerr.GroupIDNotFound
	}
	defer g.mu.Unlock()
	if g.hasMembers() {
		return kerr.NonEmptyGroup
	}
	recs := g.deletionRecords()
	for tp := range g.offsets {
		recs = append(recs, record.Record{Key: offsetKey(g.key, tp)})
	}
	if err := c.write(s, recs...); err != nil {
		return err
	}
	g.offsets = map[topicPartition]offsetCommit{}
	c.deleteLocked(s, g)
	return nil
}

// DeleteOffsets deletes committed offsets (OffsetDelete). A partition of a
// topic the group's members subscribe to is refused with
// GROUP_SUBSCRIBED_TO_TOPIC. It returns one error per partition.
func (c *Coordinator) DeleteOffsets(k GroupKey, tps []FetchedOffset) ([]error, error) {
	s, g, err := c.lock(k, false)
	if err != nil {
		return nil, err
	}
	if g == nil {
		return nil, kerr.GroupIDNotFound
	}
	defer g.mu.Unlock()
	subscribed := g.subscribedTopics()
	errs := make([]error, len(tps))
	var recs []record.Record
	var gone []topicPartition
	for i, o := range tps {
		if subscribed[o.Topic] {
			errs[i] = kerr.GroupSubscribedToTopic
			continue
		}
		tp := topicPartition{o.Topic, o.Partition}
		if _, ok := g.offsets[tp]; ok {
			recs = append(recs, record.Record{Key: offsetKey(g.key, tp)})
			gone = append(gone, tp)
		}
	}
	if len(recs) > 0 {
		if err := c.write(s, recs...); err != nil {
			return nil, err
		}
	}
	for _, tp := range gone {
		delete(g.offsets, tp)
	}
	return errs, nil
}

// deletionRecords are the tombstones that delete the group's membership
// records, of either protocol.
func (g *group) deletionRecords() []record.Record {
	if g.cg != nil {
		return g.consumerTombstones()
	}
	return []record.Record{{Key: groupKey(g.key)}}
}

// subscribedTopics reads the consumer protocol subscriptions of a
// classic consumer group's members, or the topics a consumer group (KIP-848)
// subscribes to; other protocol types subscribe to nothing.
func (g *group) subscribedTopics() map[string]bool {
	out := map[string]bool{}
	if g.cg != nil {
		for name := range g.cg.topics {
			out[name] = true
		}
		for _, m := range g.cg.members {
			for _, name := range m.topicNames {
				out[name] = true
			}
		}
		return out
	}
	if g.protocolType != "consumer" {
		return out
	}
	for _, m := range g.members {
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			continue
		}
		for _, t := range meta.Topics {
			out[t] = true
		}
	}
	return out
}

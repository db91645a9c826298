package coord

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/strata-db/strata/internal/record"
)

// Log is one partition of the offsets topic, as the coordinator uses it.
type Log interface {
	// Append writes one batch and returns its base offset once the batch
	// is committed.
	Append(batch []byte) (int64, error)
	// Read returns whole batches from offset on, nothing at the end.
	Read(offset int64, maxBytes int) ([]byte, error)
	StartOffset() int64
	EndOffset() int64
}

// Records in the offsets topic. Keys identify what a record is about, so
// that compaction keeps the latest per key; a null value is a tombstone.
// Keys and values are JSON: a few hundred bytes per commit is cheap next to
// the log's other costs, and the topic stays readable with any client.
//
//	key   {"v":1,"type":"offset","tenant":T,"group":G,"topic":X,"partition":P}
//	value {"offset":O,"leaderEpoch":E,"metadata":M,"commitMs":C}
//	key   {"v":1,"type":"group","tenant":T,"group":G}
//	value groupValue (below)
//
// Consumer groups (KIP-848) have record types of their own, described in
// consumer_storage.go.
type recordKey struct {
	V         int    `json:"v"`
	Type      string `json:"type"`
	Tenant    string `json:"tenant"`
	Group     string `json:"group"`
	Topic     string `json:"topic,omitempty"`
	Partition int32  `json:"partition,omitempty"`
	Member    string `json:"member,omitempty"`
}

const (
	keyTypeOffset = "offset"
	keyTypeGroup  = "group"
)

type topicPartition struct {
	Topic     string
	Partition int32
}

type offsetCommit struct {
	Offset      int64  `json:"offset"`
	LeaderEpoch int32  `json:"leaderEpoch"`
	Metadata    string `json:"metadata"`
	CommitMs    int64  `json:"commitMs"`
	// at is the log offset of the commit's record, which orders a
	// transactional commit against plain ones when its transaction
	// commits (the later record wins, as in Kafka).
	at int64
}

type groupValue struct {
	ProtocolType string        `json:"protocolType"`
	Generation   int32         `json:"generation"`
	Protocol     string        `json:"protocol"`
	Leader       string        `json:"leader"`
	StateMs      int64         `json:"stateMs"`
	Members      []memberValue `json:"members"`
}

type memberValue struct {
	ID           string `json:"id"`
	InstanceID   string `json:"instanceId,omitempty"`
	ClientID     string `json:"clientId"`
	ClientHost   string `json:"clientHost"`
	SessionMs    int64  `json:"sessionMs"`
	RebalanceMs  int64  `json:"rebalanceMs"`
	Subscription []byte `json:"subscription"`
	Assignment   []byte `json:"assignment"`
}

func offsetKey(g GroupKey, tp topicPartition) []byte {
	return mustJSON(recordKey{V: 1, Type: keyTypeOffset, Tenant: g.Tenant, Group: g.Group, Topic: tp.Topic, Partition: tp.Partition})
}

func groupKey(g GroupKey) []byte {
	return mustJSON(recordKey{V: 1, Type: keyTypeGroup, Tenant: g.Tenant, Group: g.Group})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("coord: encode %T: %v", v, err))
	}
	return b
}

// groupRecord is the record of a group's membership as it stands. An empty
// group without offsets is deleted with a tombstone instead.
func (g *group) groupRecord() record.Record {
	v := groupValue{ProtocolType: g.protocolType, Generation: g.generation, Protocol: g.protocol, Leader: g.leader, StateMs: g.stateSince.UnixMilli()}
	for _, m := range g.members {
		v.Members = append(v.Members, memberValue{
			ID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
			SessionMs: m.sessionTimeout.Milliseconds(), RebalanceMs: m.rebalanceTimeout.Milliseconds(),
			Subscription: m.metadataFor(g.protocol), Assignment: m.assignment,
		})
	}
	return record.Record{Key: groupKey(g.key), Value: mustJSON(v)}
}

// loadedState is what replaying a partition yields: the latest record per
// key.
type loadedState struct {
	groups   map[GroupKey]*groupValue
	offsets  map[GroupKey]map[topicPartition]offsetCommit
	cgroups  map[GroupKey]*consumerGroupValue
	cmembers map[GroupKey]map[string]*consumerMemberValue
	// Transactional offset commits (txn_offsets.go) whose transaction has
	// no marker yet, by producer id, and the latest marker epoch of each
	// producer.
	pending      map[int64]map[GroupKey]map[topicPartition]offsetCommit
	markerEpochs map[int64]int16
}

// replay reads the whole partition and keeps the latest value per key.
// Offsets in transactional batches stay pending until their producer's
// control batch (a transaction marker) commits or aborts them.
func replay(l Log) (*loadedState, error) {
	st := &loadedState{
		groups: map[GroupKey]*groupValue{}, offsets: map[GroupKey]map[topicPartition]offsetCommit{},
		cgroups: map[GroupKey]*consumerGroupValue{}, cmembers: map[GroupKey]map[string]*consumerMemberValue{},
		pending: map[int64]map[GroupKey]map[topicPartition]offsetCommit{}, markerEpochs: map[int64]int16{},
	}
	off, end := l.StartOffset(), l.EndOffset()
	for off < end {
		b, err := l.Read(off, 1<<20)
		if err != nil {
			return nil, fmt.Errorf("coord: replay at offset %d: %w", off, err)
		}
		if len(b) == 0 {
			break
		}
		_, err = record.Split(b, func(batch []byte, h *record.Header) error {
			off = h.NextOffset()
			return st.applyBatch(batch, h)
		})
		if err != nil {
			return nil, fmt.Errorf("coord: replay at offset %d: %w", off, err)
		}
	}
	return st, nil
}

func (st *loadedState) applyBatch(batch []byte, h *record.Header) error {
	if h.Control() {
		commit, ok, err := controlMarker(batch)
		if err != nil || !ok {
			return err
		}
		st.completeTxn(h.ProducerID, h.ProducerEpoch, commit)
		return nil
	}
	var err error
	ferr := record.ForEachStoredRecord(batch, 64<<20, func(r *record.Record) bool {
		at := record.RecordOffset(h, r)
		if h.Transactional() {
			err = st.applyTxnRecord(h.ProducerID, r.Key, r.Value, at)
		} else {
			err = st.apply(r.Key, r.Value, at)
		}
		return err == nil
	})
	if ferr != nil {
		return ferr
	}
	return err
}

func (st *loadedState) apply(key, value []byte, at int64) error {
	var k recordKey
	if err := json.Unmarshal(key, &k); err != nil {
		return fmt.Errorf("bad key %q: %w", key, err)
	}
	gk := GroupKey{k.Tenant, k.Group}
	switch k.Type {
	case keyTypeGroup:
		if value == nil {
			delete(st.groups, gk)
			return nil
		}
		var v groupValue
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("bad group value for %s: %w", gk, err)
		}
		st.groups[gk] = &v
	case keyTypeOffset:
		tp := topicPartition{k.Topic, k.Partition}
		if value == nil {
			// An empty map would bring the group back on load.
			delete(st.offsets[gk], tp)
			if len(st.offsets[gk]) == 0 {
				delete(st.offsets, gk)
			}
			return nil
		}
		var v offsetCommit
		if err := json.Unmarshal(value, &v); err != nil {
			return fmt.Errorf("bad offset value for %s: %w", gk, err)
		}
		v.at = at
		if st.offsets[gk] == nil {
			st.offsets[gk] = map[topicPartition]offsetCommit{}
		}
		st.offsets[gk][tp] = v
	case keyTypeConsumerGroup, keyTypeConsumerMember:
		return st.applyConsumer(k, value)
	}
	return nil
}

// restore builds a group from its replayed state. Members keep their ids
// and assignments and get a fresh session from now, so clients that
// reconnect within their session timeout carry on without a rebalance.
func restore(k GroupKey, v *groupValue, offsets map[topicPartition]offsetCommit, now time.Time) *group {
	g := newGroup(k, now)
	if offsets != nil {
		g.offsets = offsets
	}
	if v == nil {
		return g
	}
	g.protocolType, g.generation, g.protocol, g.leader = v.ProtocolType, v.Generation, v.Protocol, v.Leader
	g.stateSince = time.UnixMilli(v.StateMs)
	for _, mv := range v.Members {
		m := &member{
			id: mv.ID, instanceID: mv.InstanceID, clientID: mv.ClientID, clientHost: mv.ClientHost,
			sessionTimeout: time.Duration(mv.SessionMs) * time.Millisecond, rebalanceTimeout: time.Duration(mv.RebalanceMs) * time.Millisecond,
			protocols: []Protocol{{Name: v.Protocol, Metadata: mv.Subscription}}, assignment: mv.Assignment,
		}
		m.deadline = now.Add(m.sessionTimeout)
		g.members[m.id] = m
		if m.instanceID != "" {
			g.static[m.instanceID] = m.id
		}
	}
	if len(g.members) > 0 {
		g.state = StateStable
	}
	return g
}

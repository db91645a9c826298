package coord

import (
	"encoding/base64"
	"fmt"
	"slices"
)

// TopicID is a topic's UUID as the wire carries it (KIP-516). Consumer
// groups name partitions by topic id, so a topic deleted and created again
// under the same name is a different topic to them.
type TopicID [16]byte

func (id TopicID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

func (id TopicID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

func (id *TopicID) UnmarshalText(b []byte) error {
	n, err := base64.RawURLEncoding.Decode(id[:], b)
	if err != nil || n != 16 {
		return fmt.Errorf("coord: bad topic id %q", b)
	}
	return nil
}

// TopicInfo is what the consumer group protocol needs of a topic.
type TopicInfo struct {
	ID         TopicID `json:"id"`
	Name       string  `json:"name"`
	Partitions int32   `json:"partitions"`
}

// TopicMetadata is the source of the tenants' topics, which consumer
// groups assign partitions of. The broker implements it from its metadata
// image; the coordinator takes a snapshot per request.
type TopicMetadata interface {
	Snapshot() TopicSnapshot
}

// TopicSnapshot is one immutable view of the topics. Version changes
// whenever any topic is created, deleted or grows (it may change for other
// reasons too), so that a group can tell cheaply whether the topics it
// subscribes to may have changed.
type TopicSnapshot interface {
	Version() uint64
	ByName(tenant, name string) (TopicInfo, bool)
	ByID(tenant string, id TopicID) (TopicInfo, bool)
	// List returns the tenant's topics a regex subscription may match,
	// internal topics excluded, in any order.
	List(tenant string) []TopicInfo
}

// noTopics is the metadata of a coordinator configured without topics:
// consumer groups then subscribe to nothing.
type noTopics struct{}

func (noTopics) Snapshot() TopicSnapshot                 { return noTopics{} }
func (noTopics) Version() uint64                         { return 0 }
func (noTopics) ByName(string, string) (TopicInfo, bool) { return TopicInfo{}, false }
func (noTopics) ByID(string, TopicID) (TopicInfo, bool)  { return TopicInfo{}, false }
func (noTopics) List(string) []TopicInfo                 { return nil }

// topicIDPartition is one partition named by topic id.
type topicIDPartition struct {
	Topic     TopicID
	Partition int32
}

// Assignment maps topics to their partitions, sorted ascending and without
// duplicates. A nil Assignment is empty.
type Assignment map[TopicID][]int32

func (a Assignment) size() int {
	n := 0
	for _, ps := range a {
		n += len(ps)
	}
	return n
}

func (a Assignment) contains(p topicIDPartition) bool {
	_, ok := slices.BinarySearch(a[p.Topic], p.Partition)
	return ok
}

// each calls fn for every partition, in no particular topic order.
func (a Assignment) each(fn func(topicIDPartition)) {
	for t, ps := range a {
		for _, p := range ps {
			fn(topicIDPartition{t, p})
		}
	}
}

func (a Assignment) equal(b Assignment) bool {
	if a.size() != b.size() {
		return false
	}
	for t, ps := range a {
		if !slices.Equal(ps, b[t]) {
			return false
		}
	}
	return true
}

// add inserts a partition, keeping the order.
func (a Assignment) add(p topicIDPartition) {
	ps := a[p.Topic]
	i, ok := slices.BinarySearch(ps, p.Partition)
	if !ok {
		a[p.Topic] = slices.Insert(ps, i, p.Partition)
	}
}

func (a Assignment) clone() Assignment {
	out := make(Assignment, len(a))
	for t, ps := range a {
		out[t] = slices.Clone(ps)
	}
	return out
}

// TopicIDs returns the assignment's topics in a fixed order.
func (a Assignment) TopicIDs() []TopicID {
	ids := make([]TopicID, 0, len(a))
	for id := range a {
		ids = append(ids, id)
	}
	sortTopicIDs(ids)
	return ids
}

// Normalized sorts and deduplicates partitions and drops negative ones and
// empty topics, for an assignment that came off the wire.
func (a Assignment) Normalized() Assignment {
	out := make(Assignment, len(a))
	for t, ps := range a {
		ps = slices.Clone(ps)
		slices.Sort(ps)
		ps = slices.Compact(ps)
		for len(ps) > 0 && ps[0] < 0 {
			ps = ps[1:]
		}
		if len(ps) > 0 {
			out[t] = ps
		}
	}
	return out
}

package coord

import (
	"bytes"
	"cmp"
	"slices"
	"sort"
)

// Server-side assignors of the consumer group protocol (KIP-848), named as
// Kafka names them. Members ask for one with ServerAssignor; a group uses
// the one most of its members ask for, the first of these by default.
const (
	AssignorUniform = "uniform"
	AssignorRange   = "range"
)

var assignors = map[string]func([]assignMember, map[TopicID]int32) map[string]Assignment{
	AssignorUniform: assignUniform,
	AssignorRange:   assignRange,
}

// defaultAssignor is Kafka's default, the first of group.consumer.assignors.
const defaultAssignor = AssignorUniform

// assignMember is a member as an assignor sees it.
type assignMember struct {
	id         string
	instanceID string
	topics     []TopicID  // subscribed topics that exist, sorted
	current    Assignment // the member's current target, for stickiness
}

// sortTopicIDs orders topic ids bytewise, so that assignments do not
// depend on map order.
func sortTopicIDs(ids []TopicID) {
	slices.SortFunc(ids, func(a, b TopicID) int { return bytes.Compare(a[:], b[:]) })
}

// assignUniform spreads every subscribed partition over the members that
// subscribe to its topic so that member partition counts differ as little
// as the subscriptions allow (by at most one when all members subscribe to
// the same topics), and keeps every partition with its current owner unless
// balance requires a move. It ignores topic boundaries: a member may get
// all partitions of one topic and none of another.
//
// It works in three steps: members keep their current partitions that are
// still valid; unowned partitions go, topic by topic (topics with fewer
// subscribers first), to the least loaded subscriber; then, topic by topic
// until nothing moves, a partition moves from the most loaded member owning
// one of that topic to the least loaded subscriber while their counts
// differ by two or more. Each move lowers the sum of squared counts, so the
// last step ends.
func assignUniform(members []assignMember, topics map[TopicID]int32) map[string]Assignment {
	u := newUniform(members)
	u.keepCurrent(members, topics)
	u.placeUnowned(topics)
	u.balance()
	out := make(map[string]Assignment, len(members))
	for i, m := range members {
		a := Assignment{}
		for t, ps := range u.owned[i] {
			if len(ps) > 0 {
				a[t] = slices.Sorted(slices.Values(ps))
			}
		}
		out[m.id] = a
	}
	return out
}

// uniform is the state of assignUniform; members are named by index.
type uniform struct {
	counts []int
	owner  map[topicIDPartition]int
	owned  []map[TopicID][]int32 // partitions per member and topic, unsorted
	subs   map[TopicID][]int     // members subscribed to each topic, ascending
	order  []TopicID             // topics, fewest subscribers first
}

func newUniform(members []assignMember) *uniform {
	u := &uniform{
		counts: make([]int, len(members)), owner: map[topicIDPartition]int{},
		owned: make([]map[TopicID][]int32, len(members)), subs: map[TopicID][]int{},
	}
	for i, m := range members {
		u.owned[i] = map[TopicID][]int32{}
		for _, t := range m.topics {
			u.subs[t] = append(u.subs[t], i)
		}
	}
	for t := range u.subs {
		u.order = append(u.order, t)
	}
	sortTopicIDs(u.order)
	sort.SliceStable(u.order, func(a, b int) bool { return len(u.subs[u.order[a]]) < len(u.subs[u.order[b]]) })
	return u
}

func (u *uniform) give(p topicIDPartition, i int) {
	u.owner[p] = i
	u.counts[i]++
	u.owned[i][p.Topic] = append(u.owned[i][p.Topic], p.Partition)
}

// keepCurrent leaves members the partitions they have that still exist and
// that they still subscribe to (the first claimant wins a duplicate).
func (u *uniform) keepCurrent(members []assignMember, topics map[TopicID]int32) {
	for i, m := range members {
		for _, t := range m.topics {
			for _, p := range m.current[t] {
				tp := topicIDPartition{t, p}
				if _, taken := u.owner[tp]; !taken && p < topics[t] {
					u.give(tp, i)
				}
			}
		}
	}
}

// placeUnowned gives every partition nobody has to its topic's least
// loaded subscriber.
func (u *uniform) placeUnowned(topics map[TopicID]int32) {
	for _, t := range u.order {
		for p := range topics[t] {
			tp := topicIDPartition{t, p}
			if _, taken := u.owner[tp]; !taken {
				u.give(tp, leastLoaded(u.subs[t], u.counts))
			}
		}
	}
}

// balance moves partitions, topic by topic until nothing moves, from the
// most loaded member owning one of the topic to its least loaded
// subscriber while their counts differ by two or more.
func (u *uniform) balance() {
	for moved := true; moved; {
		moved = false
		for _, t := range u.order {
			for {
				lo := leastLoaded(u.subs[t], u.counts)
				hi := -1
				for _, i := range u.subs[t] {
					if len(u.owned[i][t]) > 0 && (hi < 0 || u.counts[i] > u.counts[hi]) {
						hi = i
					}
				}
				if hi < 0 || u.counts[hi]-u.counts[lo] < 2 {
					break
				}
				ps := u.owned[hi][t]
				p := ps[len(ps)-1]
				u.owned[hi][t] = ps[:len(ps)-1]
				u.counts[hi]--
				u.give(topicIDPartition{t, p}, lo)
				moved = true
			}
		}
	}
}

// leastLoaded is the member of idx with the fewest partitions, the first
// such on ties.
func leastLoaded(idx []int, counts []int) int {
	best := idx[0]
	for _, i := range idx[1:] {
		if counts[i] < counts[best] {
			best = i
		}
	}
	return best
}

// assignRange gives each member, per topic, a contiguous range of the
// topic's partitions, as Kafka's range assignor does: the subscribers of a
// topic are ordered (static members by instance id first, then dynamic
// members by member id), each gets partitions/subscribers partitions and
// the first partitions%subscribers one more. Members subscribing to topics
// of equal partition counts get the same partition numbers of each
// (co-partitioning). Like Kafka's since 3.9, it recomputes the ranges each
// time rather than keeping partitions where they are.
func assignRange(members []assignMember, topics map[TopicID]int32) map[string]Assignment {
	sorted := slices.Clone(members)
	slices.SortFunc(sorted, func(a, b assignMember) int {
		switch {
		case a.instanceID != "" && b.instanceID == "":
			return -1
		case a.instanceID == "" && b.instanceID != "":
			return 1
		case a.instanceID != b.instanceID:
			return cmp.Compare(a.instanceID, b.instanceID)
		}
		return cmp.Compare(a.id, b.id)
	})
	subs := map[TopicID][]string{}
	for _, m := range sorted {
		for _, t := range m.topics {
			subs[t] = append(subs[t], m.id)
		}
	}
	out := make(map[string]Assignment, len(members))
	for _, m := range members {
		out[m.id] = Assignment{}
	}
	for t, ids := range subs {
		n, parts := int32(len(ids)), topics[t]
		q, r := parts/n, parts%n
		for i, id := range ids {
			i := int32(i)
			start := i*q + min(i, r)
			size := q
			if i < r {
				size++
			}
			if size == 0 {
				continue
			}
			ps := make([]int32, size)
			for j := range ps {
				ps[j] = start + int32(j)
			}
			out[id][t] = ps
		}
	}
	return out
}

package coord

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
)

func tid(b byte) TopicID { return TopicID{15: b} }

// checkValid fails unless every partition of a subscribed topic goes to
// exactly one member subscribed to it, and nothing else is assigned.
func checkValid(t *testing.T, members []assignMember, topics map[TopicID]int32, got map[string]Assignment) {
	t.Helper()
	owner := map[topicIDPartition]string{}
	subscribed := map[TopicID]bool{}
	for _, m := range members {
		for _, tp := range m.topics {
			subscribed[tp] = true
		}
		got[m.id].each(func(p topicIDPartition) {
			if !slices.Contains(m.topics, p.Topic) || p.Partition < 0 || p.Partition >= topics[p.Topic] {
				t.Fatalf("member %s got %v, which it cannot have", m.id, p)
			}
			if o, ok := owner[p]; ok {
				t.Fatalf("%v given to %s and %s", p, o, m.id)
			}
			owner[p] = m.id
		})
	}
	for tp := range subscribed {
		for p := range topics[tp] {
			if _, ok := owner[topicIDPartition{tp, p}]; !ok {
				t.Fatalf("partition %v of a subscribed topic is unassigned", topicIDPartition{tp, p})
			}
		}
	}
}

// checkBalanced fails if some partition could move from a member to a
// less loaded subscriber and narrow their gap: no such move is left.
func checkBalanced(t *testing.T, members []assignMember, got map[string]Assignment) {
	t.Helper()
	for _, hi := range members {
		for _, lo := range members {
			if got[hi.id].size()-got[lo.id].size() < 2 {
				continue
			}
			got[hi.id].each(func(p topicIDPartition) {
				if slices.Contains(lo.topics, p.Topic) {
					t.Fatalf("unbalanced: %s has %d, %s has %d and could take %v", hi.id, got[hi.id].size(), lo.id, got[lo.id].size(), p)
				}
			})
		}
	}
}

func TestUniformAssignor(t *testing.T) {
	a, b := tid(1), tid(2)
	topics := map[TopicID]int32{a: 7, b: 5}
	both := []TopicID{a, b}
	members := []assignMember{{id: "m1", topics: both}, {id: "m2", topics: both}, {id: "m3", topics: both}}
	got := assignUniform(members, topics)
	checkValid(t, members, topics, got)
	for _, m := range members {
		if n := got[m.id].size(); n != 4 {
			t.Fatalf("%s got %d partitions, want 4: %v", m.id, n, got)
		}
	}

	// A fourth member: each of the others gives up exactly one partition
	// and keeps the rest.
	for i := range members {
		members[i].current = got[members[i].id]
	}
	members = append(members, assignMember{id: "m4", topics: both})
	next := assignUniform(members, topics)
	checkValid(t, members, topics, next)
	for _, m := range members[:3] {
		kept := 0
		next[m.id].each(func(p topicIDPartition) {
			if m.current.contains(p) {
				kept++
			}
		})
		if kept != 3 || next[m.id].size() != 3 {
			t.Fatalf("%s kept %d of its partitions and has %d, want 3 and 3", m.id, kept, next[m.id].size())
		}
	}

	// A member leaves: the others keep everything they had.
	for i := range members {
		members[i].current = next[members[i].id]
	}
	left := members[1:]
	after := assignUniform(left, topics)
	checkValid(t, left, topics, after)
	for _, m := range left {
		if !subset(m.current, after[m.id]) {
			t.Fatalf("%s lost partitions when another member left: %v -> %v", m.id, m.current, after[m.id])
		}
	}
	checkBalanced(t, left, after)
}

func TestUniformAssignorHeterogeneous(t *testing.T) {
	a, b := tid(1), tid(2)
	topics := map[TopicID]int32{a: 6, b: 2}
	members := []assignMember{
		{id: "m1", topics: []TopicID{a}},
		{id: "m2", topics: []TopicID{a, b}},
		{id: "m3", topics: []TopicID{b}},
	}
	got := assignUniform(members, topics)
	checkValid(t, members, topics, got)
	checkBalanced(t, members, got)
	if got["m1"].size() != 3 || got["m2"].size() != 3 || got["m3"].size() != 2 {
		t.Fatalf("heterogeneous: %v", got)
	}
}

// TestUniformAssignorRandom checks validity, balance and stickiness on
// random groups; STRATA_TEST_SEED replays one.
func TestUniformAssignorRandom(t *testing.T) {
	seed := rand.Uint64()
	if env := os.Getenv("STRATA_TEST_SEED"); env != "" {
		fmt.Sscan(env, &seed)
	}
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	for range 300 {
		nTopics := 1 + rng.IntN(4)
		topics := map[TopicID]int32{}
		var all []TopicID
		for i := range nTopics {
			id := tid(byte(i + 1))
			topics[id] = int32(rng.IntN(20))
			all = append(all, id)
		}
		homogeneous := rng.IntN(2) == 0
		var members []assignMember
		for i := range 1 + rng.IntN(8) {
			m := assignMember{id: fmt.Sprintf("m%d", i), topics: all, current: Assignment{}}
			if !homogeneous {
				m.topics = nil
				for _, id := range all {
					if rng.IntN(2) == 0 {
						m.topics = append(m.topics, id)
					}
				}
			}
			// A current assignment, partly stale (out of range, or
			// claimed by another member too).
			for range rng.IntN(10) {
				id := all[rng.IntN(len(all))]
				m.current.add(topicIDPartition{id, int32(rng.IntN(25))})
			}
			members = append(members, m)
		}
		got := assignUniform(members, topics)
		checkValid(t, members, topics, got)
		checkBalanced(t, members, got)
		if !homogeneous {
			continue
		}
		total := 0
		for _, n := range topics {
			total += int(n)
		}
		quota := total / len(members)
		claimed := map[topicIDPartition]bool{}
		for _, m := range members {
			valid, kept := 0, 0
			m.current.each(func(p topicIDPartition) {
				if p.Partition < topics[p.Topic] && !claimed[p] {
					claimed[p] = true
					valid++
					if got[m.id].contains(p) {
						kept++
					}
				}
			})
			if kept < min(valid, quota) {
				t.Fatalf("%s kept %d of its %d valid partitions, quota %d: %v -> %v", m.id, kept, valid, quota, m.current, got[m.id])
			}
		}
	}
}

func TestRangeAssignor(t *testing.T) {
	a, b := tid(1), tid(2)
	topics := map[TopicID]int32{a: 7, b: 7}
	both := []TopicID{a, b}
	members := []assignMember{{id: "z", topics: both}, {id: "y", topics: both}, {id: "x", topics: both, instanceID: "i-9"}}
	got := assignRange(members, topics)
	checkValid(t, members, topics, got)
	// Static members first (by instance id), then by member id: x, y, z.
	want := map[string][]int32{"x": {0, 1, 2}, "y": {3, 4}, "z": {5, 6}}
	for id, ps := range want {
		if !slices.Equal(got[id][a], ps) || !slices.Equal(got[id][b], ps) {
			t.Fatalf("%s got %v, want %v of each topic", id, got[id], ps)
		}
	}
	// Fewer partitions than members: the last members get nothing.
	small := map[TopicID]int32{a: 2}
	members = []assignMember{{id: "a", topics: []TopicID{a}}, {id: "b", topics: []TopicID{a}}, {id: "c", topics: []TopicID{a}}}
	got = assignRange(members, small)
	checkValid(t, members, small, got)
	if got["c"].size() != 0 || got["a"].size() != 1 || got["b"].size() != 1 {
		t.Fatalf("small topic: %v", got)
	}
}

package meta

import (
	"fmt"
	"math/rand/v2"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
)

// placePartitions assigns n new partitions (numbered from first) to the
// live brokers. The goals, in order: the replicas of a partition sit in
// different zones (racks) as far as there are zones, and always on
// different brokers; leaders spread evenly over the brokers; replicas
// spread evenly. A random start keeps topics from all leading on the same
// broker, as Kafka's default placement does.
func placePartitions(im *Image, n int32, rf int16, first int32) ([]Partition, error) {
	if n <= 0 {
		return nil, fmt.Errorf("%w: number of partitions must be larger than 0", kerr.InvalidPartitions)
	}
	if n > MaxPartitionsPerTopic || first+n > MaxPartitionsPerTopic {
		return nil, fmt.Errorf("%w: %d partitions exceed the limit of %d per topic", kerr.InvalidPartitions, first+n, MaxPartitionsPerTopic)
	}
	if rf <= 0 {
		return nil, fmt.Errorf("%w: replication factor must be larger than 0", kerr.InvalidReplicationFactor)
	}
	brokers := im.LiveBrokers()
	if int(rf) > len(brokers) {
		return nil, fmt.Errorf("%w: replication factor %d is larger than the %d available brokers", kerr.InvalidReplicationFactor, rf, len(brokers))
	}
	return place(brokers, int(n), int(rf), rand.IntN(len(brokers))), nil
}

// place is the deterministic core of placePartitions. Leaders go round
// robin over the brokers ordered so that consecutive brokers are in
// different racks, from position start; each follower is the broker with,
// in order, the fewest replicas of this partition in its rack, the fewest
// replicas of this request, and the nearest position after the leader.
func place(brokers []*Broker, n, rf, start int) []Partition {
	order := rackAlternating(brokers)
	load := make([]int, len(order))
	parts := make([]Partition, n)
	for p := range parts {
		leader := (start + p) % len(order)
		chosen := []int{leader}
		inRack := map[string]int{order[leader].Rack: 1}
		load[leader]++
		for len(chosen) < rf {
			best := -1
			for d := 1; d < len(order); d++ {
				c := (leader + d) % len(order)
				if contains(chosen, c) {
					continue
				}
				if best < 0 || inRack[order[c].Rack] < inRack[order[best].Rack] ||
					(inRack[order[c].Rack] == inRack[order[best].Rack] && load[c] < load[best]) {
					best = c
				}
			}
			chosen = append(chosen, best)
			inRack[order[best].Rack]++
			load[best]++
		}
		replicas := make([]int32, rf)
		for i, c := range chosen {
			replicas[i] = order[c].ID
		}
		parts[p] = newPartition(replicas)
	}
	return parts
}

// rackAlternating orders brokers a1 b1 c1 a2 b2 c2 ...: racks in name
// order, brokers by id within a rack, taking one from each rack in turn.
// Brokers without a rack form one rack.
func rackAlternating(brokers []*Broker) []*Broker {
	byRack := map[string][]*Broker{}
	var racks []string
	for _, b := range brokers {
		if _, ok := byRack[b.Rack]; !ok {
			racks = append(racks, b.Rack)
		}
		byRack[b.Rack] = append(byRack[b.Rack], b)
	}
	sort.Strings(racks)
	for _, r := range racks {
		sort.Slice(byRack[r], func(i, j int) bool { return byRack[r][i].ID < byRack[r][j].ID })
	}
	out := make([]*Broker, 0, len(brokers))
	for i := 0; len(out) < len(brokers); i++ {
		for _, r := range racks {
			if i < len(byRack[r]) {
				out = append(out, byRack[r][i])
			}
		}
	}
	return out
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

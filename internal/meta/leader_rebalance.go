package meta

// Automatic preferred-leader rebalancing, as Kafka's controller does with
// auto.leader.rebalance.enable: after a broker restarts, the partitions it
// led are led by others, and leadership (the work of serving clients and
// replicas) stays piled on the survivors until something moves it back.
// Every leader.imbalance.check.interval.seconds the active controller
// counts, per broker, the partitions whose preferred replica (the first)
// it is but that another broker leads; over
// leader.imbalance.per.broker.percentage of its preferred partitions, it
// elects it back where it is alive and in sync. Partitions being
// reassigned are left alone: the reassignment decides their leader.

import "time"

// LeaderRebalance configures the active controller's preferred-leader
// rebalancing; Interval 0 turns it off.
type LeaderRebalance struct {
	Interval time.Duration
	// ImbalancePercent is the share of a broker's preferred partitions
	// led elsewhere that it tolerates.
	ImbalancePercent int
}

// planLeaderRebalance returns the preferred elections that bring every
// broker over the tolerated imbalance back to leading its partitions.
func planLeaderRebalance(im *Image, alive func(int32) bool, percent int) []Record {
	type count struct{ preferred, elsewhere int }
	counts := map[int32]*count{}
	topics := im.AllTopics()
	for _, t := range topics {
		for i := range t.Partitions {
			p := &t.Partitions[i]
			if len(p.Replicas) == 0 {
				continue
			}
			c := counts[p.Replicas[0]]
			if c == nil {
				c = &count{}
				counts[p.Replicas[0]] = c
			}
			c.preferred++
			if p.Leader != p.Replicas[0] {
				c.elsewhere++
			}
		}
	}
	var recs []Record
	for _, t := range topics {
		for i := range t.Partitions {
			p := &t.Partitions[i]
			if len(p.Replicas) == 0 || p.Reassigning() {
				continue
			}
			if c := counts[p.Replicas[0]]; c.elsewhere*100 <= c.preferred*percent {
				continue
			}
			if pc, err := planPreferredElection(t.ID, int32(i), p, alive); err == nil {
				pc.Reason = "leader rebalance"
				recs = append(recs, Record{PartitionChange: pc})
			}
		}
	}
	return recs
}

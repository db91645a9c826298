package cluster

import (
	"slices"
	"testing"
	"time"
)

// TestLeaderRebalance: leadership returns to the preferred replicas after
// a node's restart (auto.leader.rebalance.enable, checked every second
// here), so that the survivors of a failure do not keep its share of the
// work. Without the rebalance they would stay on the survivors: the
// restarted node rejoins the ISRs as a follower.
func TestLeaderRebalance(t *testing.T) {
	c := startCluster(t, "leader.imbalance.check.interval.seconds: 1")
	cl := client(t, c.Nodes[0])
	const topic, partitions = "rebalanced", 6
	createReplicated(t, cl, c.Nodes[0], topic, partitions)
	waitISR(t, cl, topic, partitions, 3)
	preferred := leadersOf(t, cl, topic, partitions)
	victim := c.Nodes[1].ID
	if !slices.Contains(preferred, victim) {
		t.Fatalf("node %d leads none of %v", victim, preferred)
	}

	c.Kill(t, victim)
	waitFor(t, 20*time.Second, "leaders off the killed node", func() bool {
		return !slices.Contains(leadersOf(t, cl, topic, partitions), victim)
	})
	c.Restart(t, victim)
	start := time.Now()
	waitFor(t, 30*time.Second, "preferred leaders back", func() bool {
		return slices.Equal(leadersOf(t, cl, topic, partitions), preferred)
	})
	t.Logf("leaders %v back %v after the restarted node was ready", preferred, time.Since(start).Round(100*time.Millisecond))
}

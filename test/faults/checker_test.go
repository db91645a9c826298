package faults

import (
	"fmt"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/test/clustertest"
)

const (
	topic      = "queue"
	partitions = 3
	writers    = 2
	group      = "queue-readers"
	members    = 2
)

// TestFaults runs the schedule and the checks; see the package comment.
func TestFaults(t *testing.T) {
	rounds, err := faultRounds()
	if err != nil {
		t.Fatal(err)
	}
	rng := brokertest.Rand(t)
	began := time.Now()
	c := startCluster(t)
	id := c.createTopic(topic, partitions)
	var seeds []string
	for _, m := range c.members {
		seeds = append(seeds, m.kafkaProxy)
	}
	h := newHistory()
	prod := startProducers(t, seeds, h, topic, partitions, writers)
	cons := startConsumers(t, seeds, h, topic, group, members)
	time.Sleep(time.Second) // let the group form and the first records land

	var f findings
	var crashes []string
	kinds := faultKinds(c)
	counts := map[string]int{}
	for round := 1; round <= rounds; round++ {
		k := kinds[rng.IntN(len(kinds))]
		ackedBefore := h.ackedCount()
		what, heal, err := k.inject(c, rng)
		if err != nil {
			t.Fatalf("round %d: %s: %v", round, k.name, err)
		}
		d := randDuration(rng, k.minDur, k.maxDur)
		time.Sleep(d)
		heal()
		recovery, err := c.waitHealthy(healthTimeout, &crashes)
		t.Logf("round %3d  %-15s %-36s fault %4.1fs  recovery %4.1fs  acked %5d",
			round, k.name, what, d.Seconds(), recovery.Seconds(), h.ackedCount()-ackedBefore)
		if err != nil {
			c.dumpGoroutines()
			t.Fatalf("round %d: %v", round, err)
		}
		counts[k.name]++
	}

	t.Log("faults over: stopping the producers, letting the group catch up, reading every replica")
	if err := prod.stop(time.Minute); err != nil {
		t.Fatal(err)
	}
	logs, err := convergedLogs(c, meta.TopicID(id), 30*time.Second)
	if err != nil {
		t.Error(err) // the checks below say how they differ
	}
	end := map[int32]int64{}
	for p := range int32(partitions) {
		if l := logs[1][p]; len(l) > 0 {
			end[p] = l[len(l)-1].Offset + 1
		}
	}
	waitConsumed(h, end, 30*time.Second)
	cons.stop()
	final, err := readAll(seeds, topic, end, 30*time.Second)
	if err != nil {
		t.Error(err)
	}

	for _, cr := range crashes {
		f.add(&f.crashes, "crash", "%s", cr)
	}
	h.mu.Lock()
	for _, r := range h.reused {
		f.add(&f.reused, "reused", "%s", r)
	}
	for p := range int32(partitions) {
		replicas := map[int32][]clustertest.Entry{}
		for nodeID, parts := range logs {
			replicas[nodeID] = parts[p]
		}
		f.checkPartition(p, replicas, final[p], h)
	}
	records, failed, reads := 0, 0, h.nreads
	for _, a := range h.acked {
		records += len(a)
	}
	for e, n := range h.failed {
		failed += n
		t.Logf("produce failed %d times: %s", n, e)
	}
	for e, n := range h.fetchEr {
		t.Logf("group fetch error %d times: %s", n, e)
	}
	h.mu.Unlock()
	t.Logf("SUMMARY: %d rounds %v in %v; %d records acknowledged, %d not (failed: may or may not be in the log), %d reads by the group; %s",
		rounds, counts, time.Since(began).Round(time.Second), records, failed, reads, f.String())
	if f.total() > 0 {
		t.Errorf("the checks found %d anomalies (seed above replays the schedule)", f.total())
	}
}

// convergedLogs reads the topic's partitions from every node's data
// directory until all replicas hold the same records, or timeout.
func convergedLogs(c *cluster, id meta.TopicID, timeout time.Duration) (map[int32]map[int32][]clustertest.Entry, error) {
	deadline := time.Now().Add(timeout)
	for {
		logs := map[int32]map[int32][]clustertest.Entry{}
		var problem error
		for _, m := range c.members {
			logs[m.ID] = map[int32][]clustertest.Entry{}
			for p := range int32(partitions) {
				l, err := clustertest.ReadLog(clustertest.PartitionDir(m.DataDir, id.String(), p))
				if err != nil && problem == nil {
					problem = fmt.Errorf("node %d: %w", m.ID, err)
				}
				logs[m.ID][p] = l
			}
		}
		for p := range int32(partitions) {
			for _, m := range c.members[1:] {
				if d := firstDifference(logs[1][p], logs[m.ID][p]); d != "" && problem == nil {
					problem = fmt.Errorf("partition %d: nodes 1 and %d differ: %s", p, m.ID, d)
				}
			}
		}
		if problem == nil || time.Now().After(deadline) {
			return logs, problem
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitConsumed waits until the group has read every offset below end.
func waitConsumed(h *history, end map[int32]int64, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		done := true
		for p, e := range end {
			for off := int64(0); off < e && done; off++ {
				_, done = h.reads[p][off]
			}
		}
		h.mu.Unlock()
		if done {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

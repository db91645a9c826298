package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/record"
	"github.com/strata-db/strata/internal/record/recordtest"
	"github.com/strata-db/strata/test/clustertest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestReplicationFailover is phase B's promise: a topic with replication
// factor 3 and min.insync.replicas 2 loses no acknowledged write when its
// leader is SIGKILLed mid-stream, clients continue within seconds, every
// acknowledged record is in every replica exactly once and in order, a
// follower killed and restarted rejoins the ISR, and a controlled
// shutdown moves leadership away before the node exits.
func TestReplicationFailover(t *testing.T) {
	c := startCluster(t)
	nodes := c.Nodes
	cl := client(t, nodes[0])
	const topic, partitions = "durable", 3
	createReplicated(t, cl, nodes[0], topic, partitions)
	waitISR(t, cl, topic, partitions, 3)

	checkLeaderHints(t, cl, nodes, topic)

	prod := startProducer(t, nodes, topic, partitions)
	prod.waitAcked(t, 0, 200)

	t.Log("SIGKILL of the leader of partition 0 while the producer runs")
	victim := c.Node(leaderOf(t, cl, topic, 0))
	q, _ := victim.Quorum()
	killedAt := time.Now()
	victim.Kill()
	// The first write sent once the process is gone and acknowledged.
	resumed := prod.waitAckedAfter(t, 0, time.Now(), 30*time.Second)
	t.Logf("FAILOVER: node %d (active controller: %v) SIGKILLed; the producer's first write sent after it acknowledged %v later",
		victim.ID, q.ActiveController == victim.ID, resumed.Sub(killedAt).Round(time.Millisecond))

	t.Log("the killed node restarts, truncates what it did not share and rejoins every ISR")
	c.Restart(t, victim.ID)
	waitRejoin(t, client(t, survivorOf(nodes, victim)), topic, partitions, victim.ID, "the killed leader")

	t.Log("SIGKILL of a follower: it leaves the ISR, writes go on, it comes back")
	scl := client(t, survivorOf(nodes, victim))
	leader0 := leaderOf(t, scl, topic, 0)
	var follower *clustertest.Node
	for _, n := range nodes {
		if n.ID != leader0 {
			follower = n
			break
		}
	}
	follower.Kill()
	waitFor(t, 15*time.Second, "the killed follower out of the ISR", func() bool {
		return !slices.Contains(isrOf(t, scl, topic, 0), follower.ID)
	})
	prod.waitAckedAfter(t, 0, time.Now(), 15*time.Second)
	c.Restart(t, follower.ID)
	waitRejoin(t, scl, topic, partitions, follower.ID, "the killed follower")

	t.Log("SIGTERM of a leader: leadership moves before the process exits")
	ccl := client(t, nodes[2])
	leader1 := leaderOf(t, ccl, topic, 1)
	going := c.Node(leader1)
	other := survivorOf(nodes, going)
	termAt := time.Now()
	going.Signal(syscall.SIGTERM)
	if _, err := going.WaitExit(20 * time.Second); err != nil {
		t.Fatalf("node %d after SIGTERM: %v", going.ID, err)
	}
	ocl := client(t, other)
	if l := leaderOf(t, ocl, topic, 1); l == going.ID || l < 0 {
		t.Fatalf("after node %d's controlled shutdown partition 1 is led by %d", going.ID, l)
	}
	t.Logf("node %d shut down in %v with its leaderships moved", going.ID, time.Since(termAt).Round(time.Millisecond))
	prod.waitAckedAfter(t, 1, time.Now(), 15*time.Second)
	c.Restart(t, going.ID)
	waitRejoin(t, ocl, topic, partitions, going.ID, "the shut-down leader")

	acked := prod.stop(t)
	t.Log("every acknowledged record is in every replica, once, in order")
	id := topicID(t, ocl, topic)
	for p := int32(0); p < partitions; p++ {
		waitFor(t, 20*time.Second, fmt.Sprintf("replicas of partition %d agree", p), func() bool {
			return replicasAgree(t, nodes, id, p)
		})
		for _, n := range nodes {
			checkAcked(t, n, readReplica(t, n, id, p), acked[p], p)
		}
		t.Logf("partition %d: %d acknowledged records found on all 3 replicas", p, len(acked[p]))
	}
}

// createReplicated creates a topic with replication factor 3 and
// min.insync.replicas 2.
func createReplicated(t *testing.T, cl *kgo.Client, through *clustertest.Node, name string, partitions int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, 3
	c := kmsg.NewCreateTopicsRequestTopicConfig()
	c.Name, c.Value = "min.insync.replicas", kmsg.StringPtr("2")
	rt.Configs = append(rt.Configs, c)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	resp := direct(t, cl, through, req).(*kmsg.CreateTopicsResponse)
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create %s: %v %v", name, err, resp.Topics[0].ErrorMessage)
	}
}

// partitionMeta returns the metadata of one partition, freshly asked.
func partitionMeta(t *testing.T, cl *kgo.Client, topic string, partition int32) (kmsg.MetadataResponseTopicPartition, [16]byte, bool) {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || len(resp.Topics) != 1 {
		return kmsg.MetadataResponseTopicPartition{}, [16]byte{}, false
	}
	for _, p := range resp.Topics[0].Partitions {
		if p.Partition == partition {
			return p, resp.Topics[0].TopicID, true
		}
	}
	return kmsg.MetadataResponseTopicPartition{}, [16]byte{}, false
}

func leaderOf(t *testing.T, cl *kgo.Client, topic string, partition int32) int32 {
	t.Helper()
	var leader int32 = -1
	waitFor(t, 15*time.Second, "a leader", func() bool {
		p, _, ok := partitionMeta(t, cl, topic, partition)
		leader = p.Leader
		return ok && p.Leader >= 0
	})
	return leader
}

func isrOf(t *testing.T, cl *kgo.Client, topic string, partition int32) []int32 {
	p, _, _ := partitionMeta(t, cl, topic, partition)
	return p.ISR
}

func topicID(t *testing.T, cl *kgo.Client, topic string) meta.TopicID {
	_, id, ok := partitionMeta(t, cl, topic, 0)
	if !ok {
		t.Fatalf("no metadata for %s", topic)
	}
	return meta.TopicID(id)
}

// waitISR waits until every partition has an ISR of n.
func waitISR(t *testing.T, cl *kgo.Client, topic string, partitions int32, n int) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("ISRs of %d", n), func() bool {
		for p := int32(0); p < partitions; p++ {
			if len(isrOf(t, cl, topic, p)) != n {
				return false
			}
		}
		return true
	})
}

// maxISRRejoin bounds how long a restarted node, once ready, may take to
// be back in every ISR. It catches up within a fraction of a second, and
// a leader proposes a caught-up follower for the ISR at once, as Kafka
// does: replica.lag.time.max.ms (replicaLagMs) governs only shrinking.
const maxISRRejoin = 2 * time.Second

// waitRejoin waits until node id, just ready after a restart, is in the
// ISR of every partition of topic (and the ISRs are full), prints how long that took (ISR_REJOIN)
// and fails the test if it took longer than maxISRRejoin.
func waitRejoin(t *testing.T, cl *kgo.Client, topic string, partitions int32, id int32, what string) {
	t.Helper()
	ready := time.Now()
	deadline := ready.Add(30 * time.Second)
	for p := int32(0); p < partitions; {
		if isr := isrOf(t, cl, topic, p); len(isr) == 3 && slices.Contains(isr, id) {
			p++
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %d (%s) not in the ISR of partition %d 30s after it was ready", id, what, p)
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(ready)
	t.Logf("ISR_REJOIN %.2fs: node %d (%s) back in every ISR after it was ready", took.Seconds(), id, what)
	if took > maxISRRejoin {
		t.Errorf("node %d (%s) rejoined every ISR %v after it was ready, more than %v", id, what, took.Round(time.Millisecond), maxISRRejoin)
	}
}

func survivorOf(nodes []*clustertest.Node, not *clustertest.Node) *clustertest.Node {
	for _, n := range nodes {
		if n != not && n.Running() {
			return n
		}
	}
	panic("no survivor")
}

// producer writes "p<partition>-<seq>" records with an idempotent acks=all
// kgo client, continuously, and records which were acknowledged.
type producer struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	acked map[int32][]string    // in acknowledgement order
	sent  map[int32][]time.Time // when each acknowledged record was produced
	ackAt map[int32][]time.Time // and acknowledged
	errs  int
}

// seedsOf is the Kafka addresses of nodes, for kgo.SeedBrokers.
func seedsOf(nodes []*clustertest.Node) []string {
	var seeds []string
	for _, n := range nodes {
		seeds = append(seeds, n.Kafka)
	}
	return seeds
}

func startProducer(t *testing.T, nodes []*clustertest.Node, topic string, partitions int32) *producer {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seedsOf(nodes)...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordDeliveryTimeout(60*time.Second), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		kgo.MetadataMinAge(100*time.Millisecond), kgo.ProducerLinger(0))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr := &producer{cl: cl, cancel: cancel, acked: map[int32][]string{}, sent: map[int32][]time.Time{}, ackAt: map[int32][]time.Time{}}
	pr.wg.Add(1)
	go func() {
		defer pr.wg.Done()
		for seq := 0; ctx.Err() == nil; seq++ {
			p := int32(seq % int(partitions))
			v := fmt.Sprintf("p%d-%d", p, seq)
			cl.Produce(ctx, &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)}, func(r *kgo.Record, err error) {
				pr.mu.Lock()
				defer pr.mu.Unlock()
				if err != nil {
					pr.errs++
					return
				}
				pr.acked[r.Partition] = append(pr.acked[r.Partition], string(r.Value))
				pr.sent[r.Partition] = append(pr.sent[r.Partition], r.Timestamp) // set by kgo at Produce
				pr.ackAt[r.Partition] = append(pr.ackAt[r.Partition], time.Now())
			})
			time.Sleep(time.Millisecond)
		}
	}()
	t.Cleanup(func() { pr.cancel(); cl.Close() })
	return pr
}

func (pr *producer) count(p int32) int {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	return len(pr.acked[p])
}

func (pr *producer) waitAcked(t *testing.T, p int32, n int) {
	t.Helper()
	waitFor(t, 15*time.Second, fmt.Sprintf("%d acknowledged records on partition %d", n, p), func() bool { return pr.count(p) >= n })
}

// waitAckedAfter waits until a record produced to partition p after
// since is acknowledged and returns the earliest such acknowledgement.
func (pr *producer) waitAckedAfter(t *testing.T, p int32, since time.Time, timeout time.Duration) time.Time {
	t.Helper()
	var at time.Time
	waitFor(t, timeout, fmt.Sprintf("an acknowledged write to partition %d", p), func() bool {
		pr.mu.Lock()
		defer pr.mu.Unlock()
		at = time.Time{}
		for i, s := range pr.sent[p] {
			if s.After(since) && (at.IsZero() || pr.ackAt[p][i].Before(at)) {
				at = pr.ackAt[p][i]
			}
		}
		return !at.IsZero()
	})
	return at
}

// stop flushes and stops the producer and returns the acknowledged values.
func (pr *producer) stop(t *testing.T) map[int32][]string {
	t.Helper()
	pr.cancel()
	pr.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pr.cl.Flush(ctx); err != nil {
		t.Fatalf("flush: %v", err)
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	t.Logf("producer: %d records failed (not acknowledged) in all", pr.errs)
	return pr.acked
}

// readReplica reads the values of a partition's log in a node's data
// directory, in offset order, control batches left out
// (clustertest.ReadLog), failing the test on a gap or a bad checksum.
func readReplica(t *testing.T, n *clustertest.Node, id meta.TopicID, partition int32) []string {
	t.Helper()
	entries, err := clustertest.ReadLog(clustertest.PartitionDir(n.DataDir, id.String(), partition))
	if err != nil {
		t.Fatalf("node %d partition %d: %v", n.ID, partition, err)
	}
	values := make([]string, len(entries))
	for i, e := range entries {
		values[i] = e.Value
	}
	return values
}

// replicasAgree reports whether every node's log of a partition holds the
// same values.
func replicasAgree(t *testing.T, nodes []*clustertest.Node, id meta.TopicID, partition int32) bool {
	first := readReplica(t, nodes[0], id, partition)
	for _, n := range nodes[1:] {
		if !slices.Equal(first, readReplica(t, n, id, partition)) {
			return false
		}
	}
	return true
}

// checkAcked verifies that log holds every acknowledged value exactly
// once, in the order the producer sent them (sequence numbers increase).
func checkAcked(t *testing.T, n *clustertest.Node, log []string, acked []string, partition int32) {
	t.Helper()
	seen := map[string]int{}
	prev := -1
	for _, v := range log {
		seen[v]++
		var p, seq int
		if _, err := fmt.Sscanf(v, "p%d-%d", &p, &seq); err != nil || int32(p) != partition {
			t.Fatalf("node %d partition %d holds %q", n.ID, partition, v)
		}
		if seq <= prev {
			t.Fatalf("node %d partition %d: %q after sequence %d (order broken or duplicate)", n.ID, partition, v, prev)
		}
		prev = seq
	}
	var missing []string
	for _, v := range acked {
		if seen[v] != 1 {
			missing = append(missing, fmt.Sprintf("%s(x%d)", v, seen[v]))
		}
	}
	if len(missing) > 0 {
		t.Fatalf("node %d partition %d: %d acknowledged records not there exactly once: %s", n.ID, partition, len(missing), strings.Join(missing[:min(10, len(missing))], " "))
	}
}

// checkLeaderHints produces at a follower of partition 0, which answers
// NOT_LEADER_OR_FOLLOWER naming the leader (KIP-951), and fetches there as
// a consumer, which the follower serves (KIP-392).
func checkLeaderHints(t *testing.T, cl *kgo.Client, nodes []*clustertest.Node, topic string) {
	t.Helper()
	var pm kmsg.MetadataResponseTopicPartition
	var id [16]byte
	waitFor(t, 10*time.Second, "partition 0's replicas in Metadata", func() bool {
		var ok bool
		pm, id, ok = partitionMeta(t, cl, topic, 0)
		return ok && len(pm.Replicas) >= 2 && pm.Leader >= 0
	})
	follower := nodes[pm.Replicas[0]-1]
	if follower.ID == pm.Leader {
		follower = nodes[pm.Replicas[1]-1]
	}
	preq := kmsg.NewPtrProduceRequest()
	preq.Version, preq.Acks, preq.TimeoutMillis = 11, -1, 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic, pt.TopicID = topic, id // kgo sends the highest version both sides serve
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = recordtest.Build(record.CompressionNone, recordtest.Rec{Value: []byte("x"), TimestampMs: time.Now().UnixMilli()})
	pt.Partitions = append(pt.Partitions, pp)
	preq.Topics = append(preq.Topics, pt)
	var presp *kmsg.ProduceResponse
	waitFor(t, 5*time.Second, "the follower to know the topic", func() bool {
		presp = direct(t, cl, follower, preq).(*kmsg.ProduceResponse)
		return presp.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code
	})
	sp := presp.Topics[0].Partitions[0]
	if sp.ErrorCode != kerr.NotLeaderForPartition.Code || sp.CurrentLeader.LeaderID != pm.Leader ||
		sp.CurrentLeader.LeaderEpoch != pm.LeaderEpoch || len(presp.Brokers) != 1 || presp.Brokers[0].NodeID != pm.Leader {
		t.Fatalf("produce to follower %d: error %d, current leader %+v, brokers %+v (leader %d epoch %d)",
			follower.ID, sp.ErrorCode, sp.CurrentLeader, presp.Brokers, pm.Leader, pm.LeaderEpoch)
	}
	freq := kmsg.NewPtrFetchRequest()
	freq.Version, freq.ReplicaID, freq.MaxBytes = 16, -1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = topic, id
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	freq.Topics = append(freq.Topics, ft)
	// A consumer's fetch (v11+) is served by the follower (KIP-392).
	fresp := direct(t, cl, follower, freq).(*kmsg.FetchResponse)
	fpr := fresp.Topics[0].Partitions[0]
	if fpr.ErrorCode != 0 || fpr.HighWatermark < 0 {
		t.Fatalf("fetch from follower %d: error %d, high watermark %d", follower.ID, fpr.ErrorCode, fpr.HighWatermark)
	}
}

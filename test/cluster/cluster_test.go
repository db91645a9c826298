package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/strata-db/strata/test/clustertest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	// sessionTimeoutMs is broker.session.timeout.ms for every node: short,
	// so that a duplicate node id is refused within seconds.
	sessionTimeoutMs = 3000
	// replicaLagMs is replica.lag.time.max.ms for every node.
	replicaLagMs = 5000
)

// startCluster starts three voters (broker and controller each) in zones
// a, b and c whose config file has the given extra broker-config lines,
// and waits until all answer /healthz.
func startCluster(t *testing.T, config ...string) *clustertest.Cluster {
	t.Helper()
	c := newCluster(t, config...)
	c.Start(t)
	return c
}

// newCluster is startCluster without the start: the test may add flags
// to the nodes (AddArgs) before it calls Start.
func newCluster(t *testing.T, config ...string) *clustertest.Cluster {
	t.Helper()
	return clustertest.NewCluster(t, strataBin, 3, configFile(t, config...), "debug")
}

// newNode returns a node outside the cluster, not started, with its own
// Kafka address, zone and data directory.
func newNode(t *testing.T, id int32, zone string) *clustertest.Node {
	n := clustertest.NewNode(t, strataBin, id, clustertest.FreeAddr(t), t.TempDir())
	n.Kafka, n.Zone = clustertest.FreeAddr(t), zone
	return n
}

// configFile writes the YAML every node reads: a short session timeout,
// and timed-out transactions aborted within a second. extra lines go
// under broker-config too.
func configFile(t *testing.T, extra ...string) string {
	p := filepath.Join(t.TempDir(), "strata.yaml")
	body := fmt.Sprintf("broker-config:\n  broker.session.timeout.ms: %d\n  broker.heartbeat.interval.ms: 300\n  replica.lag.time.max.ms: %d\n"+
		"  transaction.abort.timed.out.transaction.cleanup.interval.ms: 1000\n", sessionTimeoutMs, replicaLagMs)
	for _, line := range extra {
		body += "  " + line + "\n"
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// client is a kgo client seeded with one node only.
func client(t *testing.T, n *clustertest.Node, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(n.Kafka), kgo.RetryTimeout(10 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// direct sends req to node n itself (not any broker the client knows).
func direct(t *testing.T, cl *kgo.Client, n *clustertest.Node, req kmsg.Request) kmsg.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// Load metadata so that the client knows broker n by its id.
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl); err != nil {
		t.Fatal(err)
	}
	resp, err := cl.Broker(int(n.ID)).Request(ctx, req)
	if err != nil {
		t.Fatalf("request to node %d: %v", n.ID, err)
	}
	return resp
}

func TestThreeNodeCluster(t *testing.T) {
	c := startCluster(t)
	nodes := c.Nodes
	zoneOf := map[int32]string{1: "a", 2: "b", 3: "c"}

	t.Log("every node shows the three brokers with their zones")
	for _, n := range nodes {
		cl := client(t, n)
		md := direct(t, cl, n, kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse)
		checkBrokers(t, n, len(md.Brokers), func(i int) (int32, *string) { return md.Brokers[i].NodeID, md.Brokers[i].Rack }, zoneOf)
		dreq := kmsg.NewPtrDescribeClusterRequest()
		dc := direct(t, cl, n, dreq).(*kmsg.DescribeClusterResponse)
		checkBrokers(t, n, len(dc.Brokers), func(i int) (int32, *string) { return dc.Brokers[i].NodeID, dc.Brokers[i].Rack }, zoneOf)
		if md.ClusterID == nil || *md.ClusterID != dc.ClusterID || dc.ClusterID == "" {
			t.Fatalf("node %d: cluster ids %v and %q", n.ID, md.ClusterID, dc.ClusterID)
		}
	}

	t.Log("a topic of 12 partitions created through node 2 spreads over the three brokers")
	cl := client(t, nodes[1])
	createTopic(t, cl, nodes[1], "spread", 12)
	leaders := leadersOf(t, cl, "spread", 12)
	count := map[int32]int{}
	for _, l := range leaders {
		count[l]++
	}
	if count[1] != 4 || count[2] != 4 || count[3] != 4 {
		t.Fatalf("leaders per broker: %v", count)
	}

	t.Log("kgo produces to and consumes from every partition, each served by its leader")
	produceAll(t, client(t, nodes[0], kgo.RecordPartitioner(kgo.ManualPartitioner())), "spread", 12)
	consumeAll(t, client(t, nodes[2]), "spread", 12)

	t.Log("a broker that does not host a partition answers NOT_LEADER_OR_FOLLOWER")
	for _, n := range nodes {
		for p, l := range leaders {
			if l == n.ID {
				continue
			}
			req := kmsg.NewPtrListOffsetsRequest()
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = "spread"
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition, rp.Timestamp = int32(p), -1
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp := direct(t, cl, n, req).(*kmsg.ListOffsetsResponse)
			if code := resp.Topics[0].Partitions[0].ErrorCode; code != kerr.NotLeaderForPartition.Code {
				t.Fatalf("node %d, partition %d led by %d: error %d", n.ID, p, l, code)
			}
			break
		}
	}

	t.Log("SIGKILL of the active controller: another takes over and CreateTopics works through a survivor")
	q, err := nodes[0].Quorum()
	if err != nil {
		t.Fatal(err)
	}
	victim := c.Node(q.ActiveController)
	victim.Kill()
	start := time.Now()
	survivor := survivorOf(nodes, victim)
	waitFor(t, 10*time.Second, "a new active controller", func() bool {
		q, err := survivor.Quorum()
		return err == nil && q.ActiveController > 0 && q.ActiveController != victim.ID
	})
	t.Logf("node %d killed; new active controller after %v", victim.ID, time.Since(start).Round(time.Millisecond))
	scl := client(t, survivor)
	createTopic(t, scl, survivor, "after-kill", 3)
	t.Logf("CreateTopics through node %d succeeded %v after the kill", survivor.ID, time.Since(start).Round(time.Millisecond))

	t.Log("the killed node restarts, rejoins and sees what changed while it was down")
	c.Restart(t, victim.ID)
	vcl := client(t, victim)
	md := direct(t, vcl, victim, kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse)
	found := false
	for _, tp := range md.Topics {
		found = found || (tp.Topic != nil && *tp.Topic == "after-kill")
	}
	if !found || len(md.Brokers) != 3 {
		t.Fatalf("restarted node %d: topic seen %v, %d brokers", victim.ID, found, len(md.Brokers))
	}
	produceAll(t, client(t, victim, kgo.RecordPartitioner(kgo.ManualPartitioner())), "spread", 12)
}

func checkBrokers(t *testing.T, n *clustertest.Node, count int, at func(int) (int32, *string), zoneOf map[int32]string) {
	t.Helper()
	if count != 3 {
		t.Fatalf("node %d lists %d brokers, want 3", n.ID, count)
	}
	for i := range count {
		id, rack := at(i)
		if rack == nil || *rack != zoneOf[id] {
			t.Fatalf("node %d: broker %d has rack %v, want %s", n.ID, id, rack, zoneOf[id])
		}
	}
}

func createTopic(t *testing.T, cl *kgo.Client, through *clustertest.Node, name string, partitions int32) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, 1
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	resp := direct(t, cl, through, req).(*kmsg.CreateTopicsResponse)
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatalf("create %s through node %d: %v %v", name, through.ID, err, resp.Topics[0].ErrorMessage)
	}
}

// leadersOf returns the leader of each partition once every one has one.
func leadersOf(t *testing.T, cl *kgo.Client, topic string, partitions int) []int32 {
	t.Helper()
	var leaders []int32
	waitFor(t, 10*time.Second, "leaders of "+topic, func() bool {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(context.Background(), cl)
		if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != partitions {
			return false
		}
		parts := resp.Topics[0].Partitions
		sort.Slice(parts, func(i, j int) bool { return parts[i].Partition < parts[j].Partition })
		leaders = leaders[:0]
		for _, p := range parts {
			leaders = append(leaders, p.Leader)
		}
		return true
	})
	return leaders
}

func produceAll(t *testing.T, cl *kgo.Client, topic string, partitions int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for p := range partitions {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(p), Value: fmt.Appendf(nil, "p%d", p)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

func consumeAll(t *testing.T, cl *kgo.Client, topic string, partitions int) {
	t.Helper()
	offsets := map[int32]kgo.Offset{}
	for p := range partitions {
		offsets[int32(p)] = kgo.NewOffset().AtStart()
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets})
	seen := map[int32]bool{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for len(seen) < partitions {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed from %d of %d partitions", len(seen), partitions)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Logf("fetch partition %d: %v", p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) != fmt.Sprintf("p%d", r.Partition) {
				t.Fatalf("partition %d holds %q", r.Partition, r.Value)
			}
			seen[r.Partition] = true
		})
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

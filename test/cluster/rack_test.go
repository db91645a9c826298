package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/strata-db/strata/test/clustertest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFetchFromFollower is KIP-392 on a three-zone cluster: a consumer
// that sets client.rack reads every partition from the replica in its own
// zone, the leaders of the other zones only point it there, and the
// per-node fetch metrics show where the bytes came from. It reads
// read_committed through the follower (the follower's last stable offset
// hides an aborted transaction and waits for open ones) and keeps up with
// records produced while it tails (a follower's HW advance wakes its long
// polls).
func TestFetchFromFollower(t *testing.T) {
	nodes := startCluster(t).Nodes
	cl := client(t, nodes[0])
	const topic, partitions = "racked", 3
	createReplicated(t, cl, nodes[0], topic, partitions)
	waitISR(t, cl, topic, partitions, 3)
	leaders := leadersOf(t, cl, topic, partitions)
	local := nodes[1] // zone b
	t.Logf("leaders %v; the consumer is in zone %s with node %d", leaders, local.Zone, local.ID)

	// Committed and aborted transactions to every partition.
	txn := client(t, nodes[0], kgo.TransactionalID("racked-txn"), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var want []string
	for round, commit := range []bool{true, false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range 300 {
			v := fmt.Sprintf("r%d-%d", round, i)
			r := &kgo.Record{Partition: int32(i % partitions), Value: []byte(v)}
			if err := txn.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
			if commit {
				want = append(want, v)
			}
		}
		if err := txn.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
		cancel()
	}

	before := fetchMetrics(t, nodes)
	consumer := client(t, local, kgo.Rack(local.Zone), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]bool{}
	last := map[int32]int{} // per partition, the index of the last value read
	read := func(n int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for len(got) < n {
			fs := consumer.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("read %d of %d records", len(got), n)
			}
			fs.EachError(func(_ string, p int32, err error) { t.Logf("fetch partition %d: %v", p, err) })
			fs.EachRecord(func(r *kgo.Record) {
				v := string(r.Value)
				if got[v] {
					t.Fatalf("read %s twice", v)
				}
				var round, i int
				fmt.Sscanf(v, "r%d-%d", &round, &i)
				if round == 1 {
					t.Fatalf("read %s of the aborted transaction", v)
				}
				if seq := round*1000 + i; seq < last[r.Partition] {
					t.Fatalf("partition %d: %s after a later record", r.Partition, v)
				} else {
					last[r.Partition] = seq
				}
				got[v] = true
			})
		}
	}
	read(len(want))

	// Tail: records produced now reach the consumer through the follower.
	plain := client(t, nodes[0], kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 300 {
		r := &kgo.Record{Partition: int32(i % partitions), Value: fmt.Appendf(nil, "r3-%d", i)}
		if err := plain.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	read(len(want) + 300)

	after := fetchMetrics(t, nodes)
	for i, n := range nodes {
		d := after[i].sub(before[i])
		t.Logf("node %d (zone %s): consumer bytes from its leader replicas %.0f, from its follower replicas %.0f; preferred-replica answers %.0f",
			n.ID, n.Zone, d.leader, d.follower, d.redirects)
		if n == local {
			if d.follower == 0 || d.leader == 0 {
				t.Errorf("node %d in the consumer's zone served %.0f bytes as a follower and %.0f as leader; want both > 0", n.ID, d.follower, d.leader)
			}
			continue
		}
		if d.leader+d.follower != 0 {
			t.Errorf("node %d outside the consumer's zone served %.0f bytes to it", n.ID, d.leader+d.follower)
		}
		if leads := countOf(leaders, n.ID); leads > 0 && d.redirects == 0 {
			t.Errorf("node %d leads %d partitions but never pointed the consumer to its zone", n.ID, leads)
		}
	}
}

func countOf(ids []int32, id int32) int {
	n := 0
	for _, x := range ids {
		if x == id {
			n++
		}
	}
	return n
}

// consumerFetches are one node's fetch counters.
type consumerFetches struct{ leader, follower, redirects float64 }

func (a consumerFetches) sub(b consumerFetches) consumerFetches {
	return consumerFetches{a.leader - b.leader, a.follower - b.follower, a.redirects - b.redirects}
}

func fetchMetrics(t *testing.T, nodes []*clustertest.Node) []consumerFetches {
	t.Helper()
	out := make([]consumerFetches, len(nodes))
	for i, n := range nodes {
		m := brokertest.Metrics(t, n.HTTPAddr)
		out[i] = consumerFetches{
			leader:    m[`strata_fetch_consumer_bytes_total{replica="leader"}`],
			follower:  m[`strata_fetch_consumer_bytes_total{replica="follower"}`],
			redirects: m["strata_fetch_preferred_replica_total"],
		}
	}
	return out
}

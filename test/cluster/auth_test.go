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

// TestSASLCluster: with --auth sasl the brokers replicate over their
// internal listeners: a tenant's topic of replication factor 3 takes
// acks=all writes over SCRAM, survives its leader's SIGKILL with every
// acknowledged record readable, and a transaction (markers and KIP-890
// checks between nodes) commits.
func TestSASLCluster(t *testing.T) {
	c := newCluster(t)
	for _, n := range c.Nodes {
		c.AddArgs(n.ID, "--auth", "sasl", "--internal-listen", clustertest.FreeAddr(t))
	}
	c.Start(t)
	nodes := c.Nodes
	tenant := brokertest.CreateTenantAt(t, nodes[0].HTTPAddr, "sasl-cluster")
	cred := brokertest.CreateKeyAt(t, nodes[0].HTTPAddr, tenant, "")
	sasl := kgo.SASL(brokertest.Mechanism("SCRAM-SHA-512", cred))
	cl := client(t, nodes[0], sasl)
	const topic, partitions = "replicated", 3
	createReplicated(t, cl, nodes[0], topic, partitions)
	waitISR(t, cl, topic, partitions, 3)

	seeds := seedsOf(nodes)
	prod := client(t, nodes[0], sasl, kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			r := &kgo.Record{Partition: int32(i % partitions), Value: fmt.Appendf(nil, "%d", i)}
			if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
		}
	}
	produce(0, 300)
	victim := leaderOf(t, cl, topic, 0)
	c.Kill(t, victim)
	produce(300, 600)
	c.Restart(t, victim)
	waitISR(t, cl, topic, partitions, 3)

	txn := client(t, nodes[1], sasl, kgo.SeedBrokers(seeds...), kgo.TransactionalID("sasl-txn"),
		kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := 600; i < 630; i++ {
		if err := txn.ProduceSync(ctx, &kgo.Record{Partition: int32(i % partitions), Value: fmt.Appendf(nil, "%d", i)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit: %v", err)
	}

	cons := client(t, nodes[2], sasl, kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	seen := map[string]bool{}
	for len(seen) < 630 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of 630 records", len(seen))
		}
		fs.EachRecord(func(r *kgo.Record) {
			if seen[string(r.Value)] {
				t.Fatalf("record %s read twice", r.Value)
			}
			seen[string(r.Value)] = true
		})
	}
}

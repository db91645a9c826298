package cluster

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/strata-db/strata/test/clustertest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClusterTransactions is phase C's first promise: transactions whose
// partitions are led by other nodes than their coordinator. Markers go
// to each partition's leader over WriteTxnMarkers, produce verification
// asks the remote coordinator (AddPartitionsToTxn v5, verify-only), a
// consume-transform-produce session commits offsets through a group
// coordinator on another node than its transaction coordinator, and a
// transaction whose coordinator is SIGKILLed mid-way completes or aborts
// as a whole after failover.
func TestClusterTransactions(t *testing.T) {
	nodes := startCluster(t).Nodes
	cl := client(t, nodes[0])
	const topic, partitions = "txn", 3
	createReplicated(t, cl, nodes[0], topic, partitions)
	waitISR(t, cl, topic, partitions, 3)
	if leaders := leadersOf(t, cl, topic, partitions); len(uniq(leaders)) != 3 {
		t.Fatalf("partitions of %s led by %v, want three nodes", topic, leaders)
	}
	var committed []string // values read_committed must show, in no order

	t.Log("commit and abort across nodes")
	txnCoord := coordinatorOf(t, cl, 1, "tx-a")
	t.Logf("the coordinator of tx-a is node %d; the partitions are led by nodes 1, 2 and 3", txnCoord)
	pr := txnProducer(t, nodes, "tx-a")
	committed = append(committed, runTxn(t, pr, topic, partitions, "a1", kgo.TryCommit)...)
	runTxn(t, pr, topic, partitions, "a2", kgo.TryAbort)
	committed = append(committed, runTxn(t, pr, topic, partitions, "a3", kgo.TryCommit)...)
	checkCommitted(t, nodes[1], topic, committed, nil, "a3-")

	t.Log("consume-transform-produce with the group and transaction coordinators on different nodes")
	committed = append(committed, transformAcrossCoordinators(t, nodes, cl, topic)...)

	t.Log("SIGKILL of the transaction coordinator mid-transaction")
	victimID := coordinatorOf(t, cl, 1, "tx-c")
	victim := nodes[victimID-1]
	pc := txnProducer(t, nodes, "tx-c")
	if err := pc.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	var open []string
	for p := int32(0); p < partitions; p++ {
		open = append(open, fmt.Sprintf("c1-%d", p))
	}
	produceTxn(t, pc, topic, open)
	victim.Kill()
	killedAt := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := pc.EndTransaction(ctx, kgo.TryCommit)
	t.Logf("node %d (tx-c's coordinator) SIGKILLed mid-transaction; EndTxn(commit) answered after %v: %v",
		victimID, time.Since(killedAt).Round(time.Millisecond), err)
	if err != nil {
		// The outcome is unknown to the client: kgo aborts by re-initing
		// its producer id (KIP-360), which may leave it fenced even when
		// the abort reports no error; a new producer of the same id fences
		// and aborts whatever is still open.
		aerr := pc.EndTransaction(ctx, kgo.TryAbort)
		t.Logf("abort after the failed commit: %v; starting a new producer for tx-c", aerr)
		pc = txnProducer(t, nodes, "tx-c")
	}
	// Whatever happened, the next transaction of the same id commits, and
	// read_committed shows either all of c1 or none of it.
	committed = append(committed, runTxn(t, pc, topic, partitions, "c2", kgo.TryCommit)...)
	outcome := checkCommitted(t, survivorOf(nodes, victim), topic, committed, open, "c2-")
	if err == nil && !outcome {
		t.Fatalf("EndTxn(commit) succeeded but read_committed does not show the transaction")
	}
	t.Logf("after failover the transaction %s; the next one committed %v after the kill",
		map[bool]string{true: "committed", false: "aborted"}[outcome], time.Since(killedAt).Round(time.Millisecond))
}

// transformAcrossCoordinators copies records of a source topic to topic
// with a GroupTransactSession whose group coordinator and transaction
// coordinator are different nodes, and returns what it copied.
func transformAcrossCoordinators(t *testing.T, nodes []*clustertest.Node, cl *kgo.Client, topic string) []string {
	const source, records = "txn-src", 60
	createReplicated(t, cl, nodes[0], source, 3)
	src := client(t, nodes[0])
	var want []string
	var recs []*kgo.Record
	for i := range records {
		v := fmt.Sprintf("s-%d", i)
		want = append(want, v)
		recs = append(recs, &kgo.Record{Topic: source, Value: []byte(v)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := src.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	const txnID = "tx-b"
	tc := coordinatorOf(t, cl, 1, txnID)
	group := ""
	for i := 0; group == ""; i++ {
		if g := fmt.Sprintf("g-%d", i); coordinatorOf(t, cl, 0, g) != tc {
			group = g
		}
	}
	t.Logf("group %s's coordinator is node %d, %s's is node %d", group, coordinatorOf(t, cl, 0, group), txnID, tc)
	sess, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(seedsOf(nodes)...), kgo.TransactionalID(txnID),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(source), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(), kgo.RetryTimeout(30*time.Second), kgo.TransactionTimeout(20*time.Second),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	copied := 0
	for copied < records {
		fs := sess.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("copied %d of %d records", copied, records)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Logf("fetch %d: %v", p, err) })
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			n++
			sess.Produce(ctx, &kgo.Record{Topic: topic, Key: r.Value, Value: r.Value}, nil)
		})
		ok, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			t.Fatalf("end: %v", err)
		}
		if ok {
			copied += n
		}
	}
	// The group's committed offsets cover the whole source.
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("offset fetch: %v %v", err, kerr.ErrorForCode(resp.ErrorCode))
	}
	total := int64(0)
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			total += rp.Offset
		}
	}
	if total != records {
		t.Fatalf("group %s committed offsets summing to %d, want %d", group, total, records)
	}
	return want
}

// coordinatorOf is the node FindCoordinator names for a group (kind 0)
// or a transactional id (kind 1).
func coordinatorOf(t *testing.T, cl *kgo.Client, kind int8, key string) int32 {
	t.Helper()
	var node int32 = -1
	waitFor(t, 15*time.Second, "the coordinator of "+key, func() bool {
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorType, req.CoordinatorKey = kind, key
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			return false
		}
		node = resp.NodeID
		return true
	})
	return node
}

func txnProducer(t *testing.T, nodes []*clustertest.Node, id string) *kgo.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(seedsOf(nodes)...), kgo.TransactionalID(id),
		kgo.RetryTimeout(45*time.Second), kgo.TransactionTimeout(30*time.Second), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// runTxn writes one record per partition in a transaction and ends it;
// it returns the values written.
func runTxn(t *testing.T, cl *kgo.Client, topic string, partitions int32, name string, end kgo.TransactionEndTry) []string {
	t.Helper()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	var vals []string
	for p := range partitions {
		vals = append(vals, fmt.Sprintf("%s-%d", name, p))
	}
	produceTxn(t, cl, topic, vals)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.EndTransaction(ctx, end); err != nil {
		t.Fatalf("end transaction %s: %v", name, err)
	}
	return vals
}

// produceTxn writes vals, "<name>-<partition>", each to its partition.
func produceTxn(t *testing.T, cl *kgo.Client, topic string, vals []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for _, v := range vals {
		var p int32
		fmt.Sscanf(v[strings.LastIndexByte(v, '-')+1:], "%d", &p)
		recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(v)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce %v: %v", vals, err)
	}
}

// checkCommitted reads topic under read_committed through n until every
// partition shows the record "<last><partition>", and checks that what
// it read is exactly want, plus either all of maybe or none of it; it
// reports which.
func checkCommitted(t *testing.T, n *clustertest.Node, topic string, want, maybe []string, last string) bool {
	t.Helper()
	cl := client(t, n, kgo.ConsumeTopics(topic), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	ends := 0
	for ends < 3 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read_committed through node %d: got %d records, %d of 3 partitions complete", n.ID, len(got), ends)
		}
		fs.EachRecord(func(r *kgo.Record) {
			got = append(got, string(r.Value))
			if strings.HasPrefix(string(r.Value), last) {
				ends++
			}
		})
	}
	sort.Strings(got)
	with := len(maybe) > 0 && slices.Contains(got, maybe[0])
	want = slices.Clone(want)
	if with {
		want = append(want, maybe...)
	}
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Fatalf("read_committed through node %d shows\n%v\nwant\n%v", n.ID, got, want)
	}
	t.Logf("read_committed through node %d: exactly the %d committed records", n.ID, len(got))
	return with
}

func uniq(ids []int32) []int32 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

package integration

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker"
	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/strata-db/strata/internal/record/recordtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// readValues consumes topic from the start with the given isolation until
// it has want records, then keeps polling briefly to catch any extra, and
// returns the values in consumption order.
func readValues(t *testing.T, addr, topic string, isolation kgo.IsolationLevel, want int) []string {
	t.Helper()
	cl := brokertest.Client(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(isolation), kgo.FetchMaxWait(100*time.Millisecond))
	ctx := brokertest.Context(t, time.Minute)
	var out []string
	extra := time.Time{}
	for {
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			t.Fatalf("%s: consumed %d of %d records", topic, len(out), want)
		}
		fs.EachError(func(_ string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("fetch %s/%d: %v", topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
		if len(out) >= want {
			if extra.IsZero() {
				extra = time.Now().Add(500 * time.Millisecond)
			} else if time.Now().After(extra) {
				return out
			}
		}
	}
}

func sameSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	g, w := slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(g, w) {
		t.Fatalf("%s: got %d values %v, want %d %v", what, len(g), g, len(w), w)
	}
}

func values(prefix string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, prefix+strconv.Itoa(i))
	}
	return out
}

// TestTxnCommitAndAbort: a transactional producer commits, aborts and
// commits again; read_committed readers see only the committed records,
// read_uncommitted readers all of them.
func TestTxnCommitAndAbort(t *testing.T) {
	const topic = "txn-commit-abort"
	b := brokertest.Start(t)
	adm := brokertest.Admin(t, b.KafkaAddr())
	brokertest.CreateTopic(t, adm, topic, 2, nil)
	cl := brokertest.Client(t, b.KafkaAddr(), kgo.TransactionalID("tx-ca"), kgo.DefaultProduceTopic(topic))
	ctx := brokertest.Context(t, time.Minute)
	txn := func(vals []string, commit kgo.TransactionEndTry) {
		t.Helper()
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(v), Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", v, err)
			}
		}
		if err := cl.EndTransaction(ctx, commit); err != nil {
			t.Fatalf("end transaction: %v", err)
		}
	}
	txn(values("c-", 0, 10), kgo.TryCommit)
	txn(values("a-", 0, 5), kgo.TryAbort)
	txn(values("c-", 10, 13), kgo.TryCommit)

	sameSet(t, "read_committed", readValues(t, b.KafkaAddr(), topic, kgo.ReadCommitted(), 13), values("c-", 0, 13))
	sameSet(t, "read_uncommitted", readValues(t, b.KafkaAddr(), topic, kgo.ReadUncommitted(), 18), append(values("c-", 0, 13), values("a-", 0, 5)...))

	ds, err := adm.DescribeTransactions(ctx, "tx-ca")
	if err != nil {
		t.Fatal(err)
	}
	d := ds["tx-ca"]
	if d.Err != nil || d.State != "CompleteCommit" || d.ProducerID < 0 || d.Coordinator < 1 || int(d.Coordinator) > brokertest.ClusterSize() || len(d.Topics) != 0 {
		t.Fatalf("describe: %+v", d)
	}
	ls, err := adm.ListTransactions(ctx, nil, []string{"CompleteCommit"})
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := ls["tx-ca"]; !ok || l.ProducerID != d.ProducerID || l.State != "CompleteCommit" {
		t.Fatalf("list: %+v", ls)
	}
}

// TestTxnZombieFencing: a second producer with the same transactional id
// fences the first, whose next write, or its commit, fails with the
// fencing error; nothing of its transaction is visible to read_committed
// readers.
func TestTxnZombieFencing(t *testing.T) {
	const topic = "txn-zombie"
	b := brokertest.Start(t)
	adm := brokertest.Admin(t, b.KafkaAddr())
	brokertest.CreateTopic(t, adm, topic, 1, nil)
	ctx := brokertest.Context(t, time.Minute)
	fenced := func(err error) bool {
		return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch)
	}
	// zombie starts a transaction, then a fresh producer of its id commits
	// one of its own.
	fence := func(id string) *kgo.Client {
		zombie := brokertest.Client(t, b.KafkaAddr(), kgo.TransactionalID(id), kgo.DefaultProduceTopic(topic))
		if err := zombie.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := zombie.ProduceSync(ctx, kgo.StringRecord(id+"-zombie")).FirstErr(); err != nil {
			t.Fatal(err)
		}
		fresh := brokertest.Client(t, b.KafkaAddr(), kgo.TransactionalID(id), kgo.DefaultProduceTopic(topic))
		if err := fresh.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := fresh.ProduceSync(ctx, kgo.StringRecord(id+"-fresh")).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := fresh.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
		return zombie
	}
	writer := fence("tx-write")
	if err := writer.ProduceSync(ctx, kgo.StringRecord("tx-write-zombie-2")).FirstErr(); !fenced(err) {
		t.Fatalf("zombie's write after the fence: %v", err)
	}
	if err := writer.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Fatal("zombie committed after a failed write")
	}
	committer := fence("tx-commit")
	if err := committer.EndTransaction(ctx, kgo.TryCommit); !fenced(err) {
		t.Fatalf("zombie's commit after the fence: %v", err)
	}
	sameSet(t, "read_committed", readValues(t, b.KafkaAddr(), topic, kgo.ReadCommitted(), 2), []string{"tx-write-fresh", "tx-commit-fresh"})
}

// TestTxnTimeoutAbort: a transaction that outlives its timeout is aborted
// by the coordinator; the producer's commit then fails with the fencing
// error and nothing of it is visible to read_committed readers.
func TestTxnTimeoutAbort(t *testing.T) {
	const topic = "txn-timeout"
	b := brokertest.Start(t, func(c *broker.Config) {
		c.Static["transaction.abort.timed.out.transaction.cleanup.interval.ms"] = "50"
	})
	adm := brokertest.Admin(t, b.KafkaAddr())
	brokertest.CreateTopic(t, adm, topic, 1, nil)
	ctx := brokertest.Context(t, time.Minute)
	cl := brokertest.Client(t, b.KafkaAddr(), kgo.TransactionalID("tx-slow"), kgo.DefaultProduceTopic(topic),
		kgo.TransactionTimeout(300*time.Millisecond))
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("late")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	before, _ := adm.DescribeTransactions(ctx, "tx-slow")
	deadline := time.Now().Add(10 * time.Second)
	for {
		ds, err := adm.DescribeTransactions(ctx, "tx-slow")
		if err == nil && ds["tx-slow"].State == "CompleteAbort" {
			if ds["tx-slow"].ProducerEpoch != before["tx-slow"].ProducerEpoch+1 {
				t.Fatalf("timeout abort: epoch %d, was %d", ds["tx-slow"].ProducerEpoch, before["tx-slow"].ProducerEpoch)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("transaction not aborted: %+v %v", ds, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	err := cl.EndTransaction(ctx, kgo.TryCommit)
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("commit after the timeout: %v", err)
	}
	// Another record settles the partition's last stable offset past the
	// aborted one.
	other := brokertest.Client(t, b.KafkaAddr(), kgo.DefaultProduceTopic(topic))
	if err := other.ProduceSync(ctx, kgo.StringRecord("after")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	sameSet(t, "read_committed", readValues(t, b.KafkaAddr(), topic, kgo.ReadCommitted(), 1), []string{"after"})
}

// TestGroupTransactSession: franz-go's consume-transform-produce loop
// copies a topic exactly once, and its offsets commit with the
// transactions.
func TestGroupTransactSession(t *testing.T) {
	const in, out, group = "etl-in", "etl-out", "etl"
	n := 5000
	if testing.Short() {
		n = 1000
	}
	b := brokertest.Start(t)
	adm := brokertest.Admin(t, b.KafkaAddr())
	brokertest.CreateTopic(t, adm, in, 3, nil)
	brokertest.CreateTopic(t, adm, out, 3, nil)
	ctx := brokertest.Context(t, 2*time.Minute)
	prod := brokertest.Client(t, b.KafkaAddr(), kgo.DefaultProduceTopic(in))
	for i := range n {
		prod.Produce(ctx, kgo.StringRecord(strconv.Itoa(i)), nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	sess, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(b.KafkaAddr()), kgo.TransactionalID("etl-tx"),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(in), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.DefaultProduceTopic(out))
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	copied := 0
	for copied < n {
		fs := sess.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("copied %d of %d", copied, n)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		if err := sess.Begin(); err != nil {
			t.Fatal(err)
		}
		batch := 0
		fs.EachRecord(func(r *kgo.Record) {
			batch++
			sess.Produce(ctx, &kgo.Record{Value: r.Value}, nil)
		})
		committed, err := sess.End(ctx, kgo.TryCommit)
		if err != nil {
			t.Fatalf("end: %v", err)
		}
		if committed {
			copied += batch
		}
	}
	sameSet(t, "output", readValues(t, b.KafkaAddr(), out, kgo.ReadCommitted(), n), values("", 0, n))
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
	if sum != int64(n) {
		t.Fatalf("committed offsets sum to %d, want %d", sum, n)
	}
}

// TestTxnProtocolErrors drives the transaction APIs with hand-built
// requests and checks Kafka's errors.
func TestTxnProtocolErrors(t *testing.T) {
	const topic = "txn-raw"
	raw := newRaw(t)
	raw.createTopic(topic, 2, nil) // produced to through raw, node 1

	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorType, fc.CoordinatorKeys = 1, []string{"raw-tx"}
	if c := raw.request(fc).(*kmsg.FindCoordinatorResponse).Coordinators[0]; c.ErrorCode != 0 || c.NodeID < 1 || int(c.NodeID) > brokertest.ClusterSize() {
		t.Fatalf("find coordinator: %+v", c)
	}
	// The transaction's requests go to its coordinator, the offsets to
	// the group's.
	r, gc := raw.coordinator(1, "raw-tx"), raw.coordinator(0, "raw-group")

	init := func(v int16, timeoutMs int32) *kmsg.InitProducerIDResponse {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID = kmsg.StringPtr("raw-tx")
		req.TransactionTimeoutMillis = timeoutMs
		return r.requestAt(req, v).(*kmsg.InitProducerIDResponse)
	}
	if resp := init(4, 900_001); resp.ErrorCode != kerr.InvalidTransactionTimeout.Code {
		t.Fatalf("timeout above transaction.max.timeout.ms: %+v", resp)
	}
	ip := init(4, 60_000)
	if ip.ErrorCode != 0 {
		t.Fatalf("init: %+v", ip)
	}
	pid, epoch := ip.ProducerID, ip.ProducerEpoch

	// A transactional write to a partition never added.
	produceTxn := func(v int16, partition int32, seq int32) int16 {
		req := kmsg.NewPtrProduceRequest()
		req.TransactionID = kmsg.StringPtr("raw-tx")
		req.Acks, req.TimeoutMillis = -1, 5000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition, rp.Records = partition, recordtest.BuildWith(recordtest.BatchOptions{
			Producer: &recordtest.Producer{ID: pid, Epoch: epoch, BaseSequence: seq}, Transactional: true,
		}, recordtest.Rec{Value: []byte("raw"), TimestampMs: time.Now().UnixMilli()})
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return raw.requestAt(req, v).(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode
	}
	if code := produceTxn(9, 0, 0); code != kerr.InvalidTxnState.Code {
		t.Fatalf("produce v9 to a partition not added: error %d", code)
	}
	if code := produceTxn(11, 0, 0); code != kerr.TransactionAbortable.Code {
		t.Fatalf("produce v11 to a partition not added: error %d", code)
	}

	add := func(v int16, topics map[string][]int32, pid int64, epoch int16) map[string]map[int32]int16 {
		req := kmsg.NewPtrAddPartitionsToTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = "raw-tx", pid, epoch
		for name, ps := range topics {
			rt := kmsg.NewAddPartitionsToTxnRequestTopic()
			rt.Topic, rt.Partitions = name, ps
			req.Topics = append(req.Topics, rt)
		}
		out := map[string]map[int32]int16{}
		for _, rt := range r.requestAt(req, v).(*kmsg.AddPartitionsToTxnResponse).Topics {
			out[rt.Topic] = map[int32]int16{}
			for _, rp := range rt.Partitions {
				out[rt.Topic][rp.Partition] = rp.ErrorCode
			}
		}
		return out
	}
	got := add(3, map[string][]int32{topic: {0}, "nope": {0}}, pid, epoch)
	if got[topic][0] != kerr.OperationNotAttempted.Code || got["nope"][0] != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("add with an unknown topic: %v", got)
	}
	if got := add(1, map[string][]int32{topic: {0}}, pid, epoch+1); got[topic][0] != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("add v1 with another epoch: %v", got)
	}
	if got := add(3, map[string][]int32{topic: {0}}, pid, epoch+1); got[topic][0] != kerr.ProducerFenced.Code {
		t.Fatalf("add v3 with another epoch: %v", got)
	}
	if got := add(3, map[string][]int32{topic: {0}}, pid+1, epoch); got[topic][0] != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("add with another producer id: %v", got)
	}
	if got := add(3, map[string][]int32{topic: {0}}, pid, epoch); got[topic][0] != 0 {
		t.Fatalf("add: %v", got)
	}
	if code := produceTxn(11, 0, 0); code != 0 {
		t.Fatalf("produce to an added partition: error %d", code)
	}

	// The broker form: verify only.
	verify := kmsg.NewPtrAddPartitionsToTxnRequest()
	tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
	tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = "raw-tx", pid, epoch, true
	vt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
	vt.Topic, vt.Partitions = topic, []int32{0, 1}
	tx.Topics = append(tx.Topics, vt)
	verify.Transactions = append(verify.Transactions, tx)
	vr := r.requestAt(verify, 5).(*kmsg.AddPartitionsToTxnResponse).Transactions[0].Topics[0].Partitions
	if vr[0].ErrorCode != 0 || vr[1].ErrorCode != kerr.TransactionAbortable.Code {
		t.Fatalf("verify only: %+v", vr)
	}

	// TxnOffsetCommit before AddOffsetsToTxn.
	toc := func(v int16) int16 {
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = "raw-tx", "raw-group", pid, epoch
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 0, 1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return gc.requestAt(req, v).(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
	}
	if code := toc(3); code != kerr.InvalidTxnState.Code {
		t.Fatalf("txn offset commit v3 before AddOffsetsToTxn: %d", code)
	}
	if code := toc(4); code != kerr.TransactionAbortable.Code {
		t.Fatalf("txn offset commit v4 before AddOffsetsToTxn: %d", code)
	}
	aot := kmsg.NewPtrAddOffsetsToTxnRequest()
	aot.TransactionalID, aot.ProducerID, aot.ProducerEpoch, aot.Group = "raw-tx", pid, epoch, "raw-group"
	if code := r.requestAt(aot, 3).(*kmsg.AddOffsetsToTxnResponse).ErrorCode; code != 0 {
		t.Fatalf("add offsets: %d", code)
	}
	if code := toc(3); code != 0 {
		t.Fatalf("txn offset commit: %d", code)
	}

	end := func(v int16, pid int64, epoch int16, commit bool) int16 {
		req := kmsg.NewPtrEndTxnRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = "raw-tx", pid, epoch, commit
		return r.requestAt(req, v).(*kmsg.EndTxnResponse).ErrorCode
	}
	if code := end(3, pid+1, epoch, true); code != kerr.InvalidProducerIDMapping.Code {
		t.Fatalf("end with another producer id: %d", code)
	}
	if code := end(1, pid, epoch+1, true); code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("end v1 with another epoch: %d", code)
	}
	if code := end(3, pid, epoch, true); code != 0 {
		t.Fatalf("commit: %d", code)
	}
	if code := end(3, pid, epoch, false); code != kerr.InvalidTxnState.Code {
		t.Fatalf("abort after commit: %d", code)
	}

	dt := kmsg.NewPtrDescribeTransactionsRequest()
	dt.TransactionalIDs = []string{"raw-tx", "unknown-tx"}
	unknown := kerr.TransactionalIDNotFound.Code
	if raw.coordinator(1, "unknown-tx") != r {
		unknown = kerr.NotCoordinator.Code
	}
	states := r.request(dt).(*kmsg.DescribeTransactionsResponse).TransactionStates
	if states[0].ErrorCode != 0 || states[0].State != "CompleteCommit" || states[0].ProducerID != pid || states[1].ErrorCode != unknown {
		t.Fatalf("describe: %+v", states)
	}
	dt.TransactionalIDs = []string{"unknown-tx"}
	if states := raw.coordinator(1, "unknown-tx").request(dt).(*kmsg.DescribeTransactionsResponse).TransactionStates; states[0].ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Fatalf("describe an unknown transactional id at its coordinator: %+v", states)
	}
	offs, err := r.adm.FetchOffsets(brokertest.Context(t, 10*time.Second), "raw-group")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := offs.Lookup(topic, 0); o.At != 1 {
		t.Fatalf("committed offset after the transaction: %+v", o)
	}

	lt := kmsg.NewPtrListTransactionsRequest()
	lt.StateFilters = []string{"CompleteCommit", "Nonsense"}
	lr := r.request(lt).(*kmsg.ListTransactionsResponse)
	if lr.ErrorCode != 0 || len(lr.TransactionStates) != 1 || lr.TransactionStates[0].TransactionalID != "raw-tx" ||
		fmt.Sprint(lr.UnknownStateFilters) != "[Nonsense]" {
		t.Fatalf("list: %+v", lr)
	}
}

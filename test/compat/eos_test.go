package compat

// The exactly-once scenarios (producer/idempotent and txn/read-committed of
// SCENARIOS.md), shared by every client. A client fills an eosClient and
// calls runEOSScenarios; the driver here writes what the client cannot,
// and checks what the client wrote and read with kgo and kadm as the
// reference.
//
// producer/idempotent: the client's idempotent producer writes
// eosRecords records to partition 0. kgo reads them back: every record
// once, in order, all in batches of one producer id (so the client really
// wrote idempotently), and DescribeProducers shows that producer with the
// last sequence eosRecords-1.
//
// txn/read-committed: one transactional producer commits a transaction,
// aborts one, commits one, and aborts one more (eosTxnRecords records each,
// to partition 0; kgo writes them if the client has no transactional
// producer, and the cell then checks the client's reads only). The
// client's read_committed consumer reads exactly the two committed
// transactions' records, in order; its read_uncommitted consumer reads all
// four transactions' records, in order (never a control record).

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The exactly-once scenarios.
const (
	scIdempotent    = "producer/idempotent"
	scReadCommitted = "txn/read-committed"
)

// Sizes of the exactly-once scenarios.
const (
	eosRecords    = 1000
	eosTxnRecords = 50
)

// eosClient is what a client offers for the exactly-once scenarios. A nil
// func means the client cannot do that part; missing then says why, by
// scenario.
type eosClient struct {
	name string
	// produceIdempotent writes recs to partition 0 of topic, in order,
	// with the client's idempotent producer, and waits for every ack.
	produceIdempotent func(t *testing.T, addr, topic string, recs []record)
	// produceTxns runs txns in order with one transactional producer of
	// transactional id txnID: each transaction writes its records to
	// partition 0, then commits or aborts. nil: kgo writes them.
	produceTxns func(t *testing.T, addr, topic, txnID string, txns []eosTxn)
	// consumeP0 reads partition 0 of topic from offset 0, with
	// read_committed or read_uncommitted, until it has n records, and
	// returns them in the order read. It must not stop early at a gap of
	// offsets (aborted records and control records leave gaps).
	consumeP0 func(t *testing.T, addr, topic string, readCommitted bool, n int) []record
	// produceFailover, when set, is produceIdempotent for
	// failover/leader-kill: it outlasts an election, and takes losing the
	// connection to the killed leader for what it is.
	produceFailover func(t *testing.T, addr, topic string, recs []record)
	// produceAcksAll, for a client without an idempotent producer, writes
	// recs to partition 0 of topic with acks=all, one request in flight
	// and retries, and returns an error if a record was not acknowledged
	// (failover/leader-kill, failover_test.go).
	produceAcksAll func(t *testing.T, addr, topic string, recs []record) error
	missing        map[string]string
}

// eosTxn is one transaction of txn/read-committed.
type eosTxn struct {
	recs   []record
	commit bool
}

// runEOSScenarios runs producer/idempotent and txn/read-committed for c
// against the node at addr, and in cluster mode failover/leader-kill.
func runEOSScenarios(t *testing.T, addr string, c eosClient) {
	for _, s := range []struct {
		name string
		can  bool
		run  func(t *testing.T, addr string, c eosClient)
	}{
		{scIdempotent, c.produceIdempotent != nil, runIdempotent},
		{scReadCommitted, c.consumeP0 != nil, runReadCommitted},
	} {
		why, isMissing := c.missing[s.name]
		switch {
		case isMissing:
			unsupported(c.name, s.name, why)
		case !s.can:
			t.Fatalf("%s: %s: the client offers no API for it and no reason why", c.name, s.name)
		default:
			cell(t, c.name, s.name, func(t *testing.T) { s.run(t, addr, c) })
		}
	}
	runFailoverCell(t, addr, c)
}

// eosTopic creates the fresh topic of one scenario of one client.
func eosTopic(t *testing.T, addr, clientName, scenario string) string {
	topic := clientName + "-" + strings.ReplaceAll(scenario, "/", "-")
	createTopic(t, addr, topic)
	return topic
}

// textRecords are n records with keys and values "<prefix>-<i>", in order.
func textRecords(prefix string, n int) []record {
	out := make([]record, n)
	for i := range out {
		k := fmt.Sprintf("%s-%05d", prefix, i)
		out[i] = record{Key: []byte(k), Value: []byte("value of " + k)}
	}
	return out
}

func runIdempotent(t *testing.T, addr string, c eosClient) {
	topic := eosTopic(t, addr, c.name, scIdempotent)
	recs := textRecords("idem", eosRecords)
	c.produceIdempotent(t, addr, topic, recs)

	got, producers := kgoReadP0(t, addr, topic, false, len(recs))
	checkSequence(t, c.name+" wrote, kgo read", recs, got)
	if len(producers) != 1 || producers[0] < 0 {
		t.Fatalf("%s wrote batches of producer ids %v, want one producer id: did it write idempotently?", c.name, producers)
	}
	adm := brokertest.Admin(t, addr)
	described, err := adm.DescribeProducers(brokertest.Context(t, 10*time.Second), kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatalf("describe producers of %s: %v", topic, err)
	}
	var found bool
	described.EachProducer(func(p kadm.DescribedProducer) {
		if p.ProducerID != producers[0] {
			return
		}
		found = true
		if p.LastSequence != eosRecords-1 {
			t.Errorf("producer %d: last sequence %d, want %d", p.ProducerID, p.LastSequence, eosRecords-1)
		}
	})
	if !found {
		t.Errorf("DescribeProducers of %s/0 does not show producer %d", topic, producers[0])
	}
}

func runReadCommitted(t *testing.T, addr string, c eosClient) {
	topic := eosTopic(t, addr, c.name, scReadCommitted)
	txns := []eosTxn{
		{textRecords("commit1", eosTxnRecords), true},
		{textRecords("abort1", eosTxnRecords), false},
		{textRecords("commit2", eosTxnRecords), true},
		{textRecords("abort2", eosTxnRecords), false},
	}
	var committed, all []record
	for _, tx := range txns {
		all = append(all, tx.recs...)
		if tx.commit {
			committed = append(committed, tx.recs...)
		}
	}
	writer := c.name
	produce := c.produceTxns
	if produce == nil {
		writer, produce = "kgo", kgoProduceTxns
	}
	produce(t, addr, topic, c.name+"-txn", txns)

	// kgo first, so that a client's writes are checked even when its reads
	// fail.
	got, _ := kgoReadP0(t, addr, topic, true, len(committed))
	checkSequence(t, writer+" wrote, kgo read_committed", committed, got)
	got, _ = kgoReadP0(t, addr, topic, false, len(all))
	checkSequence(t, writer+" wrote, kgo read_uncommitted", all, got)

	checkSequence(t, writer+" wrote, "+c.name+" read_committed", committed,
		c.consumeP0(t, addr, topic, true, len(committed)))
	checkSequence(t, writer+" wrote, "+c.name+" read_uncommitted", all,
		c.consumeP0(t, addr, topic, false, len(all)))
}

// checkSequence compares records read, in order, with those written.
func checkSequence(t *testing.T, what string, want, got []record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d records, want %d", what, len(got), len(want))
	}
	for i := range want {
		if d := diff(want[i], got[i]); d != "" {
			t.Fatalf("%s: record %d: %s", what, i, d)
		}
	}
}

// kgoProduceTxns writes txns to partition 0 with a kgo transactional
// producer.
func kgoProduceTxns(t *testing.T, addr, topic, txnID string, txns []eosTxn) {
	t.Helper()
	cl := brokertest.Client(t, addr, kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.TransactionalID(txnID))
	defer cl.Close()
	ctx := brokertest.Context(t, 30*time.Second)
	for i, tx := range txns {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatalf("kgo transaction %d: begin: %v", i, err)
		}
		for _, r := range tx.recs {
			cl.Produce(ctx, &kgo.Record{Key: r.Key, Value: r.Value, Partition: 0}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("kgo transaction %d: produce: %v", i, err)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatalf("kgo transaction %d: flush: %v", i, err)
		}
		if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(tx.commit)); err != nil {
			t.Fatalf("kgo transaction %d: end (commit %v): %v", i, tx.commit, err)
		}
	}
}

// kgoReadP0 reads n records of partition 0 from offset 0 with kgo and
// returns them in order, and the producer ids of their batches.
func kgoReadP0(t *testing.T, addr, topic string, readCommitted bool, n int) ([]record, []int64) {
	t.Helper()
	level := kgo.ReadUncommitted()
	if readCommitted {
		level = kgo.ReadCommitted()
	}
	cl := brokertest.Client(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {0: kgo.NewOffset().At(0)},
	}), kgo.FetchIsolationLevel(level), kgo.FetchMaxWait(200*time.Millisecond))
	defer cl.Close()
	ctx := brokertest.Context(t, time.Minute)
	var out []record
	var producers []int64
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("kgo read %d of %d records of %s/0: %v", len(out), n, topic, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("kgo fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(kr *kgo.Record) {
			out = append(out, record{Key: kr.Key, Value: kr.Value})
			if !slices.Contains(producers, kr.ProducerID) {
				producers = append(producers, kr.ProducerID)
			}
		})
	}
	return out, producers
}

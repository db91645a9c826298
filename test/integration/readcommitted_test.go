package integration

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestReadCommittedTransactions: a transactional kgo producer commits one
// transaction, aborts one and leaves one open. read_committed consumers
// see only the committed records, up to the last stable offset (which
// ListOffsets reports), and see the open transaction's records once it
// commits; read_uncommitted consumers see everything.
func TestReadCommittedTransactions(t *testing.T) {
	const topic, partitions, perTxn = "read-committed", 2, 50
	b := brokertest.Start(t)
	adm := brokertest.Admin(t, b.KafkaAddr())
	brokertest.CreateTopic(t, adm, topic, partitions, nil)
	txn := brokertest.Client(t, b.KafkaAddr(), kgo.TransactionalID("rc-producer"), kgo.DefaultProduceTopic(topic),
		kgo.ProducerLinger(time.Millisecond))
	ctx := brokertest.Context(t, time.Minute)

	runTxn(t, ctx, txn, "committed", perTxn, kgo.TryCommit)
	runTxn(t, ctx, txn, "aborted", perTxn, kgo.TryAbort)
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produceTxn(t, ctx, txn, "late", perTxn)

	// The open transaction holds the last stable offset below the end.
	hw := listOffsets(t, ctx, adm, topic, false)
	lso := listOffsets(t, ctx, adm, topic, true)
	for p := range int32(partitions) {
		if lso[p] >= hw[p] {
			t.Fatalf("partition %d: last stable offset %d not below the high watermark %d while a transaction is open", p, lso[p], hw[p])
		}
	}
	got := consumeValues(t, b.KafkaAddr(), topic, kgo.ReadCommitted(), perTxn)
	checkPrefixes(t, "read_committed, open transaction", got, map[string]int{"committed": perTxn})

	if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	if lso, hw := listOffsets(t, ctx, adm, topic, true), listOffsets(t, ctx, adm, topic, false); fmt.Sprint(lso) != fmt.Sprint(hw) {
		t.Fatalf("last stable offsets %v, high watermarks %v after every transaction ended", lso, hw)
	}
	got = consumeValues(t, b.KafkaAddr(), topic, kgo.ReadCommitted(), 2*perTxn)
	checkPrefixes(t, "read_committed", got, map[string]int{"committed": perTxn, "late": perTxn})
	got = consumeValues(t, b.KafkaAddr(), topic, kgo.ReadUncommitted(), 3*perTxn)
	checkPrefixes(t, "read_uncommitted", got, map[string]int{"committed": perTxn, "aborted": perTxn, "late": perTxn})
}

func runTxn(t *testing.T, ctx context.Context, cl *kgo.Client, prefix string, n int, end kgo.TransactionEndTry) {
	t.Helper()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produceTxn(t, ctx, cl, prefix, n)
	if err := cl.EndTransaction(ctx, end); err != nil {
		t.Fatalf("end transaction %s: %v", prefix, err)
	}
}

func produceTxn(t *testing.T, ctx context.Context, cl *kgo.Client, prefix string, n int) {
	t.Helper()
	for i := range n {
		r := &kgo.Record{Key: fmt.Appendf(nil, "%d", i), Value: fmt.Appendf(nil, "%s-%d", prefix, i)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", prefix, err)
		}
	}
}

// listOffsets returns the end offsets of topic: the last stable offsets
// with committed, else the high watermarks.
func listOffsets(t *testing.T, ctx context.Context, adm *kadm.Client, topic string, committed bool) map[int32]int64 {
	t.Helper()
	var lo kadm.ListedOffsets
	var err error
	if committed {
		lo, err = adm.ListCommittedOffsets(ctx, topic)
	} else {
		lo, err = adm.ListEndOffsets(ctx, topic)
	}
	if err == nil {
		err = lo.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	lo.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// consumeValues reads topic from the start at the given isolation level
// until it has want records and nothing more arrives for a while.
func consumeValues(t *testing.T, addr, topic string, level kgo.IsolationLevel, want int) []string {
	t.Helper()
	cl := brokertest.Client(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(level), kgo.FetchMaxWait(100*time.Millisecond))
	defer cl.Close()
	var got []string
	deadline := time.Now().Add(30 * time.Second)
	quiet := time.Time{}
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("fetch %s/%d: %v", topic, p, err)
			}
		})
		n := 0
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)); n++ })
		switch {
		case n > 0 || len(got) < want:
			quiet = time.Time{}
		case quiet.IsZero():
			quiet = time.Now()
		case time.Since(quiet) > time.Second:
			return got
		}
	}
	t.Fatalf("consumed %d records in 30s, want %d", len(got), want)
	return nil
}

// checkPrefixes checks that got holds exactly the values <prefix>-0 ..
// <prefix>-(n-1) for each prefix, once each.
func checkPrefixes(t *testing.T, what string, got []string, want map[string]int) {
	t.Helper()
	seen := map[string]bool{}
	count := map[string]int{}
	for _, v := range got {
		if seen[v] {
			t.Fatalf("%s: %q read twice", what, v)
		}
		seen[v] = true
		prefix, _, _ := strings.Cut(v, "-")
		if _, ok := want[prefix]; !ok {
			t.Fatalf("%s: read %q", what, v)
		}
		count[prefix]++
	}
	for prefix, n := range want {
		if count[prefix] != n {
			t.Fatalf("%s: %d records of %q, want %d (read %d in all)", what, count[prefix], prefix, n, len(got))
		}
	}
}

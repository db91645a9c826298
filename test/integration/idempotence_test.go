package integration

import (
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/strata-db/strata/internal/record/recordtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestIdempotentProducerExactlyOnce: kgo's default producer (idempotent)
// writes records in order, each once,
// at dense offsets; DescribeProducers shows its state per partition.
func TestIdempotentProducerExactlyOnce(t *testing.T) {
	const topic, partitions = "idempotent", 3
	n := 20000
	if testing.Short() {
		n = 3000
	}
	b := brokertest.Start(t)
	adm := brokertest.Admin(t, b.KafkaAddr())
	brokertest.CreateTopic(t, adm, topic, partitions, nil)
	cl := brokertest.Client(t, b.KafkaAddr(), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(time.Millisecond),
		kgo.MaxBufferedRecords(2000))
	ctx := brokertest.Context(t, 2*time.Minute)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	acked := map[int32]map[int64]int{} // partition -> offset -> seq
	for seq := range n {
		wg.Add(1)
		r := &kgo.Record{Key: []byte(strconv.Itoa(seq % 97)), Value: []byte(strconv.Itoa(seq))}
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				firstErr = err
				return
			}
			if acked[r.Partition] == nil {
				acked[r.Partition] = map[int64]int{}
			}
			if prev, dup := acked[r.Partition][r.Offset]; dup {
				t.Errorf("offset %d/%d acknowledged for seq %d and %d", r.Partition, r.Offset, prev, seq)
			}
			acked[r.Partition][r.Offset] = seq
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("produce: %v", firstErr)
	}

	got := consumeAll(t, b.KafkaAddr(), topic, n)
	seen := map[int]bool{}
	perPartition := map[int32][]*kgo.Record{}
	for at, r := range got {
		seq, err := strconv.Atoi(string(r.Value))
		if err != nil || seen[seq] {
			t.Fatalf("record %q at %d/%d: duplicate or foreign", r.Value, at.partition, at.offset)
		}
		seen[seq] = true
		if want := acked[at.partition][at.offset]; want != seq {
			t.Fatalf("%d/%d holds seq %d, acknowledged for %d", at.partition, at.offset, seq, want)
		}
		perPartition[at.partition] = append(perPartition[at.partition], r)
	}
	// Records of one key were produced in order and must stay in order.
	for p, recs := range perPartition {
		slices.SortFunc(recs, func(a, b *kgo.Record) int { return int(a.Offset - b.Offset) })
		lastOfKey := map[string]int{}
		for _, r := range recs {
			seq, _ := strconv.Atoi(string(r.Value))
			if prev, ok := lastOfKey[string(r.Key)]; ok && seq <= prev {
				t.Fatalf("partition %d: key %s has seq %d after %d", p, r.Key, seq, prev)
			}
			lastOfKey[string(r.Key)] = seq
		}
	}
	ends := listEnds(t, b.KafkaAddr(), topic)
	for p, recs := range perPartition {
		if ends[p] != int64(len(recs)) {
			t.Fatalf("partition %d: %d records, end offset %d: offsets not dense", p, len(recs), ends[p])
		}
	}

	ps, err := adm.DescribeProducers(ctx, map[string]map[int32]struct{}{topic: {0: {}, 1: {}, 2: {}}})
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	ps.EachPartition(func(dp kadm.DescribedProducersPartition) {
		if dp.Err != nil {
			t.Fatalf("describe producers %s/%d: %v", dp.Topic, dp.Partition, dp.Err)
		}
		for _, p := range dp.ActiveProducers {
			found++
			if int64(p.LastSequence)+1 != ends[dp.Partition] || p.CurrentTxnStartOffset != -1 || p.ProducerEpoch < 0 {
				t.Fatalf("producer state of partition %d (end %d): %+v", dp.Partition, ends[dp.Partition], p)
			}
		}
	})
	if found != partitions {
		t.Fatalf("%d producers described, want one per partition", found)
	}
}

// consumeAll is in produce_consume_test.go; listEnds returns the end
// offsets of topic.
func listEnds(t *testing.T, addr, topic string) map[int32]int64 {
	t.Helper()
	lo, err := brokertest.Admin(t, addr).ListEndOffsets(brokertest.Context(t, 10*time.Second), topic)
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

// producerBatch is a batch of n records of producer pid at epoch from seq.
func producerBatch(pid int64, epoch int16, seq int32, n int, txn bool) []byte {
	recs := make([]recordtest.Rec, n)
	for i := range recs {
		recs[i] = recordtest.Rec{Value: fmt.Appendf(nil, "%d-%d-%d", pid, epoch, int(seq)+i), TimestampMs: time.Now().UnixMilli()}
	}
	return recordtest.BuildWith(recordtest.BatchOptions{
		Producer: &recordtest.Producer{ID: pid, Epoch: epoch, BaseSequence: seq}, Transactional: txn,
	}, recs...)
}

// TestIdempotentProduceErrors drives the producer checks with hand-built
// batches: a retry gets its original offset and writes nothing; gaps,
// stale epochs and new epochs not at 0 get Kafka's errors.
func TestIdempotentProduceErrors(t *testing.T) {
	r := newRaw(t)
	const topic = "idempotent-raw"
	r.createTopic(topic, 1, nil)
	const pid = 4242
	steps := []struct {
		name     string
		batch    []byte
		wantCode int16
		wantBase int64 // checked when wantCode is 0
	}{
		{"first batch", producerBatch(pid, 0, 0, 5, false), 0, 0},
		{"retry", producerBatch(pid, 0, 0, 5, false), 0, 0},
		{"next", producerBatch(pid, 0, 5, 2, false), 0, 5},
		{"retry of an older batch", producerBatch(pid, 0, 0, 5, false), 0, 0},
		{"gap", producerBatch(pid, 0, 9, 1, false), kerr.OutOfOrderSequenceNumber.Code, 0},
		{"new epoch not at 0", producerBatch(pid, 1, 7, 1, false), kerr.OutOfOrderSequenceNumber.Code, 0},
		{"new epoch", producerBatch(pid, 1, 0, 1, false), 0, 7},
		{"stale epoch", producerBatch(pid, 0, 7, 1, false), kerr.InvalidProducerEpoch.Code, 0},
		{"unknown producer mid-sequence", producerBatch(pid+1, 0, 100, 1, false), 0, 8},
		{"transactional without a transactional id", producerBatch(pid+2, 0, 0, 1, true), kerr.TransactionalIDAuthorizationFailed.Code, 0},
	}
	for _, s := range steps {
		p := r.produce(topic, 0, s.batch)
		if p.ErrorCode != s.wantCode || (s.wantCode == 0 && p.BaseOffset != s.wantBase) {
			t.Fatalf("%s: error %d, base offset %d; want error %d, base offset %d", s.name, p.ErrorCode, p.BaseOffset, s.wantCode, s.wantBase)
		}
	}
	if end := r.endOffset(topic); end != 9 {
		t.Fatalf("end offset %d, want 9: a refused or retried batch was written", end)
	}
	// A new partition takes an unknown producer only from sequence 0
	// (KAFKA-15591).
	r.createTopic("idempotent-fresh", 1, nil)
	if p := r.produce("idempotent-fresh", 0, producerBatch(pid, 0, 3, 1, false)); p.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("mid-sequence first write to a new partition: error %d", p.ErrorCode)
	}

	req := kmsg.NewPtrDescribeProducersRequest()
	rt := kmsg.NewDescribeProducersRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{0, 1}
	req.Topics = append(req.Topics, rt)
	resp := r.request(req).(*kmsg.DescribeProducersResponse)
	parts := resp.Topics[0].Partitions
	if len(parts) != 2 || parts[0].ErrorCode != 0 || parts[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("describe producers: %+v", parts)
	}
	want := map[int64][2]int32{pid: {1, 0}, pid + 1: {0, 100}} // epoch, last sequence
	if len(parts[0].ActiveProducers) != len(want) {
		t.Fatalf("active producers %+v", parts[0].ActiveProducers)
	}
	for _, ap := range parts[0].ActiveProducers {
		if w, ok := want[ap.ProducerID]; !ok || ap.ProducerEpoch != w[0] || ap.LastSequence != w[1] || ap.CurrentTxnStartOffset != -1 {
			t.Fatalf("active producer %+v", ap)
		}
	}
}

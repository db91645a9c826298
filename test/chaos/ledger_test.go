package chaos

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Records of the streaming tests carry a sequence number: the key is
// "k<seq>" and the value is "seq=<seq>;" followed by letters drawn from a
// generator seeded with seq, so any record read back can be checked byte
// for byte without keeping what was sent.

func recordKey(seq uint64) []byte { return fmt.Appendf(nil, "k%d", seq) }

func recordValue(seq uint64) []byte {
	v := fmt.Appendf(nil, "seq=%d;", seq)
	filler := rand.New(rand.NewPCG(seq, 0x5eed)) // hardly compressible, so segments fill up
	for range 16 + int(seq%500) {
		v = append(v, byte('a'+filler.IntN(26)))
	}
	return v
}

// parseSeq returns the sequence number a value claims.
func parseSeq(v []byte) (uint64, bool) {
	rest, ok := bytes.CutPrefix(v, []byte("seq="))
	if !ok {
		return 0, false
	}
	i := bytes.IndexByte(rest, ';')
	if i < 0 {
		return 0, false
	}
	seq, err := strconv.ParseUint(string(rest[:i]), 10, 64)
	return seq, err == nil
}

type pos struct {
	partition int32
	offset    int64
}

// ledger is what the producer was promised: the position of every
// acknowledged record. Safe for concurrent use (promises run on kgo's
// goroutines).
type ledger struct {
	mu       sync.Mutex
	next     uint64 // sequence numbers below it were handed to kgo
	acked    map[pos]uint64
	ackedSeq map[uint64]pos
	failed   int
	firstErr error // of a failed produce
	// conflicts lists offsets acknowledged for two different records: the
	// server handed an offset out twice.
	conflicts []string
}

func newLedger() *ledger {
	return &ledger{acked: map[pos]uint64{}, ackedSeq: map[uint64]pos{}}
}

// produce hands record seq (the next number) to cl; the promise records
// the outcome and then calls done.
func (l *ledger) produce(ctx context.Context, cl *kgo.Client, topic string, done func()) {
	l.mu.Lock()
	seq := l.next
	l.next++
	l.mu.Unlock()
	r := &kgo.Record{Topic: topic, Key: recordKey(seq), Value: recordValue(seq)}
	cl.Produce(ctx, r, func(r *kgo.Record, err error) {
		l.settle(seq, r, err)
		done()
	})
}

func (l *ledger) settle(seq uint64, r *kgo.Record, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.failed++
		if l.firstErr == nil {
			l.firstErr = err
		}
		return
	}
	p := pos{r.Partition, r.Offset}
	if prev, dup := l.acked[p]; dup {
		l.conflicts = append(l.conflicts, fmt.Sprintf("offset %v acknowledged for seq %d and seq %d", p, prev, seq))
		return
	}
	l.acked[p] = seq
	l.ackedSeq[seq] = p
}

// produceSync produces n records and fails the test unless all are
// acknowledged.
func (l *ledger) produceSync(t *testing.T, cl *kgo.Client, topic string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	wg.Add(n)
	before := l.snapshotFailed()
	for range n {
		l.produce(brokertest.Context(t, 30*time.Second), cl, topic, wg.Done)
	}
	wg.Wait()
	if f := l.snapshotFailed(); f != before {
		t.Fatalf("%d of %d records failed: %v", f-before, n, l.firstErr)
	}
}

func (l *ledger) snapshotFailed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failed
}

// verifyReport sums up what verify saw.
type verifyReport struct {
	records   int // consumed
	acked     int // acknowledged records (all found)
	unacked   int // consumed records whose seq was never acknowledged
	dupSeqs   int // sequence numbers seen more than once
	extraCopy int // consumed copies beyond the first of such seqs
}

// verify reads the whole topic back (dense offsets from 0 to the end
// offsets, see consumeRange) and checks it against the ledger: every
// acknowledged record is at its offset with its bytes; every record
// present is one the test produced, byte for byte. Records present but
// never acknowledged, and second copies of a record (kgo retries without
// idempotence), are allowed and counted.
func (l *ledger) verify(t *testing.T, addr, topic string, ends offsets) verifyReport {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	got := consumeRange(t, addr, topic, ends)
	var rep verifyReport
	seen := map[uint64]int{}
	at := map[pos]uint64{}
	for p, recs := range got {
		for _, r := range recs {
			seq, ok := parseSeq(r.Value)
			if !ok || seq >= l.next || !bytes.Equal(r.Value, recordValue(seq)) || !bytes.Equal(r.Key, recordKey(seq)) {
				t.Fatalf("partition %d offset %d holds a record the test never produced: key %q value %q", p, r.Offset, r.Key, r.Value)
			}
			rep.records++
			seen[seq]++
			at[pos{p, r.Offset}] = seq
			if _, ok := l.ackedSeq[seq]; !ok {
				rep.unacked++
			}
		}
	}
	if len(l.conflicts) > 0 {
		t.Fatalf("%d offsets acknowledged twice, e.g. %s", len(l.conflicts), l.conflicts[0])
	}
	for p, seq := range l.acked {
		switch have, ok := at[p]; {
		case !ok:
			t.Fatalf("acknowledged record seq %d at %v is missing (end offset of partition %d: %d)", seq, p, p.partition, ends[p.partition])
		case have != seq:
			t.Fatalf("acknowledged record seq %d at %v was replaced by seq %d", seq, p, have)
		}
		rep.acked++
	}
	for _, n := range seen {
		if n > 1 {
			rep.dupSeqs++
			rep.extraCopy += n - 1
		}
	}
	return rep
}

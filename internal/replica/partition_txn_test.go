package replica

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/config"
	"github.com/strata-db/strata/internal/log"
	"github.com/strata-db/strata/internal/record"
	"github.com/strata-db/strata/internal/record/recordtest"
	"github.com/twmb/franz-go/pkg/kerr"
)

func testPartition(t *testing.T) *Partition {
	t.Helper()
	l, err := log.Open(t.TempDir(), log.DefaultConfig(), log.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	cfg, err := config.EffectiveTopic(config.Layers{})
	if err != nil {
		t.Fatal(err)
	}
	return newPartition(Key{Partition: 0}, l, cfg, 3, time.Now)
}

// batch builds a batch of n records; pid < 0 is a plain producer.
func batch(pid int64, epoch int16, seq int32, n int, txn bool) []byte {
	recs := make([]recordtest.Rec, n)
	for i := range recs {
		recs[i] = recordtest.Rec{Key: fmt.Appendf(nil, "k%d", i), Value: []byte("v"), TimestampMs: time.Now().UnixMilli()}
	}
	opts := recordtest.BatchOptions{Transactional: txn}
	if pid >= 0 {
		opts.Producer = &recordtest.Producer{ID: pid, Epoch: epoch, BaseSequence: seq}
	}
	return recordtest.BuildWith(opts, recs...)
}

func mustAppend(t *testing.T, p *Partition, b []byte) AppendResult {
	t.Helper()
	res, err := p.Append(b)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return res
}

// offsetsIn lists the base offsets of the batches of b.
func offsetsIn(t *testing.T, b []byte) []int64 {
	t.Helper()
	var out []int64
	if _, err := record.Split(b, func(_ []byte, h *record.Header) error {
		out = append(out, h.BaseOffset)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReadCommitted: read_committed stops at the first open transaction,
// which read_uncommitted does not; after a commit everything is visible
// with no aborted transaction listed, after an abort the transaction is
// listed for the records it overlaps.
func TestReadCommitted(t *testing.T) {
	for _, commit := range []bool{true, false} {
		t.Run(fmt.Sprintf("commit=%v", commit), func(t *testing.T) {
			p := testPartition(t)
			mustAppend(t, p, batch(-1, -1, -1, 2, false))    // 0-1
			txn := mustAppend(t, p, batch(7, 0, 0, 2, true)) // 2-3
			mustAppend(t, p, batch(-1, -1, -1, 1, false))    // 4
			mustAppend(t, p, batch(8, 0, 0, 1, false))       // 5 idempotent, not transactional
			mustAppend(t, p, batch(7, 0, 2, 1, true))        // 6
			if lso, hw := p.LastStableOffset(), p.HighWatermark(); lso != txn.BaseOffset || hw != 7 {
				t.Fatalf("lso %d, hw %d; want %d, 7", lso, hw, txn.BaseOffset)
			}
			f, err := p.ReadIsolated(nil, 0, 1<<20, true, true)
			if err != nil {
				t.Fatal(err)
			}
			if got := offsetsIn(t, f.Records); len(got) != 1 || got[0] != 0 || f.LastStable != 2 || f.HighWatermark != 7 {
				t.Fatalf("read_committed before the marker: batches %v, %+v", got, f)
			}
			if f, _ := p.ReadIsolated(nil, 2, 1<<20, true, true); len(f.Records) != 0 {
				t.Fatalf("read_committed at the LSO returned %d bytes", len(f.Records))
			}
			f, _ = p.Read(0, 1<<20, true)
			if got := offsetsIn(t, f.Records); len(got) != 5 || f.LastStable != 2 {
				t.Fatalf("read_uncommitted: batches %v, %+v", got, f)
			}

			off, err := p.WriteTxnMarker(7, 0, commit, 1)
			if err != nil || off != 7 {
				t.Fatalf("marker at %d: %v", off, err)
			}
			if lso, hw := p.LastStableOffset(), p.HighWatermark(); lso != 8 || hw != 8 {
				t.Fatalf("after the marker lso %d, hw %d", lso, hw)
			}
			f, _ = p.ReadIsolated(nil, 0, 1<<20, true, true)
			if got := offsetsIn(t, f.Records); len(got) != 6 {
				t.Fatalf("read_committed after the marker: batches %v", got)
			}
			wantAborted := 0
			if !commit {
				wantAborted = 1
			}
			if len(f.Aborted) != wantAborted || (!commit && (f.Aborted[0].ProducerID != 7 || f.Aborted[0].FirstOffset != 2)) {
				t.Fatalf("aborted %+v", f.Aborted)
			}
			// A read that starts after the marker lists nothing.
			mustAppend(t, p, batch(-1, -1, -1, 1, false)) // 8
			if f, _ := p.ReadIsolated(nil, 8, 1<<20, true, true); len(f.Records) == 0 || len(f.Aborted) != 0 {
				t.Fatalf("aborted after the marker: %+v", f.Aborted)
			}
			if f, _ := p.Read(0, 1<<20, true); f.Aborted != nil {
				t.Fatalf("read_uncommitted lists aborted transactions: %+v", f.Aborted)
			}
		})
	}
}

// TestMarkerWakesReaders: a marker that moves the last stable offset
// wakes waiting fetches.
func TestMarkerWakesReaders(t *testing.T) {
	p := testPartition(t)
	mustAppend(t, p, batch(7, 0, 0, 1, true))
	w := NewWaiter()
	p.Watch(w)
	defer p.Unwatch(w)
	if _, err := p.WriteTxnMarker(7, 0, true, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.C:
	case <-time.After(time.Second):
		t.Fatal("marker did not wake the waiter")
	}
}

// TestProducerErrorsAndDuplicates: producer errors carry Kafka codes; a
// retried batch gets its original offset and moves nothing.
func TestProducerErrorsAndDuplicates(t *testing.T) {
	p := testPartition(t)
	first := mustAppend(t, p, batch(5, 1, 0, 3, false))
	mustAppend(t, p, batch(5, 1, 3, 1, false))
	hw := p.HighWatermark()
	dup := mustAppend(t, p, batch(5, 1, 0, 3, false))
	if dup.BaseOffset != first.BaseOffset || p.HighWatermark() != hw || p.LogEndOffset() != hw {
		t.Fatalf("duplicate at %d (first %d), hw %d -> %d", dup.BaseOffset, first.BaseOffset, hw, p.HighWatermark())
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want *kerr.Error
	}{
		{"gap", batch(5, 1, 9, 1, false), kerr.OutOfOrderSequenceNumber},
		{"stale epoch", batch(5, 0, 4, 1, false), kerr.InvalidProducerEpoch},
		{"new epoch not at 0", batch(5, 2, 4, 1, false), kerr.OutOfOrderSequenceNumber},
		{"negative sequence", batch(5, 1, -1, 1, false), kerr.InvalidRecord},
		{"transactional without producer", batch(-1, -1, -1, 1, true), kerr.InvalidRecord},
	} {
		if _, err := p.Append(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	mustAppend(t, p, batch(6, 0, 0, 1, true))
	if _, err := p.Append(batch(6, 0, 1, 1, false)); !errors.Is(err, kerr.InvalidTxnState) {
		t.Errorf("plain write in an open transaction: %v", err)
	}
	if _, err := p.WriteTxnMarker(6, 0, true, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WriteTxnMarker(6, 0, false, 4); !errors.Is(err, kerr.TransactionCoordinatorFenced) {
		t.Errorf("marker from an old coordinator: %v", err)
	}
	// Coordinator writes (transactional offset commits) carry no sequence.
	if _, err := p.AppendWith(batch(6, 0, -1, 1, true), AppendOptions{Origin: log.OriginCoordinator}); err != nil {
		t.Errorf("coordinator write: %v", err)
	}
}

// TestTxnVerificationGuard: with verification on, a transactional write
// that does not continue an open transaction needs a current guard; a
// marker written between the verification and the append voids it.
func TestTxnVerificationGuard(t *testing.T) {
	p := testPartition(t)
	if _, err := p.AppendWith(batch(7, 0, 0, 1, true), AppendOptions{Verify: true}); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("unverified write: %v", err)
	}
	g := p.StartTxnVerification(7, 0)
	if g == nil {
		t.Fatal("no guard for a producer without a transaction")
	}
	if _, err := p.AppendWith(batch(7, 0, 0, 1, true), AppendOptions{Verify: true, Verification: g}); err != nil {
		t.Fatalf("verified write: %v", err)
	}
	p.EndTxnVerification(g)
	if g := p.StartTxnVerification(7, 0); g != nil {
		t.Fatal("guard handed out for a transaction already open")
	}
	if _, err := p.AppendWith(batch(7, 0, 1, 1, true), AppendOptions{Verify: true}); err != nil {
		t.Fatalf("write continuing the transaction: %v", err)
	}
	if _, err := p.WriteTxnMarker(7, 0, true, 0); err != nil {
		t.Fatal(err)
	}
	// The next transaction: the coordinator ends it (marker) after the
	// verification but before the append.
	g = p.StartTxnVerification(7, 0)
	if _, err := p.WriteTxnMarker(7, 0, false, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AppendWith(batch(7, 0, 2, 1, true), AppendOptions{Verify: true, Verification: g}); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("write with a guard voided by a marker: %v", err)
	}
	p.EndTxnVerification(g)
	if n := len(p.verifying); n != 0 {
		t.Fatalf("%d guards left", n)
	}
	if p.LastStableOffset() != p.HighWatermark() {
		t.Fatalf("a refused write left a transaction open: lso %d, hw %d", p.LastStableOffset(), p.HighWatermark())
	}
}

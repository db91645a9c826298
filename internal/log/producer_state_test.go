package log

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/record"
	"github.com/strata-db/strata/internal/record/recordtest"
)

// producerBatch builds a batch of n records of producer pid at epoch from
// sequence seq.
func producerBatch(pid int64, epoch int16, seq int32, n int, txn bool) []byte {
	recs := make([]recordtest.Rec, n)
	for i := range recs {
		recs[i] = recordtest.Rec{Key: fmt.Appendf(nil, "p%d-s%d", pid, int64(seq)+int64(i)), Value: []byte("v"), TimestampMs: 1_700_000_000_000}
	}
	return recordtest.BuildWith(recordtest.BatchOptions{
		Producer: &recordtest.Producer{ID: pid, Epoch: epoch, BaseSequence: seq}, Transactional: txn,
	}, recs...)
}

// produce appends a producer batch as a client.
func produce(t testing.TB, l *Log, pid int64, epoch int16, seq int32, n int, txn bool) (AppendInfo, error) {
	t.Helper()
	return l.Append(producerBatch(pid, epoch, seq, n, txn), 0, -1)
}

func mustProduce(t testing.TB, l *Log, pid int64, epoch int16, seq int32, n int, txn bool) AppendInfo {
	t.Helper()
	info, err := produce(t, l, pid, epoch, seq, n, txn)
	if err != nil {
		t.Fatalf("produce pid %d epoch %d seq %d: %v", pid, epoch, seq, err)
	}
	if info.Duplicate {
		t.Fatalf("produce pid %d epoch %d seq %d: unexpected duplicate %+v", pid, epoch, seq, info)
	}
	return info
}

func mustMarker(t testing.TB, l *Log, pid int64, epoch int16, commit bool, coordEpoch int32) int64 {
	t.Helper()
	off, err := l.AppendTxnMarker(pid, epoch, commit, coordEpoch, 0)
	if err != nil {
		t.Fatalf("marker pid %d commit %v: %v", pid, commit, err)
	}
	return off
}

func producerOf(t testing.TB, l *Log, pid int64) (ProducerInfo, bool) {
	t.Helper()
	for _, p := range l.Producers() {
		if p.ProducerID == pid {
			return p, true
		}
	}
	return ProducerInfo{}, false
}

// TestProducerSequenceChecks covers the checks of a client batch, each case
// on a log where producer 1 wrote seq 0..9 in batches of 2 at epoch 3.
func TestProducerSequenceChecks(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pid     int64
		epoch   int16
		seq     int32
		n       int
		txn     bool
		wantErr error
		dupOf   int // index of the original batch (0..4) for a duplicate; -1 otherwise
	}{
		{name: "next in sequence", pid: 1, epoch: 3, seq: 10, n: 1, dupOf: -1},
		{name: "gap", pid: 1, epoch: 3, seq: 11, n: 1, wantErr: ErrOutOfOrderSequence, dupOf: -1},
		{name: "retry of the last batch", pid: 1, epoch: 3, seq: 8, n: 2, dupOf: 4},
		{name: "retry of the oldest batch in the window", pid: 1, epoch: 3, seq: 0, n: 2, dupOf: 0},
		{name: "overlapping but not equal range", pid: 1, epoch: 3, seq: 8, n: 1, wantErr: ErrOutOfOrderSequence, dupOf: -1},
		{name: "stale epoch", pid: 1, epoch: 2, seq: 10, n: 1, wantErr: ErrInvalidProducerEpoch, dupOf: -1},
		{name: "stale epoch of a duplicate range", pid: 1, epoch: 2, seq: 8, n: 2, wantErr: ErrInvalidProducerEpoch, dupOf: -1},
		{name: "new epoch from 0", pid: 1, epoch: 4, seq: 0, n: 1, dupOf: -1},
		{name: "new epoch not from 0", pid: 1, epoch: 4, seq: 10, n: 1, wantErr: ErrOutOfOrderSequence, dupOf: -1},
		{name: "unknown producer mid-sequence", pid: 2, epoch: 0, seq: 77, n: 1, dupOf: -1},
		{name: "non-transactional write in an open transaction", pid: 5, epoch: 0, seq: 1, n: 1, wantErr: ErrInvalidTxnState, dupOf: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := openLog(t, t.TempDir(), testConfig(), Options{})
			var originals []AppendInfo
			for i := range 5 {
				originals = append(originals, mustProduce(t, l, 1, 3, int32(2*i), 2, false))
			}
			mustProduce(t, l, 5, 0, 0, 1, true) // producer 5 has a transaction open
			end := l.LogEndOffset()
			info, err := produce(t, l, tc.pid, tc.epoch, tc.seq, tc.n, tc.txn)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			switch {
			case tc.dupOf >= 0:
				want := originals[tc.dupOf]
				if !info.Duplicate || info.FirstOffset != want.FirstOffset || info.LastOffset != want.LastOffset {
					t.Fatalf("got %+v, want a duplicate of %+v", info, want)
				}
				fallthrough
			case err != nil:
				if l.LogEndOffset() != end {
					t.Fatalf("log end moved from %d to %d though nothing was to be written", end, l.LogEndOffset())
				}
			default:
				if info.Duplicate || info.FirstOffset != end {
					t.Fatalf("got %+v, want a write at %d", info, end)
				}
			}
		})
	}
}

// TestProducerWindowSlides: only the last five batches are remembered; an
// older retry is out of sequence, as in Kafka.
func TestProducerWindowSlides(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(), Options{})
	for i := range 7 {
		mustProduce(t, l, 1, 0, int32(i), 1, false)
	}
	if _, err := produce(t, l, 1, 0, 1, 1, false); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("retry beyond the window: %v, want out of order", err)
	}
	for seq := int32(2); seq < 7; seq++ {
		info, err := produce(t, l, 1, 0, seq, 1, false)
		if err != nil || !info.Duplicate || info.FirstOffset != int64(seq) {
			t.Fatalf("retry of seq %d: %+v, %v", seq, info, err)
		}
	}
}

// TestProducerNeverWrittenLog: an unknown producer must start at 0 in a log
// that never held a record (KAFKA-15591), and may start anywhere after.
func TestProducerNeverWrittenLog(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(), Options{})
	if _, err := produce(t, l, 1, 0, 5, 1, false); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("first write at seq 5 into an empty log: %v", err)
	}
	mustProduce(t, l, 1, 0, 0, 1, false)
	mustProduce(t, l, 2, 0, 5, 1, false)
}

// TestProducerSequenceWraps: sequences wrap from MaxInt32 to 0, within a
// batch and between batches, and duplicates are found across the wrap.
func TestProducerSequenceWraps(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(), Options{})
	mustProduce(t, l, 9, 0, 0, 1, false)
	l.mu.Lock()
	e := l.prod.producers[9]
	e.batches[0].lastSeq = math.MaxInt32 - 3 // as if it had written that far
	l.prod.producers[9] = e
	l.mu.Unlock()
	a := mustProduce(t, l, 9, 0, math.MaxInt32-2, 5, false) // MaxInt32-2 .. 1
	if p, _ := producerOf(t, l, 9); p.LastSequence != 1 {
		t.Fatalf("last sequence %d after the wrap, want 1", p.LastSequence)
	}
	if _, err := produce(t, l, 9, 0, 3, 1, false); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap after the wrap: %v", err)
	}
	b := mustProduce(t, l, 9, 0, 2, 1, false)
	for _, tc := range []struct {
		seq  int32
		n    int
		want int64
	}{{math.MaxInt32 - 2, 5, a.FirstOffset}, {2, 1, b.FirstOffset}} {
		info, err := produce(t, l, 9, 0, tc.seq, tc.n, false)
		if err != nil || !info.Duplicate || info.FirstOffset != tc.want {
			t.Fatalf("retry of seq %d: %+v, %v", tc.seq, info, err)
		}
	}
	if got := incrementSeq(math.MaxInt32, 1); got != 0 {
		t.Fatalf("incrementSeq(MaxInt32, 1) = %d", got)
	}
	if got := decrementSeq(1, 3); got != math.MaxInt32-1 {
		t.Fatalf("decrementSeq(1, 3) = %d", got)
	}
	if !inSequence(math.MaxInt32, 0) || inSequence(math.MaxInt32, 1) || !inSequence(-1, 0) {
		t.Fatal("inSequence wrong at the wrap")
	}
}

// TestCoordinatorOriginSkipsSequences: coordinator appends check epochs
// only.
func TestCoordinatorOriginSkipsSequences(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(), Options{})
	mustProduce(t, l, 1, 2, 0, 1, true)
	if _, err := l.AppendAs(OriginCoordinator, producerBatch(1, 2, -1, 1, true), 0, -1); err != nil {
		t.Fatalf("coordinator append without sequence: %v", err)
	}
	if _, err := l.AppendAs(OriginCoordinator, producerBatch(1, 1, -1, 1, true), 0, -1); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("coordinator append at an old epoch: %v", err)
	}
}

// TestTxnMarkersAndLastStable: transactions open at their first batch and
// end at their marker; the first unstable offset follows the earliest open
// one (and ended ones until the high watermark passes the marker); aborted
// ones are indexed with the last stable offset after their marker.
func TestTxnMarkersAndLastStable(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(), Options{})
	mustProduce(t, l, 1, 0, 0, 2, false) // 0-1 plain idempotent
	if fu := l.FirstUnstableOffset(); fu != math.MaxInt64 {
		t.Fatalf("first unstable %d with no transaction", fu)
	}
	a := mustProduce(t, l, 10, 0, 0, 2, true) // 2-3 txn A
	b := mustProduce(t, l, 11, 0, 0, 1, true) // 4 txn B
	mustProduce(t, l, 10, 0, 2, 1, true)      // 5 txn A
	if fu := l.FirstUnstableOffset(); fu != a.FirstOffset {
		t.Fatalf("first unstable %d, want %d", fu, a.FirstOffset)
	}
	if !l.HasOngoingTxn(10, 0) || l.HasOngoingTxn(10, 1) || l.HasOngoingTxn(1, 0) {
		t.Fatal("HasOngoingTxn wrong")
	}
	abortA := mustMarker(t, l, 10, 0, false, 7) // 6
	// A's marker is not below the high watermark yet.
	if fu := l.FirstUnstableOffset(); fu != a.FirstOffset {
		t.Fatalf("first unstable %d before the high watermark passed the marker, want %d", fu, a.FirstOffset)
	}
	l.UpdateHighWatermark(l.LogEndOffset())
	if fu := l.FirstUnstableOffset(); fu != b.FirstOffset {
		t.Fatalf("first unstable %d after A aborted, want B's %d", fu, b.FirstOffset)
	}
	commitB := mustMarker(t, l, 11, 0, true, 7) // 7
	l.UpdateHighWatermark(l.LogEndOffset())
	if fu := l.FirstUnstableOffset(); fu != math.MaxInt64 {
		t.Fatalf("first unstable %d after both ended", fu)
	}
	wantA := AbortedTxn{ProducerID: 10, FirstOffset: a.FirstOffset, LastOffset: abortA, LastStableOffset: b.FirstOffset}
	if got := l.AbortedTxns(0, l.LogEndOffset()); !slices.Equal(got, []AbortedTxn{wantA}) {
		t.Fatalf("aborted %+v, want %+v", got, wantA)
	}
	// Reads outside the transaction's range see nothing.
	if got := l.AbortedTxns(abortA+1, l.LogEndOffset()); len(got) != 0 {
		t.Fatalf("aborted after the marker: %+v", got)
	}
	if got := l.AbortedTxns(0, a.FirstOffset); len(got) != 0 {
		t.Fatalf("aborted before the transaction: %+v", got)
	}
	if p, _ := producerOf(t, l, 11); p.CoordinatorEpoch != 7 || p.TxnStartOffset != -1 {
		t.Fatalf("producer 11 after commit: %+v", p)
	}
	// A retried marker is answered without a write; an empty transaction's
	// marker with another epoch is written.
	end := l.LogEndOffset()
	if off := mustMarker(t, l, 11, 0, true, 7); off != commitB || l.LogEndOffset() != end {
		t.Fatalf("retried marker at %d (log end %d -> %d), want %d", off, end, l.LogEndOffset(), commitB)
	}
	if off := mustMarker(t, l, 11, 1, false, 7); off != end {
		t.Fatalf("marker of a new epoch at %d, want %d", off, end)
	}
	// Fencing.
	if _, err := l.AppendTxnMarker(11, 0, true, 7, 0); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("marker of an old epoch: %v", err)
	}
	if _, err := l.AppendTxnMarker(11, 1, true, 6, 0); !errors.Is(err, ErrCoordinatorFenced) {
		t.Fatalf("marker of an old coordinator epoch: %v", err)
	}
	if _, err := produce(t, l, 11, 0, 1, 1, true); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("write of a fenced epoch: %v", err)
	}
}

// TestAbortedIndexSearchStops: the search for aborted transactions stops at
// an entry whose last stable offset reaches the end of the read, and finds
// transactions whose marker lies far beyond the read.
func TestAbortedIndexSearchStops(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(), Options{})
	long := mustProduce(t, l, 1, 0, 0, 1, true) // 0: open until the end
	for i := range 5 {
		pid := int64(10 + i)
		mustProduce(t, l, pid, 0, 0, 1, true)
		mustMarker(t, l, pid, 0, false, 0)
	}
	abortLong := mustMarker(t, l, 1, 0, false, 0)
	l.UpdateHighWatermark(l.LogEndOffset())
	got := l.AbortedTxns(0, 1)
	// Every short transaction was aborted while the long one (first offset
	// 0) was open: their entries' last stable offset is 0, so the search
	// goes on to the long one's entry.
	if len(got) != 1 || got[0].ProducerID != 1 || got[0].FirstOffset != long.FirstOffset || got[0].LastOffset != abortLong {
		t.Fatalf("aborted overlapping [0, 1): %+v", got)
	}
	if got := l.AbortedTxns(1, l.LogEndOffset()); len(got) != 6 {
		t.Fatalf("aborted overlapping everything: %+v", got)
	}
}

// TestProducerStateSurvivesReopen: a clean close and an unclean stop both
// bring back the de-duplication window, epochs, open transactions and the
// aborted index; segment rolls leave snapshots behind.
func TestProducerStateSurvivesReopen(t *testing.T) {
	for _, clean := range []bool{true, false} {
		t.Run(fmt.Sprintf("clean=%v", clean), func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig()
			cfg.SegmentBytes = 400 // a few batches per segment
			l, err := Open(dir, cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			var offsets []AppendInfo
			for i := range 12 {
				offsets = append(offsets, mustProduce(t, l, 1, 0, int32(i), 1, false))
				if i == 6 {
					mustProduce(t, l, 2, 0, 0, 1, true)
					mustMarker(t, l, 2, 0, false, 3)
				}
			}
			open := mustProduce(t, l, 3, 0, 0, 1, true)
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			mustProduce(t, l, 1, 0, 12, 1, false) // after the flush: replayed on an unclean start
			before := l.Producers()
			aborted := l.AbortedTxns(0, l.LogEndOffset())
			if n := len(l.Segments()); n < 3 {
				t.Fatalf("%d segments, want several", n)
			}
			snaps, _ := filepath.Glob(filepath.Join(dir, "*.snapshot"))
			if len(snaps) < 2 {
				t.Fatalf("snapshots %v, want one per roll", snaps)
			}
			if clean {
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
			} else {
				abandon(l)
			}
			l2 := openLog(t, dir, cfg, Options{CleanShutdown: clean})
			if after := l2.Producers(); !slices.Equal(after, before) {
				t.Fatalf("producers after reopen\n%+v\nwant\n%+v", after, before)
			}
			if got := l2.AbortedTxns(0, l2.LogEndOffset()); !slices.Equal(got, aborted) {
				t.Fatalf("aborted after reopen %+v, want %+v", got, aborted)
			}
			if fu := l2.FirstUnstableOffset(); fu != open.FirstOffset {
				t.Fatalf("first unstable %d after reopen, want %d", fu, open.FirstOffset)
			}
			for seq := int32(8); seq <= 12; seq++ {
				info, err := produce(t, l2, 1, 0, seq, 1, false)
				want := int64(-1)
				if seq < 12 {
					want = offsets[seq].FirstOffset
				}
				if err != nil || !info.Duplicate || (want >= 0 && info.FirstOffset != want) {
					t.Fatalf("retry of seq %d after reopen: %+v, %v", seq, info, err)
				}
			}
			mustProduce(t, l2, 1, 0, 13, 1, false)
			checkInvariants(t, l2)
		})
	}
}

// TestProducerRebuildWithoutSnapshots: with every snapshot lost, the state
// is rebuilt from the whole log.
func TestProducerRebuildWithoutSnapshots(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 400
	l, err := Open(dir, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		mustProduce(t, l, 1, 0, int32(i), 1, false)
	}
	mustProduce(t, l, 2, 1, 0, 1, true)
	mustMarker(t, l, 2, 1, false, 0)
	before, aborted := l.Producers(), l.AbortedTxns(0, math.MaxInt64)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	snaps, _ := filepath.Glob(filepath.Join(dir, "*.snapshot"))
	for _, s := range snaps {
		os.Remove(s)
	}
	os.Remove(filepath.Join(dir, txnIndexFile))
	l2 := openLog(t, dir, cfg, Options{CleanShutdown: true})
	after := l2.Producers()
	// The replay cannot know the broker times of the appends.
	for i := range after {
		if after[i] != before[i] {
			t.Fatalf("producer %d after rebuild %+v, want %+v", after[i].ProducerID, after[i], before[i])
		}
	}
	if got := l2.AbortedTxns(0, math.MaxInt64); !slices.Equal(got, aborted) {
		t.Fatalf("aborted after rebuild %+v, want %+v", got, aborted)
	}
	if _, err := produce(t, l2, 1, 0, 11, 1, false); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap after rebuild: %v", err)
	}
}

// TestCorruptSnapshotFallsBack: a damaged newest snapshot is skipped for an
// older one and the batches after it are replayed.
func TestCorruptSnapshotFallsBack(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 400
	l, err := Open(dir, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		mustProduce(t, l, 1, 0, int32(i), 1, false)
	}
	before := l.Producers()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	snaps, _ := filepath.Glob(filepath.Join(dir, "*.snapshot"))
	slices.Sort(snaps)
	newest := snaps[len(snaps)-1]
	b := readFile(t, newest)
	b[len(b)-1] ^= 0xff
	writeFile(t, newest, b)
	l2 := openLog(t, dir, cfg, Options{CleanShutdown: true})
	if after := l2.Producers(); after[0].LastSequence != before[0].LastSequence {
		t.Fatalf("after fallback %+v, want %+v", after, before)
	}
}

// TestProducerStateAcrossTruncation: truncation rolls producer state back
// to what the remaining batches say.
func TestProducerStateAcrossTruncation(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(), Options{})
	for i := range 4 {
		mustProduce(t, l, 1, 0, int32(i), 1, false) // 0-3
	}
	mustProduce(t, l, 2, 0, 0, 1, true) // 4
	mustMarker(t, l, 2, 0, false, 0)    // 5
	mustProduce(t, l, 3, 0, 0, 1, true) // 6
	if err := l.TruncateTo(5); err != nil {
		t.Fatal(err)
	}
	if p, _ := producerOf(t, l, 2); p.TxnStartOffset != 4 {
		t.Fatalf("producer 2 after truncating its marker: %+v", p)
	}
	if _, ok := producerOf(t, l, 3); ok {
		t.Fatal("producer 3 survived the truncation of its only batch")
	}
	if got := l.AbortedTxns(0, math.MaxInt64); len(got) != 0 {
		t.Fatalf("aborted index after truncating the marker: %+v", got)
	}
	if fu := l.FirstUnstableOffset(); fu != 4 {
		t.Fatalf("first unstable %d, want 4", fu)
	}
	if err := l.TruncateTo(2); err != nil {
		t.Fatal(err)
	}
	if p, _ := producerOf(t, l, 1); p.LastSequence != 1 {
		t.Fatalf("producer 1 after truncation: %+v", p)
	}
	mustProduce(t, l, 1, 0, 2, 1, false)
	if err := l.TruncateFullyAndStartAt(100); err != nil {
		t.Fatal(err)
	}
	if ps := l.Producers(); len(ps) != 0 {
		t.Fatalf("producers after a full truncation: %+v", ps)
	}
}

// TestProducerStateKeptByRetention: deleting a producer's segments keeps
// its state (KIP-360), also across a restart.
func TestProducerStateKeptByRetention(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 400
	cfg.RetentionBytes = 0 // every closed segment goes
	l, err := Open(dir, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		mustProduce(t, l, 1, 0, int32(i), 1, false)
	}
	mustProduce(t, l, 2, 0, 0, 1, true)
	mustMarker(t, l, 2, 0, false, 0)
	for i := range 20 {
		mustProduce(t, l, 5, 0, int32(i), 1, false)
	}
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() <= 5 {
		t.Fatalf("log start %d: retention deleted too little", l.LogStartOffset())
	}
	if got := l.AbortedTxns(0, math.MaxInt64); len(got) != 0 {
		t.Fatalf("aborted entries below the log start: %+v", got)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := openLog(t, dir, cfg, Options{CleanShutdown: true})
	if p, ok := producerOf(t, l2, 1); !ok || p.LastSequence != 2 {
		t.Fatalf("producer 1 after its segments were deleted: %+v, %v", p, ok)
	}
	if _, err := produce(t, l2, 1, 0, 5, 1, false); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("gap of a producer whose data was deleted: %v", err)
	}
	info, err := produce(t, l2, 1, 0, 2, 1, false)
	if err != nil || !info.Duplicate {
		t.Fatalf("retry of a producer whose data was deleted: %+v, %v", info, err)
	}
	snaps, _ := filepath.Glob(filepath.Join(dir, "*.snapshot"))
	for _, s := range snaps {
		off, _ := parseSnapshotName(filepath.Base(s))
		if off < l2.Segments()[0].BaseOffset && len(snaps) > 1 {
			t.Fatalf("snapshot %s below the first segment survived retention", s)
		}
	}
}

// TestProducerExpiry: producers expire after the given time without an
// append, but not while a transaction is open.
func TestProducerExpiry(t *testing.T) {
	clock := newClock()
	l := openLog(t, t.TempDir(), testConfig(), Options{Now: clock.Now})
	mustProduce(t, l, 1, 0, 0, 1, false)
	mustProduce(t, l, 2, 0, 0, 1, true)
	clock.Advance(30 * time.Minute)
	mustProduce(t, l, 3, 0, 0, 1, false)
	clock.Advance(31 * time.Minute)
	if n := l.ExpireProducers(time.Hour); n != 1 {
		t.Fatalf("expired %d, want 1", n)
	}
	if _, ok := producerOf(t, l, 1); ok {
		t.Fatal("producer 1 did not expire")
	}
	if _, ok := producerOf(t, l, 2); !ok {
		t.Fatal("producer 2 expired with a transaction open")
	}
	// An expired producer may go on at any sequence.
	mustProduce(t, l, 1, 0, 42, 1, false)
}

// TestSnapshotRoundTrip encodes and decodes producer state and rejects
// damaged or inconsistent snapshots.
func TestSnapshotRoundTrip(t *testing.T) {
	ps := map[int64]producerEntry{}
	for id := range int64(4) {
		e := newProducerEntry()
		e.epoch, e.coordEpoch, e.lastTs, e.lastAppendMs = int16(id), int32(id)-1, 1000*id, 2000*id
		if id == 2 {
			e.txnFirst = 50
		}
		if id == 3 {
			e.markerOffset, e.markerCommit = 60, true
		}
		for i := range int(id) + 2 {
			e.addBatch(batchMeta{lastSeq: int32(i), offsetDelta: 0, lastOffset: int64(10*id) + int64(i), timestamp: int64(i)})
		}
		ps[id] = e
	}
	b := encodeSnapshot(ps)
	got, err := decodeSnapshot(b, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ps) {
		t.Fatalf("%d producers, want %d", len(got), len(ps))
	}
	for id, e := range ps {
		if got[id] != e {
			t.Fatalf("producer %d: %+v, want %+v", id, got[id], e)
		}
	}
	for name, mutate := range map[string]func([]byte) []byte{
		"flipped byte": func(b []byte) []byte { b[20] ^= 1; return b },
		"truncated":    func(b []byte) []byte { return b[:len(b)-3] },
		"version":      func(b []byte) []byte { b[1] = 9; return b },
	} {
		if _, err := decodeSnapshot(mutate(slices.Clone(b)), 100); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
	if _, err := decodeSnapshot(b, 55); err == nil {
		t.Error("snapshot with state beyond its offset decoded")
	}
}

// TestTxnIndexFileTail: a torn or malformed tail of the index file is cut.
func TestTxnIndexFileTail(t *testing.T) {
	var b []byte
	for i := range int64(3) {
		b = appendTxnEntry(b, AbortedTxn{ProducerID: i, FirstOffset: 10 * i, LastOffset: 10*i + 5, LastStableOffset: 10*i + 6})
	}
	if es, torn := decodeTxnIndex(b); len(es) != 3 || torn {
		t.Fatalf("%d entries, torn %v", len(es), torn)
	}
	if es, torn := decodeTxnIndex(b[:len(b)-5]); len(es) != 2 || !torn {
		t.Fatalf("torn tail: %d entries, torn %v", len(es), torn)
	}
	bad := appendTxnEntry(slices.Clone(b), AbortedTxn{ProducerID: 1, FirstOffset: 3, LastOffset: 4, LastStableOffset: 5})
	if es, torn := decodeTxnIndex(bad); len(es) != 3 || !torn {
		t.Fatalf("out of order tail: %d entries, torn %v", len(es), torn)
	}
}

// TestCleanKeepsTransactionState: compaction keeps transactional records
// and markers, so the aborted index stays right, and producer state
// rebuilt from the cleaned log (every snapshot lost) is what it was.
func TestCleanKeepsTransactionState(t *testing.T) {
	dir := t.TempDir()
	cfg := compactConfig()
	l, err := Open(dir, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	txn := func(pid int64, seq int32, key, value string) {
		appendKVs(t, l, recordtest.BatchOptions{Producer: &recordtest.Producer{ID: pid, BaseSequence: seq}, Transactional: true},
			put(key, value, 1))
	}
	idem := func(pid int64, seq int32, key, value string) {
		appendKVs(t, l, recordtest.BatchOptions{Producer: &recordtest.Producer{ID: pid, BaseSequence: seq}}, put(key, value, 1))
	}
	idem(1, 0, "a", "1")
	txn(10, 0, "a", "aborted")
	mustMarker(t, l, 10, 0, false, 0)
	txn(11, 0, "b", "committed")
	mustMarker(t, l, 11, 0, true, 0)
	idem(1, 1, "a", "2")
	idem(1, 2, "b", "2")
	idem(2, 0, "c", "1") // producer 2's only batch: superseded below, kept as an empty batch
	idem(1, 3, "c", "2")
	l.UpdateHighWatermark(l.LogEndOffset())
	rollNow(t, l)
	producers, aborted := l.Producers(), l.AbortedTxns(0, math.MaxInt64)
	before := readAll(t, l, 0)
	res := mustClean(t, newTestCleaner(t, 1<<20), l)
	if res.RecordsRemoved == 0 {
		t.Fatalf("nothing cleaned: %+v", res)
	}
	after := readAll(t, l, 0)
	kept := map[int64]bool{}
	for _, b := range after {
		h, _ := record.ParseHeader(b.data)
		kept[h.BaseOffset] = true
		if h.ProducerID == 2 && h.NumRecords != 0 {
			t.Fatalf("producer 2's superseded batch kept its record")
		}
	}
	for _, b := range before {
		if h, _ := record.ParseHeader(b.data); (h.Transactional() || h.ProducerID == 2) && !kept[h.BaseOffset] {
			t.Fatalf("batch at %d (producer %d, transactional %v) removed by the cleaner", h.BaseOffset, h.ProducerID, h.Transactional())
		}
	}
	if got := l.AbortedTxns(0, math.MaxInt64); !slices.Equal(got, aborted) {
		t.Fatalf("aborted after cleaning %+v, want %+v", got, aborted)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	snaps, _ := filepath.Glob(filepath.Join(dir, "*.snapshot"))
	for _, s := range snaps {
		os.Remove(s)
	}
	os.Remove(filepath.Join(dir, txnIndexFile))
	l2 := openLog(t, dir, cfg, Options{CleanShutdown: true})
	// An emptied batch has no timestamp left to rebuild from.
	for i := range producers {
		if producers[i].ProducerID == 2 {
			producers[i].LastTimestamp = -1
		}
	}
	if got := l2.Producers(); !slices.Equal(got, producers) {
		t.Fatalf("producers rebuilt from the cleaned log\n%+v\nwant\n%+v", got, producers)
	}
	if got := l2.AbortedTxns(0, math.MaxInt64); !slices.Equal(got, aborted) {
		t.Fatalf("aborted rebuilt from the cleaned log %+v, want %+v", got, aborted)
	}
}

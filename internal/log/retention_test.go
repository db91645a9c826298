package log

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestDeleteRecordsBeforePersists(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 1000
	l, err := Open(dir, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := appendBatches(t, l, 30, 2, 0, 50, 0) // ~8 batches per segment
	segsBefore := len(l.Segments())
	start, err := l.DeleteRecordsBefore(25)
	if err != nil || start != 25 {
		t.Fatalf("DeleteRecordsBefore = %d, %v", start, err)
	}
	if n := len(l.Segments()); n >= segsBefore {
		t.Fatalf("no segment deleted: %d -> %d", segsBefore, n)
	}
	if l.Segments()[0].BaseOffset > 25 {
		t.Fatalf("first segment %d starts after the log start", l.Segments()[0].BaseOffset)
	}
	if start, _ := l.DeleteRecordsBefore(10); start != 25 {
		t.Fatalf("a lower offset moved the start to %d", start)
	}
	if _, err := l.DeleteRecordsBefore(61); err == nil {
		t.Fatal("DeleteRecordsBefore beyond the log end succeeded")
	}
	checkInvariants(t, l)
	// Abandon the log without Close: the start must be durable already.
	l2 := openLog(t, dir, cfg, Options{})
	if got := l2.LogStartOffset(); got != 25 {
		t.Fatalf("log start after reopen %d, want 25", got)
	}
	got := readAll(t, l2, 25)
	sameBatches(t, got, want[12:]) // batch 12 holds offsets 24-25
	l.Close()
}

func TestDeleteRecordsToLogEndKeepsActiveSegment(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(), Options{})
	appendBatches(t, l, 5, 2, 0, 10, 3)
	if _, err := l.DeleteRecordsBefore(10); err != nil {
		t.Fatal(err)
	}
	segs := l.Segments()
	if len(segs) != 1 || segs[0].BaseOffset != 10 || segs[0].Size != 0 {
		t.Fatalf("segments %+v, want one empty at 10", segs)
	}
	if e, off := l.EndOffsetForEpoch(3); e != 3 || off != 10 {
		t.Fatalf("epoch 3 forgotten: %d, %d", e, off)
	}
	info, err := l.Append(batchOf(1, 0, 10, 0), 3, -1)
	if err != nil || info.FirstOffset != 10 || info.LogStartOffset != 10 {
		t.Fatalf("append after delete: %+v, %v", info, err)
	}
	checkInvariants(t, l)
}

func TestRetentionByTime(t *testing.T) {
	clock := newClock()
	cfg := testConfig()
	cfg.SegmentBytes, cfg.RetentionMs = 600, time.Hour
	l := openLog(t, t.TempDir(), cfg, Options{Now: clock.Now})
	nowMs := clock.Now().UnixMilli()
	// Old data: timestamps two hours ago; then recent data.
	appendBatches(t, l, 10, 1, nowMs-2*time.Hour.Milliseconds(), 100, 0)
	oldEnd := l.LogEndOffset()
	appendBatches(t, l, 10, 1, nowMs, 100, 0)
	n, err := l.EnforceRetention()
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("nothing deleted")
	}
	for _, s := range l.Segments() {
		if s.MaxTimestamp < nowMs-time.Hour.Milliseconds() {
			t.Errorf("segment %d with max timestamp %d survived", s.BaseOffset, s.MaxTimestamp)
		}
	}
	if start := l.LogStartOffset(); start > oldEnd || start != l.Segments()[0].BaseOffset {
		t.Fatalf("log start %d, old data ended at %d, first segment %d", start, oldEnd, l.Segments()[0].BaseOffset)
	}
	// Everything expires: the active segment goes too, replaced by an empty one.
	clock.Advance(3 * time.Hour)
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	segs := l.Segments()
	if len(segs) != 1 || segs[0].Size != 0 || segs[0].BaseOffset != 20 || l.LogStartOffset() != 20 {
		t.Fatalf("after full expiry: segments %+v, start %d", segs, l.LogStartOffset())
	}
	// An empty active segment is never deleted.
	clock.Advance(3 * time.Hour)
	if n, err := l.EnforceRetention(); n != 0 || err != nil {
		t.Fatalf("EnforceRetention on empty log = %d, %v", n, err)
	}
	checkInvariants(t, l)
}

func TestRetentionBySize(t *testing.T) {
	for _, tc := range []struct {
		name           string
		retentionBytes int64
		wantMaxSize    int64 // the log keeps at least retentionBytes
	}{
		{"unlimited", -1, math.MaxInt64},
		{"keep a few segments", 2000, 2000 + 600}, // less than one more segment
		{"keep nothing", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.SegmentBytes, cfg.RetentionBytes, cfg.RetentionMs = 600, tc.retentionBytes, -1
			l := openLog(t, t.TempDir(), cfg, Options{})
			appendBatches(t, l, 40, 1, 0, 100, 0)
			before := l.Size()
			if _, err := l.EnforceRetention(); err != nil {
				t.Fatal(err)
			}
			size := l.Size()
			if size > tc.wantMaxSize {
				t.Fatalf("size %d after retention, want at most %d", size, tc.wantMaxSize)
			}
			if tc.retentionBytes >= 0 && size < tc.retentionBytes {
				t.Fatalf("size %d below retention.bytes %d", size, tc.retentionBytes)
			}
			if tc.retentionBytes < 0 && size != before {
				t.Fatalf("unlimited retention deleted data")
			}
			checkInvariants(t, l)
		})
	}
}

func TestRetentionUpperBound(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes, cfg.RetentionBytes = 600, 0
	l := openLog(t, t.TempDir(), cfg, Options{})
	appendBatches(t, l, 20, 1, 0, 100, 0)
	l.SetRetentionUpperBound(8)
	if _, err := l.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	for _, s := range l.Segments()[:1] {
		if s.BaseOffset > 8 {
			t.Fatalf("deleted data at or above the bound: first segment %d", s.BaseOffset)
		}
	}
}

func TestDeletedSegmentFilesOutliveReaders(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes, cfg.FileDeleteDelay = 600, time.Hour
	l := openLog(t, dir, cfg, Options{})
	appendBatches(t, l, 20, 1, 0, 100, 0)
	l.mu.RLock()
	first := l.segs[0]
	first.acquire()
	l.mu.RUnlock()
	if _, err := l.DeleteRecordsBefore(15); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(segmentPath(dir, 0)); !os.IsNotExist(err) {
		t.Fatalf("deleted segment file still under its name: %v", err)
	}
	if _, err := os.Stat(segmentPath(dir, 0) + deletedSuffix); err != nil {
		t.Fatalf("deleted segment file not renamed: %v", err)
	}
	buf := make([]byte, 10)
	if _, err := first.file.ReadAt(buf, 0); err != nil {
		t.Fatalf("reader lost the deleted segment: %v", err)
	}
	first.release()
	l.Close() // ends the delay
	if m, _ := filepath.Glob(filepath.Join(dir, "*"+deletedSuffix)); len(m) != 0 {
		t.Fatalf("deleted files left after Close: %v", m)
	}
}

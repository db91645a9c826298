package log

import (
	"testing"

	"github.com/strata-db/strata/internal/record"
	"github.com/strata-db/strata/internal/record/recordtest"
)

// appendTimestamps appends one batch per slice of record timestamps.
func appendTimestamps(t *testing.T, l *Log, c record.Compression, batches ...[]int64) {
	t.Helper()
	for i, tss := range batches {
		recs := make([]recordtest.Rec, len(tss))
		for j, ts := range tss {
			recs[j] = recordtest.Rec{Value: []byte{byte(i), byte(j)}, TimestampMs: ts}
		}
		if _, err := l.Append(recordtest.Build(c, recs...), 0, -1); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	for _, c := range []record.Compression{record.CompressionNone, record.CompressionZstd} {
		t.Run(c.String(), func(t *testing.T) {
			cfg := testConfig()
			cfg.SegmentBytes, cfg.IndexIntervalBytes = 400, 100
			l := openLog(t, t.TempDir(), cfg, Options{})
			// Offsets 0..2: 100, 300, 200; 3..5: 150, 400, 400; 6..8: 500, 90, 600; then more.
			appendTimestamps(t, l, c, []int64{100, 300, 200}, []int64{150, 400, 400}, []int64{500, 90, 600})
			for i := 0; i < 20; i++ {
				appendTimestamps(t, l, c, []int64{1000 + int64(i*10), 1001 + int64(i*10)})
			}
			for _, tc := range []struct {
				ts      int64
				wantOff int64
				wantTs  int64
				ok      bool
			}{
				{0, 0, 100, true},
				{100, 0, 100, true},
				{101, 1, 300, true},
				{301, 4, 400, true},
				{400, 4, 400, true},
				{401, 6, 500, true},
				{550, 8, 600, true},
				{1000, 9, 1000, true},
				{1095, 29, 1100, true}, // batch 19 of the second group: offsets 47,48 = 1190,1191 ... see below
				{1192, -1, -1, false},
			} {
				if tc.ts == 1095 {
					// Batch i of the second group holds offsets 9+2i (1000+10i) and 10+2i (1001+10i).
					tc.wantOff, tc.wantTs = 9+2*10, 1100
				}
				off, ts, ok, err := l.OffsetForTimestamp(tc.ts)
				if err != nil || ok != tc.ok || off != tc.wantOff || ts != tc.wantTs {
					t.Errorf("OffsetForTimestamp(%d) = (%d, %d, %v, %v), want (%d, %d, %v)", tc.ts, off, ts, ok, err, tc.wantOff, tc.wantTs, tc.ok)
				}
			}
			off, ts, ok, err := l.MaxTimestamp()
			if err != nil || !ok || off != 48 || ts != 1191 {
				t.Errorf("MaxTimestamp = (%d, %d, %v, %v), want (48, 1191)", off, ts, ok, err)
			}
			// Respect the log start offset.
			if _, err := l.DeleteRecordsBefore(5); err != nil {
				t.Fatal(err)
			}
			if off, ts, ok, _ := l.OffsetForTimestamp(0); !ok || off != 5 || ts != 400 {
				t.Errorf("after DeleteRecordsBefore(5): OffsetForTimestamp(0) = (%d, %d, %v), want (5, 400)", off, ts, ok)
			}
		})
	}
}

func TestMaxTimestampEarliestAndLogStart(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(), Options{})
	appendTimestamps(t, l, record.CompressionNone, []int64{10, 900, 20}, []int64{900, 5}, []int64{30})
	if off, ts, ok, err := l.MaxTimestamp(); err != nil || !ok || off != 1 || ts != 900 {
		t.Fatalf("MaxTimestamp = (%d, %d, %v, %v), want the earliest 900 at 1", off, ts, ok, err)
	}
	// With the start past offset 1, the max of what is left is 900 at 3.
	if _, err := l.DeleteRecordsBefore(3); err != nil {
		t.Fatal(err)
	}
	if off, ts, ok, err := l.MaxTimestamp(); err != nil || !ok || off != 3 || ts != 900 {
		t.Fatalf("MaxTimestamp after delete = (%d, %d, %v, %v), want 900 at 3", off, ts, ok, err)
	}
	if _, err := l.DeleteRecordsBefore(4); err != nil {
		t.Fatal(err)
	}
	if off, ts, ok, err := l.MaxTimestamp(); err != nil || !ok || off != 5 || ts != 30 {
		t.Fatalf("MaxTimestamp after delete = (%d, %d, %v, %v), want 30 at 5", off, ts, ok, err)
	}
	empty := openLog(t, t.TempDir(), testConfig(), Options{})
	if _, _, ok, err := empty.MaxTimestamp(); ok || err != nil {
		t.Fatalf("empty log MaxTimestamp ok=%v err=%v", ok, err)
	}
}

func TestTimestampsLogAppendTime(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 300
	l := openLog(t, t.TempDir(), cfg, Options{})
	for i, at := range []int64{5000, 6000, 7000, 7000} {
		b := batchOf(3, int64(100*i), 10, i) // producer timestamps are ignored
		if _, err := l.Append(b, 0, at); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ ts, wantOff, wantTs int64 }{
		{0, 0, 5000}, {5000, 0, 5000}, {5001, 3, 6000}, {6500, 6, 7000},
	} {
		off, ts, ok, err := l.OffsetForTimestamp(tc.ts)
		if err != nil || !ok || off != tc.wantOff || ts != tc.wantTs {
			t.Errorf("OffsetForTimestamp(%d) = (%d, %d, %v, %v), want (%d, %d)", tc.ts, off, ts, ok, err, tc.wantOff, tc.wantTs)
		}
	}
	if off, ts, ok, err := l.MaxTimestamp(); err != nil || !ok || off != 6 || ts != 7000 {
		t.Fatalf("MaxTimestamp = (%d, %d, %v, %v), want 7000 at 6", off, ts, ok, err)
	}
}

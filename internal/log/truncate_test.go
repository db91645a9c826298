package log

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestTruncateTo(t *testing.T) {
	for _, tc := range []struct {
		name    string
		offset  int64
		wantEnd int64
	}{
		{"batch boundary", 20, 20},
		{"inside a batch drops it whole", 23, 20},
		{"segment boundary", 0, 0},
		{"at log end", 120, 120},
		{"beyond log end", 500, 120},
		{"last batch", 119, 116},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			clock := newClock()
			cfg := testConfig()
			cfg.SegmentBytes, cfg.IndexIntervalBytes = 700, 150
			l := openLog(t, dir, cfg, Options{Now: clock.Now})
			var want []stored
			for i := 0; i < 30; i++ { // 4 records per batch, timestamps rise then fall
				ts := int64(1000 + 100*i)
				if i%7 == 6 {
					ts = 10
				}
				want = append(want, appendBatches(t, l, 1, 4, ts, 60, int32(i/10))...)
			}
			if err := l.TruncateTo(tc.offset); err != nil {
				t.Fatal(err)
			}
			if got := l.LogEndOffset(); got != tc.wantEnd {
				t.Fatalf("log end %d, want %d", got, tc.wantEnd)
			}
			checkInvariants(t, l)
			sameBatches(t, readAll(t, l, 0), want[:tc.wantEnd/4])
			if rp := l.RecoveryPoint(); rp > tc.wantEnd {
				t.Fatalf("recovery point %d above the log end %d", rp, tc.wantEnd)
			}
			// The max timestamp of the truncated segment is rebuilt.
			segs := l.Segments()
			last := segs[len(segs)-1]
			wantMax := int64(-1)
			for _, w := range want[last.BaseOffset/4 : tc.wantEnd/4] {
				wantMax = max(wantMax, maxTsOf(w.data))
			}
			if last.MaxTimestamp != wantMax {
				t.Fatalf("max timestamp of segment %d: %d, want %d", last.BaseOffset, last.MaxTimestamp, wantMax)
			}
			// Appending continues densely, survives an unclean reopen.
			more := appendBatches(t, l, 5, 4, 5000, 60, 9)
			want = append(want[:tc.wantEnd/4], more...)
			l2 := openLog(t, dir, cfg, Options{Now: clock.Now})
			checkInvariants(t, l2)
			sameBatches(t, readAll(t, l2, 0), want)
			if e, end := l2.EndOffsetForEpoch(9); e != 9 || end != tc.wantEnd+20 {
				t.Fatalf("epoch 9 after reopen: (%d, %d)", e, end)
			}
		})
	}
}

func maxTsOf(batch []byte) int64 {
	var ts int64
	for i := 0; i < 8; i++ {
		ts = ts<<8 | int64(batch[35+i])
	}
	return ts
}

func TestTruncateBelowLogStart(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig(), Options{})
	appendBatches(t, l, 10, 1, 0, 10, 1)
	if _, err := l.DeleteRecordsBefore(5); err != nil {
		t.Fatal(err)
	}
	if err := l.TruncateTo(3); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 3 || l.LogEndOffset() != 3 || l.LatestEpoch() != -1 {
		t.Fatalf("start %d end %d epoch %d", l.LogStartOffset(), l.LogEndOffset(), l.LatestEpoch())
	}
	appendBatches(t, l, 2, 1, 0, 10, 2)
	checkInvariants(t, l)
	if err := l.TruncateFullyAndStartAt(100); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Read(3, 100, math.MaxInt64, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("old offset readable: %v", err)
	}
	appendBatches(t, l, 1, 1, 0, 10, 2)
	l.Close()
	l2 := openLog(t, dir, testConfig(), Options{CleanShutdown: true})
	if l2.LogStartOffset() != 100 || l2.LogEndOffset() != 101 {
		t.Fatalf("after reopen start %d end %d", l2.LogStartOffset(), l2.LogEndOffset())
	}
}

func TestTimeRoll(t *testing.T) {
	clock := newClock()
	cfg := testConfig()
	cfg.SegmentMs = time.Minute
	l := openLog(t, t.TempDir(), cfg, Options{Now: clock.Now})
	appendBatches(t, l, 3, 1, 0, 10, 0)
	clock.Advance(2 * time.Minute)
	appendBatches(t, l, 1, 1, 0, 10, 0)
	if n := len(l.Segments()); n != 2 {
		t.Fatalf("%d segments, want a time roll", n)
	}
	clock.Advance(2 * time.Minute) // the new segment's clock started at its first append
	appendBatches(t, l, 1, 1, 0, 10, 0)
	if n := len(l.Segments()); n != 3 {
		t.Fatalf("%d segments", n)
	}
}

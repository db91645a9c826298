package log

import "testing"

func TestOffsetIndex(t *testing.T) {
	var x offsetIndex
	for _, e := range [][2]uint32{{5, 100}, {9, 250}, {20, 400}} {
		x.append(e[0], e[1])
	}
	for _, tc := range []struct {
		rel      int64
		from, to int64
	}{
		{0, 0, 100}, {4, 0, 100}, {5, 100, 250}, {8, 100, 250}, {9, 250, 400}, {20, 400, 1000}, {99, 400, 1000},
	} {
		if from, to := x.bounds(tc.rel, 1000); from != tc.from || to != tc.to {
			t.Errorf("bounds(%d) = [%d, %d), want [%d, %d)", tc.rel, from, to, tc.from, tc.to)
		}
	}
	if err := x.validate(1000, 21); err != nil {
		t.Errorf("validate: %v", err)
	}
	for _, tc := range []struct {
		size, maxRel int64
	}{{400, 21}, {1000, 20}} {
		if err := x.validate(tc.size, tc.maxRel); err == nil {
			t.Errorf("validate(%d, %d) accepted an entry out of range", tc.size, tc.maxRel)
		}
	}
	old := x.b
	x.truncate(250)
	if x.len() != 1 || x.lastPosition() != 100 || len(old) != 24 {
		t.Fatalf("truncate(250): %d entries, last position %d, old slice %d bytes", x.len(), x.lastPosition(), len(old))
	}
	bad := offsetIndex{b: []byte{0, 0, 0, 5, 0, 0, 0, 9, 0, 0, 0, 5, 0, 0, 0, 10}}
	if err := bad.validate(1000, 100); err == nil {
		t.Error("validate accepted non-increasing offsets")
	}
}

func TestTimeIndex(t *testing.T) {
	var x timeIndex
	x.maybeAppend(-1, 0) // no timestamp: not indexed
	for _, e := range []struct {
		ts  int64
		rel uint32
	}{{100, 0}, {90, 3}, {200, 5}, {200, 6}, {300, 9}} {
		x.maybeAppend(e.ts, e.rel)
	}
	if x.len() != 3 {
		t.Fatalf("%d entries, want 3 (only growing timestamps)", x.len())
	}
	for _, tc := range []struct {
		ts   int64
		want int
	}{{50, -1}, {100, 0}, {199, 0}, {200, 1}, {1000, 2}} {
		if got := x.floor(tc.ts); got != tc.want {
			t.Errorf("floor(%d) = %d, want %d", tc.ts, got, tc.want)
		}
	}
	if err := x.validate(10); err != nil {
		t.Errorf("validate: %v", err)
	}
	if err := x.validate(9); err == nil {
		t.Error("validate accepted an offset beyond the segment")
	}
	x.truncate(5)
	if ts, rel, ok := x.last(); !ok || ts != 100 || rel != 0 {
		t.Errorf("after truncate(5) last = %d, %d, %v", ts, rel, ok)
	}
}

func TestFlushMessages(t *testing.T) {
	cfg := testConfig()
	cfg.FlushMessages = 3
	l := openLog(t, t.TempDir(), cfg, Options{})
	appendBatches(t, l, 1, 2, 0, 10, 0)
	if rp := l.RecoveryPoint(); rp != 0 {
		t.Fatalf("recovery point %d after 2 messages", rp)
	}
	appendBatches(t, l, 1, 2, 0, 10, 0)
	if rp := l.RecoveryPoint(); rp != 4 {
		t.Fatalf("recovery point %d after 4 messages, want 4", rp)
	}
}

package log

import (
	"reflect"
	"testing"
)

func TestEpochCacheEndOffsetFor(t *testing.T) {
	// Epochs 2 from 10, 4 from 20, 7 from 35; log end 50.
	c := epochCache{entries: []epochEntry{{2, 10}, {4, 20}, {7, 35}}}
	for _, tc := range []struct {
		epoch     int32
		wantEpoch int32
		wantEnd   int64
	}{
		{-1, -1, -1}, // undefined epoch
		{0, 0, 10},   // below the first known epoch: its start offset
		{1, 1, 10},
		{2, 2, 20},
		{3, 2, 20}, // unknown epoch between known ones: the one below
		{4, 4, 35},
		{6, 4, 35},
		{7, 7, 50}, // latest: log end
		{8, -1, -1},
	} {
		e, end := c.endOffsetFor(tc.epoch, 50)
		if e != tc.wantEpoch || end != tc.wantEnd {
			t.Errorf("endOffsetFor(%d) = (%d, %d), want (%d, %d)", tc.epoch, e, end, tc.wantEpoch, tc.wantEnd)
		}
	}
	var empty epochCache
	if e, end := empty.endOffsetFor(3, 50); e != -1 || end != -1 {
		t.Errorf("empty cache: (%d, %d)", e, end)
	}
}

func TestEpochCacheTruncate(t *testing.T) {
	base := []epochEntry{{2, 10}, {4, 20}, {7, 35}}
	for _, tc := range []struct {
		name string
		op   func(*epochCache) bool
		want []epochEntry
		chg  bool
	}{
		{"from end inside", func(c *epochCache) bool { return c.truncateFromEnd(30) }, []epochEntry{{2, 10}, {4, 20}}, true},
		{"from end at start of epoch", func(c *epochCache) bool { return c.truncateFromEnd(20) }, []epochEntry{{2, 10}}, true},
		{"from end beyond", func(c *epochCache) bool { return c.truncateFromEnd(36) }, base, false},
		{"from start inside", func(c *epochCache) bool { return c.truncateFromStart(25) }, []epochEntry{{4, 25}, {7, 35}}, true},
		{"from start exact", func(c *epochCache) bool { return c.truncateFromStart(20) }, []epochEntry{{4, 20}, {7, 35}}, true},
		{"from start before first", func(c *epochCache) bool { return c.truncateFromStart(5) }, base, false},
		{"from start at first", func(c *epochCache) bool { return c.truncateFromStart(10) }, base, false},
		{"from start past all", func(c *epochCache) bool { return c.truncateFromStart(99) }, []epochEntry{{7, 99}}, true},
		{"assign newer", func(c *epochCache) bool { return c.assign(9, 40) }, append(append([]epochEntry(nil), base...), epochEntry{9, 40}), true},
		{"assign same", func(c *epochCache) bool { return c.assign(7, 40) }, base, false},
		{"assign older", func(c *epochCache) bool { return c.assign(5, 40) }, base, false},
		{"assign negative", func(c *epochCache) bool { return c.assign(-1, 40) }, base, false},
	} {
		c := epochCache{entries: append([]epochEntry(nil), base...)}
		chg := tc.op(&c)
		if !reflect.DeepEqual(c.entries, tc.want) || chg != tc.chg {
			t.Errorf("%s: %v (changed %v), want %v (changed %v)", tc.name, c.entries, chg, tc.want, tc.chg)
		}
	}
}

func TestEpochCheckpointFormat(t *testing.T) {
	c := epochCache{entries: []epochEntry{{0, 0}, {3, 17}}}
	data := c.marshal()
	if string(data) != "0\n2\n0 0\n3 17\n" {
		t.Fatalf("marshal = %q", data)
	}
	got, err := unmarshalEpochs(data)
	if err != nil || !reflect.DeepEqual(got, c.entries) {
		t.Fatalf("unmarshal = %v, %v", got, err)
	}
	for _, bad := range []string{"", "1\n0\n", "0\n2\n0 0\n", "0\n2\n3 5\n2 9\n", "0\n1\nx y\n", "0\n1\n-1 0\n"} {
		if _, err := unmarshalEpochs([]byte(bad)); err == nil {
			t.Errorf("unmarshal accepted %q", bad)
		}
	}
}

func TestLogEpochs(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig(), Options{})
	appendBatches(t, l, 2, 5, 0, 10, 1) // epoch 1: 0..9
	appendBatches(t, l, 2, 5, 0, 10, 3) // epoch 3: 10..19
	appendBatches(t, l, 1, 5, 0, 10, 2) // a stale epoch is not recorded
	appendBatches(t, l, 1, 5, 0, 10, 5) // epoch 5: 25..29
	for _, tc := range []struct {
		epoch   int32
		wantE   int32
		wantEnd int64
	}{{0, 0, 0}, {1, 1, 10}, {2, 1, 10}, {3, 3, 25}, {4, 3, 25}, {5, 5, 30}, {6, -1, -1}} {
		if e, end := l.EndOffsetForEpoch(tc.epoch); e != tc.wantE || end != tc.wantEnd {
			t.Errorf("EndOffsetForEpoch(%d) = (%d, %d), want (%d, %d)", tc.epoch, e, end, tc.wantE, tc.wantEnd)
		}
	}
	if err := l.TruncateTo(17); err != nil {
		t.Fatal(err)
	}
	if l.LatestEpoch() != 3 {
		t.Fatalf("latest epoch after truncation %d", l.LatestEpoch())
	}
	if e, end := l.EndOffsetForEpoch(3); e != 3 || end != 15 {
		t.Fatalf("EndOffsetForEpoch(3) after truncating to 17 (batch at 15) = (%d, %d)", e, end)
	}
	if err := l.TruncateTo(12); err != nil { // the whole epoch 3 goes
		t.Fatal(err)
	}
	if l.LatestEpoch() != 1 || l.LogEndOffset() != 10 {
		t.Fatalf("after TruncateTo(12): latest epoch %d, log end %d", l.LatestEpoch(), l.LogEndOffset())
	}
	appendBatches(t, l, 1, 5, 0, 10, 3)
	l.Close()
	l2 := openLog(t, dir, testConfig(), Options{CleanShutdown: true})
	if got := l2.epochs.entries; !reflect.DeepEqual(got, []epochEntry{{1, 0}, {3, 10}}) {
		t.Fatalf("epochs after reopen %v", got)
	}
}

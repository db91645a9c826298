package log

import (
	"errors"
	"math"
	"os"
	"testing"

	"github.com/strata-db/strata/internal/record"
	"github.com/strata-db/strata/internal/record/recordtest"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
	}{
		{"tiny segment", func(c *Config) { c.SegmentBytes = 10 }},
		{"huge segment", func(c *Config) { c.SegmentBytes = math.MaxInt32 + 1 }},
		{"zero segment.ms", func(c *Config) { c.SegmentMs = 0 }},
		{"tiny index", func(c *Config) { c.SegmentIndexBytes = 8 }},
		{"negative interval", func(c *Config) { c.IndexIntervalBytes = -1 }},
		{"zero flush messages", func(c *Config) { c.FlushMessages = 0 }},
		{"negative delay", func(c *Config) { c.FileDeleteDelay = -1 }},
		{"negative delete retention", func(c *Config) { c.DeleteRetention = -1 }},
		{"negative min lag", func(c *Config) { c.MinCompactionLag = -1 }},
		{"zero max lag", func(c *Config) { c.MaxCompactionLag = 0 }},
		{"ratio above 1", func(c *Config) { c.MinCleanableDirtyRatio = 1.5 }},
		{"negative max message", func(c *Config) { c.MaxMessageBytes = -1 }},
	} {
		c := DefaultConfig()
		tc.mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", tc.name, c)
		}
	}
}

func TestAppendReadAcrossRolls(t *testing.T) {
	for _, tc := range []struct {
		name         string
		segmentBytes int64
		interval     int
		indexBytes   int
		batches      int
		recs         int
		valueSize    int
	}{
		{"one segment", 1 << 20, 4096, 10 << 20, 20, 3, 50},
		{"roll every few batches", 2000, 256, 10 << 20, 50, 2, 100},
		{"batch bigger than segment", 100, 0, 10 << 20, 10, 5, 200},
		{"dense index", 5000, 0, 10 << 20, 60, 1, 10},
		{"full index rolls", 1 << 20, 0, 48, 30, 1, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.SegmentBytes, cfg.IndexIntervalBytes, cfg.SegmentIndexBytes = tc.segmentBytes, tc.interval, tc.indexBytes
			l := openLog(t, t.TempDir(), cfg, Options{})
			want := appendBatches(t, l, tc.batches, tc.recs, 1000, tc.valueSize, 1)
			if got := l.LogEndOffset(); got != int64(tc.batches*tc.recs) {
				t.Fatalf("log end %d, want %d", got, tc.batches*tc.recs)
			}
			for i, w := range want {
				if w.base != int64(i*tc.recs) {
					t.Fatalf("batch %d got base %d", i, w.base)
				}
			}
			sameBatches(t, readAll(t, l, 0), want)
			checkInvariants(t, l)
			segs := l.Segments()
			for _, s := range segs[:len(segs)-1] {
				if s.Size > tc.segmentBytes && s.Size > int64(len(want[0].data)) {
					t.Errorf("segment %d has %d bytes, limit %d", s.BaseOffset, s.Size, tc.segmentBytes)
				}
			}
			if tc.indexBytes == 48 && len(segs) < 2 {
				t.Errorf("a full index should have rolled: %d segments", len(segs))
			}
		})
	}
}

func TestAppendAssignsOffsetsEpochAndTime(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(), Options{})
	b := append(batchOf(3, 100, 10, 0), batchOf(2, 200, 10, 1)...)
	info, err := l.Append(b, 7, 5555)
	if err != nil {
		t.Fatal(err)
	}
	if info != (AppendInfo{FirstOffset: 0, LastOffset: 4, LogAppendTimeMs: 5555, LogStartOffset: 0}) {
		t.Fatalf("info %+v", info)
	}
	got, err := l.Read(0, 1<<20, math.MaxInt64, false)
	if err != nil {
		t.Fatal(err)
	}
	var bases []int64
	record.Split(got, func(batch []byte, h *record.Header) error {
		if _, err := record.Verify(batch); err != nil {
			t.Errorf("stored batch: %v", err)
		}
		if h.LeaderEpoch != 7 || !h.LogAppendTime() || h.MaxTimestamp != 5555 {
			t.Errorf("batch %d: epoch %d, log append time %v, max ts %d", h.BaseOffset, h.LeaderEpoch, h.LogAppendTime(), h.MaxTimestamp)
		}
		bases = append(bases, h.BaseOffset)
		return nil
	})
	if len(bases) != 2 || bases[0] != 0 || bases[1] != 3 {
		t.Fatalf("bases %v", bases)
	}
	if l.LatestEpoch() != 7 {
		t.Fatalf("latest epoch %d", l.LatestEpoch())
	}
}

func TestAppendRejectsMalformed(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(), Options{})
	good := batchOf(2, 0, 10, 0)
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"truncated", good[:len(good)-3]},
		{"trailing bytes", append(append([]byte(nil), good...), 1, 2, 3)},
	} {
		if _, err := l.Append(tc.b, 0, -1); err == nil {
			t.Errorf("%s: Append accepted it", tc.name)
		}
	}
	if l.LogEndOffset() != 0 || l.Size() != 0 {
		t.Fatalf("rejected appends changed the log: end %d, size %d", l.LogEndOffset(), l.Size())
	}
}

func TestReadLandsMidSegment(t *testing.T) {
	cfg := testConfig()
	cfg.IndexIntervalBytes, cfg.SegmentBytes = 300, 3000
	l := openLog(t, t.TempDir(), cfg, Options{})
	want := appendBatches(t, l, 80, 3, 0, 40, 0)
	for off := int64(0); off < l.LogEndOffset(); off++ {
		b, err := l.Read(off, 1, math.MaxInt64, true)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		w := want[off/3]
		if string(b) != string(w.data) {
			t.Fatalf("Read(%d) returned %d bytes, want the batch at %d", off, len(b), w.base)
		}
	}
}

func TestReadLimits(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(), Options{})
	want := appendBatches(t, l, 5, 2, 0, 100, 0) // offsets 0..9, batches at 0,2,4,6,8
	size := len(want[0].data)
	for _, tc := range []struct {
		name      string
		offset    int64
		maxBytes  int
		maxOffset int64
		minOne    bool
		batches   []int // indexes into want
	}{
		{"all", 0, 1 << 20, math.MaxInt64, false, []int{0, 1, 2, 3, 4}},
		{"mid batch offset", 3, 1 << 20, math.MaxInt64, false, []int{1, 2, 3, 4}},
		{"maxBytes cuts at whole batches", 0, 2*size + size/2, math.MaxInt64, false, []int{0, 1}},
		{"maxBytes below one batch", 0, size - 1, math.MaxInt64, false, nil},
		{"minOne returns one oversized batch", 0, size - 1, math.MaxInt64, true, []int{0}},
		{"minOne with zero bytes", 4, 0, math.MaxInt64, true, []int{2}},
		{"maxOffset excludes batches at or above it", 0, 1 << 20, 6, false, []int{0, 1, 2}},
		{"maxOffset inside a batch keeps it", 0, 1 << 20, 5, false, []int{0, 1, 2}},
		{"maxOffset at offset", 4, 1 << 20, 4, true, nil},
		{"log end", 10, 1 << 20, math.MaxInt64, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := l.Read(tc.offset, tc.maxBytes, tc.maxOffset, tc.minOne)
			if err != nil {
				t.Fatal(err)
			}
			var exp []byte
			for _, i := range tc.batches {
				exp = append(exp, want[i].data...)
			}
			if string(got) != string(exp) {
				t.Fatalf("got %d bytes, want %d (batches %v)", len(got), len(exp), tc.batches)
			}
		})
	}
}

func TestReadOutOfRange(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(), Options{})
	appendBatches(t, l, 3, 2, 0, 10, 0)
	if _, err := l.DeleteRecordsBefore(2); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int64{-1, 0, 1, 7, 100} {
		if _, err := l.Read(off, 100, math.MaxInt64, true); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Errorf("Read(%d): %v, want ErrOffsetOutOfRange", off, err)
		}
	}
	if b, err := l.Read(6, 100, math.MaxInt64, true); err != nil || len(b) != 0 {
		t.Errorf("Read(log end) = %d bytes, %v", len(b), err)
	}
}

func TestReadCorruptBatch(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig(), Options{})
	want := appendBatches(t, l, 4, 1, 0, 30, 0)
	// Corrupt the third batch's value behind the log's back.
	flipByte(t, segmentPath(dir, 0), int64(2*len(want[0].data)+record.HeaderSize+5))
	got, err := l.Read(0, 1<<20, math.MaxInt64, false)
	if err != nil {
		t.Fatalf("Read before the bad batch: %v", err)
	}
	if len(got) != 2*len(want[0].data) {
		t.Fatalf("got %d bytes, want the 2 good batches", len(got))
	}
	if _, err := l.Read(2, 1<<20, math.MaxInt64, false); !errors.Is(err, ErrCorruptData) {
		t.Fatalf("Read at the bad batch: %v, want ErrCorruptData", err)
	}
}

func TestAppendReplicated(t *testing.T) {
	l := openLog(t, t.TempDir(), testConfig(), Options{})
	var all []byte
	for i, e := range []int32{1, 1, 3} {
		b := recordtest.BuildWith(recordtest.BatchOptions{BaseOffset: int64(i * 2), LeaderEpoch: e},
			recordtest.Rec{Value: []byte("a")}, recordtest.Rec{Value: []byte("b")})
		all = append(all, b...)
	}
	info, err := l.AppendReplicated(all)
	if err != nil {
		t.Fatal(err)
	}
	if info.FirstOffset != 0 || info.LastOffset != 5 || l.LatestEpoch() != 3 {
		t.Fatalf("info %+v, latest epoch %d", info, l.LatestEpoch())
	}
	if e, off := l.EndOffsetForEpoch(1); e != 1 || off != 4 {
		t.Fatalf("EndOffsetForEpoch(1) = %d, %d", e, off)
	}
	stale := recordtest.BuildWith(recordtest.BatchOptions{BaseOffset: 3}, recordtest.Rec{Value: []byte("x")})
	if _, err := l.AppendReplicated(stale); err == nil {
		t.Fatal("AppendReplicated accepted an offset below the log end")
	}
}

// TestReadDoesNotSkipDamagedBatch: after a clean shutdown files are
// trusted, so damage below the last index entry is found only when read. A
// batch whose offset delta was damaged must fail the read of an offset
// inside it, not make the read start at the next batch.
func TestReadDoesNotSkipDamagedBatch(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.IndexIntervalBytes = 1 << 20 // one index entry: reads scan from the segment start
	l := openLog(t, dir, cfg, Options{})
	one := int64(len(batchOf(3, 1000, 20, 0)))
	// Six batches per segment: the damage below lands in a closed segment,
	// which a clean start trusts without scanning.
	cfg.SegmentBytes = 6 * one
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	batches := appendBatches(t, l, 10, 3, 1000, 20, 0)
	if segs := l.Segments(); len(segs) < 2 || segs[1].BaseOffset != batches[6].base {
		t.Fatalf("segments %+v", segs)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Damage the lastOffsetDelta (bytes 23..26) of batch 4 to 0.
	var pos int64
	for _, b := range batches[:4] {
		pos += int64(len(b.data))
	}
	f, err := os.OpenFile(segmentPath(dir, 0), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0, 0, 0, 0}, pos+23); err != nil {
		t.Fatal(err)
	}
	f.Close()

	l = openLog(t, dir, cfg, Options{CleanShutdown: true})
	defer l.Close()
	target := batches[4].base + 1
	got, err := l.Read(target, 1<<20, l.LogEndOffset(), true)
	if !errors.Is(err, ErrCorruptData) {
		t.Fatalf("read at %d inside the damaged batch: err %v, %d bytes", target, err, len(got))
	}
	// Batches before it still read.
	if got, err := l.Read(batches[3].base, 1<<20, l.LogEndOffset(), true); err != nil || len(got) == 0 {
		t.Fatalf("read before the damage: %v", err)
	}
}

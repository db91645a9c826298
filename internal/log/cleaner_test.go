package log

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/record"
	"github.com/strata-db/strata/internal/record/recordtest"
)

// TestCleanKeepsLatestPerKey writes random updates, deletes and keyless
// records over a few keys with each kind of batch, cleans, and checks that
// exactly the latest record of each key is left below the cleaned end,
// with its offset, value and timestamp, that everything after it is
// untouched, and that this holds after reopening.
func TestCleanKeepsLatestPerKey(t *testing.T) {
	type batchKind func(i int) recordtest.BatchOptions
	codec := func(c record.Compression) batchKind {
		return func(int) recordtest.BatchOptions { return recordtest.BatchOptions{Compression: c} }
	}
	for _, tc := range []struct {
		name string
		kind batchKind
	}{
		{"plain", codec(record.CompressionNone)},
		{"gzip", codec(record.CompressionGzip)},
		{"snappy", codec(record.CompressionSnappy)},
		{"lz4", codec(record.CompressionLZ4)},
		{"zstd", codec(record.CompressionZstd)},
		{"idempotent", func(i int) recordtest.BatchOptions {
			return recordtest.BatchOptions{Producer: &recordtest.Producer{ID: int64(1 + i%3), BaseSequence: int32(i)}}
		}},
		{"log append time", func(i int) recordtest.BatchOptions {
			// Runs of three batches share an append time, so some merge.
			return recordtest.BatchOptions{LogAppendTime: true, AppendTimeMs: 1_700_000_000_000 + int64(i/3)}
		}},
		{"leader epochs", func(i int) recordtest.BatchOptions {
			return recordtest.BatchOptions{LeaderEpoch: int32(i / 10), Compression: record.CompressionLZ4}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := testSeed(t)
			dir := t.TempDir()
			cfg := compactConfig()
			cfg.MaxMessageBytes = 300 // several merged batches per segment
			l := openLog(t, dir, cfg, Options{})
			var written []kv
			seq := 0
			// Producer batches continue their producer's sequence, as the
			// log checks.
			producerSeqs := map[int64]int32{}
			kind := func(i, n int) recordtest.BatchOptions {
				o := tc.kind(i)
				if o.Producer != nil {
					p := *o.Producer
					p.BaseSequence = producerSeqs[p.ID]
					producerSeqs[p.ID] += int32(n)
					o.Producer = &p
				}
				return o
			}
			for i := range 60 {
				if i > 0 && i%6 == 0 {
					rollNow(t, l)
				}
				recs := randomBatch(rng, 20, 8, 1_600_000_000_000+int64(i), &seq)
				written = append(written, appendKVs(t, l, kind(i, len(recs)), recs...)...)
			}
			rollNow(t, l)
			end := l.LogEndOffset()
			written = append(written, appendKVs(t, l, kind(60, 1), put("k1", "active", 1_600_000_000_100))...)
			before, epochs := l.Size(), l.LatestEpoch()

			res := mustClean(t, newTestCleaner(t, 1<<20), l)
			if res.End != end || res.FirstDirty != 0 || res.BytesAfter >= res.BytesBefore || res.RecordsRemoved == 0 {
				t.Fatalf("result %+v, want end %d and fewer bytes", res, end)
			}
			want := compacted(written, end, true)
			sameKVs(t, readKVs(t, l), want)
			checkInvariants(t, l)
			if l.Size() >= before || l.LatestEpoch() != epochs {
				t.Fatalf("size %d (before %d), latest epoch %d (before %d)", l.Size(), before, l.LatestEpoch(), epochs)
			}
			if again, err := newTestCleaner(t, 1<<20).Clean(t.Context(), l); err != nil || again.Cleaned {
				t.Fatalf("second pass without dirty data: %+v, %v", again, err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			for _, clean := range []bool{true, false} {
				l2 := openLog(t, dir, cfg, Options{CleanShutdown: clean})
				sameKVs(t, readKVs(t, l2), want)
				checkInvariants(t, l2)
				if l2.cleanerCp != end {
					t.Fatalf("checkpoint %d after reopening, want %d", l2.cleanerCp, end)
				}
				abandon(l2)
			}
		})
	}
}

// TestCleanTombstones: a tombstone stays (and the key's older records go)
// until delete.retention.ms after the pass that first kept it, whatever
// its own timestamp; a later pass then removes it.
func TestCleanTombstones(t *testing.T) {
	clock := newClock()
	now := clock.Now().UnixMilli()
	l := openLog(t, t.TempDir(), compactConfig(), Options{Now: clock.Now})
	c := newTestCleaner(t, 1<<20)
	var written []kv
	written = append(written, appendKVs(t, l, recordtest.BatchOptions{}, put("a", "1", now), put("b", "1", now), put("c", "1", now))...)
	rollNow(t, l)
	written = append(written, appendKVs(t, l, recordtest.BatchOptions{}, del("a", now), put("b", "2", now))...)
	written = append(written, appendKVs(t, l, recordtest.BatchOptions{}, del("c", now-10*24*3600*1000))...) // an old timestamp
	rollNow(t, l)
	end := l.LogEndOffset()
	written = append(written, appendKVs(t, l, recordtest.BatchOptions{}, put("d", "1", now))...)

	mustClean(t, c, l)
	sameKVs(t, readKVs(t, l), compacted(written, end, true))
	horizons := 0
	for _, b := range readAll(t, l, 0) {
		h, _ := record.ParseHeader(b.data)
		if hz := h.DeleteHorizonMs(); hz >= 0 {
			horizons++
			if hz != now+time.Hour.Milliseconds() {
				t.Fatalf("delete horizon %d, want %d", hz, now+time.Hour.Milliseconds())
			}
		}
	}
	if horizons == 0 {
		t.Fatal("no batch carries a delete horizon")
	}
	clock.Advance(59 * time.Minute)
	if res, err := c.Clean(t.Context(), l); err != nil || res.Cleaned {
		t.Fatalf("pass before the horizon: %+v, %v", res, err)
	}
	clock.Advance(2 * time.Minute)
	if !l.cleanable().due {
		t.Fatal("log with a passed tombstone horizon is not due")
	}
	mustClean(t, c, l)
	sameKVs(t, readKVs(t, l), compacted(written, end, false))
	if l.cleanable().due {
		t.Fatal("log still due after removing its tombstones")
	}
	checkInvariants(t, l)
}

// TestCleanMinCompactionLag: nothing from the first segment holding a
// record newer than min.compaction.lag.ms on is cleaned.
func TestCleanMinCompactionLag(t *testing.T) {
	clock := newClock()
	now := clock.Now().UnixMilli()
	cfg := compactConfig()
	cfg.MinCompactionLag = time.Hour
	l := openLog(t, t.TempDir(), cfg, Options{Now: clock.Now})
	c := newTestCleaner(t, 1<<20)
	var written []kv
	for i, ts := range []int64{now - 3*3600_000, now - 2*3600_000, now - 1800_000, now - 4*3600_000} {
		written = append(written, appendKVs(t, l, recordtest.BatchOptions{}, put("k", fmt.Sprint(i), ts), put("k", fmt.Sprint(i)+"'", ts))...)
		rollNow(t, l)
	}
	segs := l.Segments()
	res := mustClean(t, c, l)
	if res.End != segs[2].BaseOffset {
		t.Fatalf("cleaned up to %d, want %d (the segment within the lag)", res.End, segs[2].BaseOffset)
	}
	sameKVs(t, readKVs(t, l), compacted(written, res.End, true))
	clock.Advance(time.Hour)
	res = mustClean(t, c, l)
	if res.End != l.LogEndOffset() {
		t.Fatalf("cleaned up to %d, want the log end %d", res.End, l.LogEndOffset())
	}
	sameKVs(t, readKVs(t, l), compacted(written, res.End, true))
}

// TestCleanDirtyRatioAndMaxLag: a pass needs min.cleanable.dirty.ratio of
// the cleanable bytes to be dirty, or dirty data older than
// max.compaction.lag.ms.
func TestCleanDirtyRatioAndMaxLag(t *testing.T) {
	clock := newClock()
	now := clock.Now().UnixMilli()
	cfg := compactConfig()
	cfg.MinCleanableDirtyRatio = 0.5
	l := openLog(t, t.TempDir(), cfg, Options{Now: clock.Now})
	c := newTestCleaner(t, 1<<20)
	key := 0
	segment := func(n int) {
		for range n {
			appendKVs(t, l, recordtest.BatchOptions{}, put(fmt.Sprintf("k%d", key), "value", now))
			key++
		}
		rollNow(t, l)
	}
	for range 4 {
		segment(10)
	}
	mustClean(t, c, l) // all dirty
	segment(10)
	st := l.cleanable()
	if st.due || st.ratio <= 0 || st.ratio >= 0.5 {
		t.Fatalf("one new segment of five: %+v", st)
	}
	if res, err := c.Clean(t.Context(), l); err != nil || res.Cleaned {
		t.Fatalf("pass below the ratio: %+v, %v", res, err)
	}
	segment(30)
	if st := l.cleanable(); !st.due || st.ratio < 0.5 {
		t.Fatalf("dirty half: %+v", st)
	}
	mustClean(t, c, l)

	segment(5)
	cfg.MaxCompactionLag = time.Hour
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if l.cleanable().due {
		t.Fatal("due before max.compaction.lag.ms")
	}
	clock.Advance(61 * time.Minute)
	if !l.cleanable().due {
		t.Fatal("not due after max.compaction.lag.ms")
	}
	mustClean(t, c, l)
}

// TestCleanProducerAndControlBatches: batches with a producer id keep
// their offsets and sequence numbers; an emptied one goes only if a later
// batch of its producer was mapped; control and transactional batches stay
// byte for byte.
func TestCleanProducerAndControlBatches(t *testing.T) {
	l := openLog(t, t.TempDir(), compactConfig(), Options{})
	p1 := func(seq int32) recordtest.BatchOptions {
		return recordtest.BatchOptions{Producer: &recordtest.Producer{ID: 1, BaseSequence: seq}}
	}
	var written []kv
	written = append(written, appendKVs(t, l, p1(0), put("a", "1", 1), put("b", "1", 1))...)   // 0-1: emptied, p1 has a later batch
	written = append(written, appendKVs(t, l, recordtest.BatchOptions{}, put("a", "2", 2))...) // 2
	written = append(written, appendKVs(t, l, p1(2), put("b", "2", 3), put("e", "1", 3))...)   // 3-4
	written = append(written, appendKVs(t, l, recordtest.BatchOptions{Producer: &recordtest.Producer{ID: 2, BaseSequence: 5}},
		put("c", "1", 4))...) // 5: emptied, p2's last batch
	written = append(written, appendKVs(t, l, recordtest.BatchOptions{}, put("c", "2", 5), put("e", "2", 5))...) // 6-7
	txn := recordtest.Producer{ID: 3}
	written = append(written, appendKVs(t, l, recordtest.BatchOptions{Producer: &txn, Transactional: true}, put("a", "txn", 6))...) // 8
	marker := recordtest.BuildMarker(txn, 0, true, 0, 7)
	if _, err := l.Append(marker, 0, -1); err != nil { // 9
		t.Fatal(err)
	}
	rollNow(t, l)
	before := readAll(t, l, 0)
	mustClean(t, newTestCleaner(t, 1<<20), l)

	// The transactional record does not supersede a:2; the control batch
	// holds no data record.
	var want []kv
	for _, r := range written {
		switch r.off {
		case 2, 3, 6, 7, 8:
			want = append(want, r)
		}
	}
	sameKVs(t, readKVs(t, l), want)
	checkInvariants(t, l)
	type batchWant struct {
		base, last int64
		pid        int64
		seq        int32
		records    int32
		same       bool // byte for byte as before
	}
	wantBatches := []batchWant{
		{0, 2, -1, -1, 1, false}, // a:2 absorbing p1's emptied batch
		{3, 4, 1, 2, 1, false},   // e:1 gone, b:2 stays
		{5, 5, 2, 5, 0, false},   // kept empty: the last of producer 2
		{6, 7, -1, -1, 2, true},
		{8, 8, 3, 0, 1, true},
		{9, 9, 3, 0, 1, true},
	}
	got := readAll(t, l, 0)
	if len(got) != len(wantBatches) {
		t.Fatalf("%d batches, want %d", len(got), len(wantBatches))
	}
	for i, w := range wantBatches {
		h, _ := record.ParseHeader(got[i].data)
		if h.BaseOffset != w.base || h.LastOffset() != w.last || h.ProducerID != w.pid || h.BaseSequence != w.seq || h.NumRecords != w.records {
			t.Errorf("batch %d: %+v, want %+v", i, h, w)
		}
		if w.same {
			found := false
			for _, b := range before {
				found = found || bytes.Equal(b.data, got[i].data)
			}
			if !found {
				t.Errorf("batch %d at %d changed", i, w.base)
			}
		}
	}
}

// TestCleanMapFull: with an offset map smaller than the dirty keys, a pass
// cleans up to where the map filled; later passes go on from there.
func TestCleanMapFull(t *testing.T) {
	rng := testSeed(t)
	dir := t.TempDir()
	l := openLog(t, dir, compactConfig(), Options{})
	var written []kv
	seq := 0
	for i := range 40 {
		if i%5 == 4 {
			rollNow(t, l)
		}
		written = append(written, appendKVs(t, l, recordtest.BatchOptions{}, randomBatch(rng, 200, 6, int64(i), &seq)...)...)
	}
	rollNow(t, l)
	end := l.LogEndOffset()
	c := newTestCleaner(t, 64*mapSlotSize) // 48 keys
	res := mustClean(t, c, l)
	if res.End >= end || res.End <= 0 {
		t.Fatalf("first pass ended at %d, want inside (0, %d)", res.End, end)
	}
	sameKVs(t, readKVs(t, l), compacted(written, res.End, true))
	if cp, err := readOffsetFile(l.fs, dir, cleanerCheckpointFile); err != nil || cp != res.End {
		t.Fatalf("checkpoint file %d (%v), want %d", cp, err, res.End)
	}
	checkInvariants(t, l)
	passes := 1
	for res.End < end {
		next := mustClean(t, c, l)
		if next.FirstDirty != res.End || next.End <= res.End {
			t.Fatalf("pass %d: %+v after %+v", passes+1, next, res)
		}
		res = next
		passes++
		sameKVs(t, readKVs(t, l), compacted(written, res.End, true))
		checkInvariants(t, l)
	}
	t.Logf("%d passes", passes)
	if _, err := NewCleaner(CleanerConfig{DedupeBufferBytes: 2 * mapSlotSize}); err == nil {
		t.Fatal("a dedupe buffer without room accepted")
	}
}

// TestCleanEmptiedSegment: a segment whose records are all removed keeps
// its offset range as one empty batch; reads and timestamp lookups pass
// over it.
func TestCleanEmptiedSegment(t *testing.T) {
	cfg := compactConfig()
	l := openLog(t, t.TempDir(), cfg, Options{})
	var written []kv
	for seg := range 3 {
		for i := range 5 {
			ts := int64(1000*seg + i)
			written = append(written, appendKVs(t, l, recordtest.BatchOptions{}, put(fmt.Sprintf("k%d", i%2), fmt.Sprintf("%d-%d", seg, i), ts))...)
		}
		rollNow(t, l)
	}
	// Groups of one segment each: no segment can take another.
	cfg.SegmentBytes = l.Segments()[0].Size
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	segsBefore := l.Segments()
	mustClean(t, newTestCleaner(t, 1<<20), l)
	sameKVs(t, readKVs(t, l), compacted(written, 15, true))
	checkInvariants(t, l)
	segs := l.Segments()
	for i := range segsBefore {
		if segs[i].BaseOffset != segsBefore[i].BaseOffset || segs[i].NextOffset != segsBefore[i].NextOffset {
			t.Fatalf("segment %d: %+v, was %+v", i, segs[i], segsBefore[i])
		}
	}
	b, err := l.Read(2, 1<<20, math.MaxInt64, true)
	if err != nil {
		t.Fatal(err)
	}
	h, err := record.Verify(b)
	if err != nil || h.BaseOffset != 0 || h.LastOffset() != 4 || h.NumRecords != 0 || len(b) != record.HeaderSize {
		t.Fatalf("read at 2: %d bytes, %+v, %v", len(b), h, err)
	}
	appendKVs(t, l, recordtest.BatchOptions{}, put("x", "late", 2005)) // offset 15
	for _, tc := range []struct{ ts, off, got int64 }{
		{0, 13, 2003}, // segments 0 and 1 hold no record: the first retained one
		{1004, 13, 2003},
		{2004, 14, 2004},
		{2005, 15, 2005},
	} {
		off, ts, ok, err := l.OffsetForTimestamp(tc.ts)
		if err != nil || !ok || off != tc.off || ts != tc.got {
			t.Errorf("OffsetForTimestamp(%d) = %d, %d, %v, %v; want %d, %d", tc.ts, off, ts, ok, err, tc.off, tc.got)
		}
	}
	if off, ts, ok, err := l.MaxTimestamp(); err != nil || !ok || off != 15 || ts != 2005 {
		t.Errorf("MaxTimestamp = %d, %d, %v, %v", off, ts, ok, err)
	}
}

// TestCleanMergesIntoWideBatches: with segments grouped, plain batches
// merge; a merged batch may start with a record whose delta is above 0,
// and no batch spans more than maxBatchDelta+1 offsets (empty batches fill
// wide gaps).
func TestCleanMergesIntoWideBatches(t *testing.T) {
	defer func(d int64) { maxBatchDelta = d }(maxBatchDelta)
	maxBatchDelta = 3
	l := openLog(t, t.TempDir(), compactConfig(), Options{})
	var written []kv
	for i := range 30 {
		if i == 15 {
			rollNow(t, l)
		}
		written = append(written, appendKVs(t, l, recordtest.BatchOptions{}, put("a", fmt.Sprint(i), int64(i)))...)
		if i%10 == 9 {
			written = append(written, appendKVs(t, l, recordtest.BatchOptions{}, put(fmt.Sprint("b", i), "x", int64(i)))...)
		}
	}
	// A kept record after a short gap: the merged batch takes the gap.
	for _, r := range []kv{put("c", "1", 40), put("c", "2", 41), put("d", "1", 42), put("c", "3", 43)} {
		written = append(written, appendKVs(t, l, recordtest.BatchOptions{}, r)...)
	}
	rollNow(t, l)
	end := l.LogEndOffset()
	res := mustClean(t, newTestCleaner(t, 1<<20), l)
	if res.Groups != 1 || res.Segments != 2 {
		t.Fatalf("result %+v: want two segments in one", res)
	}
	sameKVs(t, readKVs(t, l), compacted(written, end, true))
	checkInvariants(t, l)
	firstDeltaAboveZero := false
	for _, b := range readAll(t, l, 0) {
		if b.last-b.base > maxBatchDelta {
			t.Fatalf("batch %d..%d wider than %d offsets", b.base, b.last, maxBatchDelta+1)
		}
		if kvs := batchKVs(t, b.data); len(kvs) > 0 && kvs[0].off > b.base {
			firstDeltaAboveZero = true
		}
	}
	if !firstDeltaAboveZero {
		t.Fatal("no batch starts after its base offset")
	}
}

// TestOpenRemovesCleanerLeftovers: *.cleaned files go, index .swap files
// without a log swap go, a damaged log swap goes and leaves the segments.
func TestOpenRemovesCleanerLeftovers(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, compactConfig(), Options{})
	var written []kv
	written = append(written, appendKVs(t, l, recordtest.BatchOptions{}, put("a", "1", 1), put("a", "2", 2))...)
	rollNow(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	seg := filepath.Join(dir, segmentFileName(0, logExt))
	data := readFile(t, seg)
	writeFile(t, seg+cleanedSuffix, data)
	writeFile(t, filepath.Join(dir, segmentFileName(0, indexExt))+swapSuffix, nil)
	damaged := bytes.Clone(data)
	damaged[len(damaged)-1] ^= 1
	writeFile(t, seg+swapSuffix, damaged)
	l2 := openLog(t, dir, compactConfig(), Options{CleanShutdown: true})
	sameKVs(t, readKVs(t, l2), written)
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if filepath.Ext(e.Name()) == cleanedSuffix || filepath.Ext(e.Name()) == swapSuffix {
			t.Errorf("leftover %s", e.Name())
		}
	}
}

func TestOffsetMap(t *testing.T) {
	m, err := newOffsetMap(4096 * mapSlotSize)
	if err != nil {
		t.Fatal(err)
	}
	if m.capacity() != 3072 {
		t.Fatalf("capacity %d", m.capacity())
	}
	for round := range 2 {
		m.reset()
		for i := range m.capacity() {
			if !m.room(1) {
				t.Fatalf("round %d: no room at %d", round, i)
			}
			m.put(fmt.Appendf(nil, "key-%d", i%2000), int64(i))
		}
		if m.n != 2000 || !m.room(1072) || m.room(1073) || len(m.slots) != 4096 {
			t.Fatalf("%d keys in %d slots", m.n, len(m.slots))
		}
		for i := range 2000 {
			want := int64(i)
			if i < 3072-2000 {
				want = int64(i + 2000)
			}
			if got := m.get(fmt.Appendf(nil, "key-%d", i)); got != want {
				t.Fatalf("key-%d: %d, want %d", i, got, want)
			}
		}
		if m.get([]byte("absent")) != -1 {
			t.Fatal("absent key found")
		}
	}
}

func TestThrottle(t *testing.T) {
	th := throttle{rate: 1 << 20, now: time.Now}
	start := time.Now()
	for range 30 {
		if err := th.wait(t.Context(), 10<<10); err != nil {
			t.Fatal(err)
		}
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 2*time.Second {
		t.Fatalf("300 KiB at 1 MiB/s took %v", d)
	}
	unlimited := throttle{now: time.Now}
	if err := unlimited.wait(t.Context(), 1<<30); err != nil {
		t.Fatal(err)
	}
}

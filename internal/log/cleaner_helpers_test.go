package log

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/record"
	"github.com/strata-db/strata/internal/record/recordtest"
)

// compactConfig is testConfig for a compacted log that is due as soon as
// anything is dirty, without retention.
func compactConfig() Config {
	c := testConfig()
	c.Compact = true
	c.MinCleanableDirtyRatio = 0
	c.DeleteRetention = time.Hour
	c.RetentionMs = -1
	return c
}

func newTestCleaner(t testing.TB, dedupeBytes int64) *Cleaner {
	t.Helper()
	c, err := NewCleaner(CleanerConfig{DedupeBufferBytes: dedupeBytes, IOMaxBytesPerSecond: -1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rollNow closes the active segment.
func rollNow(t testing.TB, l *Log) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.rollLocked("test"); err != nil {
		t.Fatal(err)
	}
}

// mustClean runs a pass that must happen.
func mustClean(t testing.TB, c *Cleaner, l *Log) CleanResult {
	t.Helper()
	res, err := c.Clean(t.Context(), l)
	if err != nil {
		t.Fatalf("Clean: %v", err)
	}
	if !res.Cleaned {
		t.Fatalf("Clean: log not due (%+v)", l.cleanable())
	}
	return res
}

// testSeed returns a random source whose seed is logged.
func testSeed(t testing.TB) *rand.Rand {
	t.Helper()
	s := rand.Uint64()
	if env := os.Getenv("STRATA_TEST_SEED"); env != "" {
		s, _ = strconv.ParseUint(env, 10, 64)
	}
	t.Logf("seed %d (replay with STRATA_TEST_SEED=%d)", s, s)
	return rand.New(rand.NewPCG(s, s))
}

// kv is a record of a compacted log, as a test wrote it or read it back.
type kv struct {
	off, ts   int64
	key       string
	noKey     bool
	value     string
	tombstone bool
}

func (r kv) String() string {
	v := strconv.Quote(r.value)
	if r.tombstone {
		v = "tombstone"
	}
	k := strconv.Quote(r.key)
	if r.noKey {
		k = "no key"
	}
	return fmt.Sprintf("{%d %s=%s @%d}", r.off, k, v, r.ts)
}

func put(key, value string, ts int64) kv { return kv{key: key, value: value, ts: ts} }
func del(key string, ts int64) kv        { return kv{key: key, tombstone: true, ts: ts} }

// appendKVs appends recs as one batch built with opts (leader epoch and
// LogAppendTime taken from it) and returns them with their offsets.
func appendKVs(t testing.TB, l *Log, opts recordtest.BatchOptions, recs ...kv) []kv {
	t.Helper()
	rs := make([]recordtest.Rec, len(recs))
	for i, r := range recs {
		rs[i].TimestampMs = r.ts
		if !r.noKey {
			rs[i].Key = []byte(r.key)
		}
		if !r.tombstone {
			rs[i].Value = []byte(r.value)
		}
	}
	appendTime := int64(-1)
	if opts.LogAppendTime {
		appendTime = opts.AppendTimeMs
	}
	info, err := l.Append(recordtest.BuildWith(opts, rs...), opts.LeaderEpoch, appendTime)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	out := append([]kv(nil), recs...)
	for i := range out {
		out[i].off = info.FirstOffset + int64(i)
		if opts.LogAppendTime {
			out[i].ts = appendTime
		}
	}
	return out
}

// readKVs reads every record from the log start on, skipping control
// batches.
func readKVs(t testing.TB, l *Log) []kv {
	t.Helper()
	var out []kv
	for _, b := range readAll(t, l, l.LogStartOffset()) {
		out = append(out, batchKVs(t, b.data)...)
	}
	return out
}

func batchKVs(t testing.TB, b []byte) []kv {
	t.Helper()
	h, err := record.Verify(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.Control() {
		return nil
	}
	var out []kv
	err = record.ForEachStoredRecord(b, 1<<20, func(r *record.Record) bool {
		out = append(out, kv{off: record.RecordOffset(&h, r), ts: record.RecordTimestamp(&h, r),
			key: string(r.Key), noKey: r.Key == nil, value: string(r.Value), tombstone: r.Value == nil})
		return true
	})
	if err != nil {
		t.Fatalf("batch at %d: %v", h.BaseOffset, err)
	}
	return out
}

// compacted is what written should become once everything below end was
// cleaned: below end, only the latest record of each key, tombstones only
// if keepTombstones; from end on, everything.
func compacted(written []kv, end int64, keepTombstones bool) []kv {
	latest := map[string]int64{}
	for _, r := range written {
		if r.off < end && !r.noKey {
			latest[r.key] = max(latest[r.key], r.off)
		}
	}
	var out []kv
	for _, r := range written {
		switch {
		case r.off >= end:
		case r.noKey || latest[r.key] != r.off:
			continue
		case r.tombstone && !keepTombstones:
			continue
		}
		out = append(out, r)
	}
	return out
}

// sameKVs fails unless got and want hold the same records.
func sameKVs(t testing.TB, got, want []kv) {
	t.Helper()
	for i := 0; i < max(len(got), len(want)); i++ {
		var g, w kv
		if i < len(got) {
			g = got[i]
		}
		if i < len(want) {
			w = want[i]
		}
		if i >= len(got) || i >= len(want) || g != w {
			t.Fatalf("record %d: got %v, want %v (%d records, want %d)", i, g, w, len(got), len(want))
		}
	}
}

// randomBatch returns 1..maxRecs records over keys k0..k<keys-1>: some
// tombstones, a few without a key.
func randomBatch(rng *rand.Rand, keys, maxRecs int, ts int64, seq *int) []kv {
	recs := make([]kv, 1+rng.IntN(maxRecs))
	for i := range recs {
		*seq++
		k := fmt.Sprintf("k%d", rng.IntN(keys))
		switch p := rng.IntN(100); {
		case p < 3:
			recs[i] = kv{noKey: true, value: fmt.Sprintf("v%d", *seq), ts: ts}
		case p < 10:
			recs[i] = del(k, ts)
		default:
			recs[i] = put(k, fmt.Sprintf("v%d-%s", *seq, k), ts)
		}
	}
	return recs
}

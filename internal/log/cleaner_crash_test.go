package log

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/record"
	"github.com/strata-db/strata/internal/record/recordtest"
)

var errCrash = errors.New("simulated crash")

// crashFixture is a compacted log of four closed segments of equal size,
// cleaned in two groups of two, plus an active one.
func crashFixture(t *testing.T, dir string) (l *Log, cfg Config, written []kv, end int64) {
	t.Helper()
	cfg = compactConfig()
	l = openLog(t, dir, cfg, Options{})
	for seg := range 4 {
		for k := range 5 {
			written = append(written, appendKVs(t, l, recordtest.BatchOptions{}, put(fmt.Sprintf("k%d", k), fmt.Sprintf("%d", seg), int64(seg)))...)
		}
		written = append(written, appendKVs(t, l, recordtest.BatchOptions{}, put(fmt.Sprintf("u%d", seg), "x", int64(seg)))...)
		if seg == 1 {
			written = append(written, appendKVs(t, l, recordtest.BatchOptions{}, del("u0", 1))...)
		}
		rollNow(t, l)
	}
	end = l.LogEndOffset()
	written = append(written, appendKVs(t, l, recordtest.BatchOptions{}, put("k0", "active", 9))...)
	segs := l.Segments()
	cfg.SegmentBytes = 2*segs[1].Size + 1
	if err := l.SetConfig(cfg); err != nil {
		t.Fatal(err)
	}
	return l, cfg, written, end
}

// TestCleanCrashAtEachStep crashes a pass at each step of the swap of its
// first or second group, reopens the log as after a crash, and checks that
// it is consistent, holds every record the pass would keep at its offset
// and nothing that was not there before, and that the next pass finishes
// the job.
func TestCleanCrashAtEachStep(t *testing.T) {
	steps := []cleanStep{stepWritten, stepCommitted, stepRetiredOne, stepSourcesGone, stepSwapped, stepIndexesRenamed, stepDone}
	for _, step := range steps {
		for _, group := range []int{1, 2} {
			t.Run(fmt.Sprintf("step%d/group%d", step, group), func(t *testing.T) {
				dir := t.TempDir()
				l, cfg, written, end := crashFixture(t, dir)
				before := readKVs(t, l)
				final := compacted(written, end, true)
				c := newTestCleaner(t, 1<<20)
				seen := 0
				c.hook = func(s cleanStep) error {
					if s == step {
						if seen++; seen == group {
							return errCrash
						}
					}
					return nil
				}
				if _, err := c.Clean(t.Context(), l); !errors.Is(err, errCrash) {
					t.Fatalf("Clean: %v, want the simulated crash", err)
				}
				abandon(l)

				l2 := openLog(t, dir, cfg, Options{})
				checkInvariants(t, l2)
				got := readKVs(t, l2)
				within(t, "kept", final, got)
				within(t, "read back", got, before)
				entries, err := os.ReadDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range entries {
					if n := e.Name(); strings.HasSuffix(n, cleanedSuffix) || strings.HasSuffix(n, swapSuffix) || strings.HasSuffix(n, deletedSuffix) {
						t.Errorf("leftover %s after Open", n)
					}
				}
				mustClean(t, newTestCleaner(t, 1<<20), l2)
				sameKVs(t, readKVs(t, l2), final)
				checkInvariants(t, l2)
			})
		}
	}
}

// within fails unless every record of sub is in super, at the same offset.
func within(t *testing.T, what string, sub, super []kv) {
	t.Helper()
	have := map[int64]kv{}
	for _, r := range super {
		have[r.off] = r
	}
	for _, r := range sub {
		if have[r.off] != r {
			t.Fatalf("%s: %v missing (have %v)", what, r, have[r.off])
		}
	}
}

// TestCleanConcurrentWithAppendsAndReads cleans again and again while a
// writer appends (rolling segments) and readers read the whole log: every
// read sees dense batches and every record that is never superseded, at
// its offset, exactly once.
func TestCleanConcurrentWithAppendsAndReads(t *testing.T) {
	cfg := compactConfig()
	cfg.SegmentBytes = 4096
	l := openLog(t, t.TempDir(), cfg, Options{FS: noSyncFS{OSFS()}})
	var written []kv
	for i := range 10 {
		recs := make([]kv, 5)
		for j := range recs {
			recs[j] = put(fmt.Sprintf("stable-%d", i*5+j), fmt.Sprint("value-", i*5+j), int64(i))
		}
		written = append(written, appendKVs(t, l, recordtest.BatchOptions{}, recs...)...)
	}
	stable := append([]kv(nil), written...)

	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var passes, reads atomic.Int64
	wg.Add(1)
	go func() { // writer
		defer wg.Done()
		defer cancel()
		for i := range 1500 {
			opts := recordtest.BatchOptions{}
			if i%3 == 0 {
				opts.Producer = &recordtest.Producer{ID: 9, BaseSequence: int32(2 * (i / 3))} // two records per batch
			}
			recs := []kv{put(fmt.Sprintf("hot-%d", i%20), fmt.Sprint(i), int64(i)), put(fmt.Sprintf("hot-%d", (i+7)%20), fmt.Sprint(i), int64(i))}
			written = append(written, appendKVs(t, l, opts, recs...)...)
		}
	}()
	wg.Add(1)
	go func() { // cleaner
		defer wg.Done()
		c := newTestCleaner(t, 1<<20)
		for ctx.Err() == nil {
			res, err := c.Clean(ctx, l)
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("Clean: %v", err)
				return
			}
			if res.Cleaned {
				passes.Add(1)
			}
		}
	}()
	for range 2 {
		wg.Add(1)
		go func() { // reader
			defer wg.Done()
			for ctx.Err() == nil {
				if err := checkStable(l, stable); err != nil {
					t.Error(err)
					return
				}
				reads.Add(1)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d passes, %d full reads", passes.Load(), reads.Load())
	if passes.Load() == 0 {
		t.Error("no pass ran")
	}
	rollNow(t, l)
	end := l.LogEndOffset()
	if _, err := newTestCleaner(t, 1<<20).Clean(t.Context(), l); err != nil {
		t.Fatal(err)
	}
	sameKVs(t, readKVs(t, l), compacted(written, end, true))
	checkInvariants(t, l)
}

// checkStable reads the whole log once and checks density and the stable
// records.
func checkStable(l *Log, stable []kv) error {
	want := map[int64]kv{}
	for _, r := range stable {
		want[r.off] = r
	}
	found := 0
	next := int64(-1)
	var bad error
	for off, end := l.LogStartOffset(), l.LogEndOffset(); off < end; {
		b, err := l.Read(off, 8192, math.MaxInt64, true)
		if err != nil {
			return err
		}
		if len(b) == 0 {
			return fmt.Errorf("nothing read at %d below %d", off, end)
		}
		from := off
		next = -1
		_, err = record.Split(b, func(batch []byte, h *record.Header) error {
			// The first batch holds from (a swap may have merged it with
			// earlier ones since the last read); the next ones follow it.
			if (next < 0 && (h.BaseOffset > from || h.NextOffset() <= from)) || (next >= 0 && h.BaseOffset != next) {
				return fmt.Errorf("read at %d: batch %d..%d after one ending at %d", from, h.BaseOffset, h.LastOffset(), next)
			}
			next, off = h.NextOffset(), h.NextOffset()
			return record.ForEachStoredRecord(batch, 1<<20, func(r *record.Record) bool {
				o := record.RecordOffset(h, r)
				if w, ok := want[o]; ok && o >= from {
					if string(r.Key) != w.key || string(r.Value) != w.value {
						bad = fmt.Errorf("record at %d: %q=%q, want %v", o, r.Key, r.Value, w)
					}
					found++
				}
				return true
			})
		})
		if err != nil {
			return err
		}
		if bad != nil {
			return bad
		}
	}
	if found != len(stable) {
		return fmt.Errorf("read %d of the %d stable records", found, len(stable))
	}
	return nil
}

// TestManagerRunsCleaner: Run cleans a compacted log in the background and
// stops when its context ends.
func TestManagerRunsCleaner(t *testing.T) {
	m, err := NewManager(ManagerConfig{Dir: t.TempDir(), CleanerBackoff: 10 * time.Millisecond,
		Cleaner: CleanerConfig{DedupeBufferBytes: 1 << 20}})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	l, err := m.Open("compacted", compactConfig())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		appendKVs(t, l, recordtest.BatchOptions{}, put("k", fmt.Sprint(i), int64(i)))
	}
	rollNow(t, l)
	before := l.Size()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for l.Segments()[0].Size >= before {
		if time.Now().After(deadline) {
			t.Fatal("the manager's cleaner never cleaned the log")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if got := readKVs(t, l); len(got) != 1 || got[0].off != 99 {
		t.Fatalf("after cleaning: %v", got)
	}
	if _, err := os.Stat(filepath.Join(l.Dir(), cleanerCheckpointFile)); err != nil {
		t.Fatal(err)
	}
}

// TestCleanGivesWayToDeletion: when retention or DeleteRecords deletes
// segments during a pass, a group wholly deleted is skipped and the pass
// goes on; a group partly deleted ends the pass, and the next one cleans.
func TestCleanGivesWayToDeletion(t *testing.T) {
	for _, tc := range []struct {
		name    string
		segment int // delete the segments before this one
		aborted bool
	}{
		{"whole group", 2, false},
		{"part of a group", 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, _, written, end := crashFixture(t, t.TempDir())
			start := l.Segments()[tc.segment].BaseOffset
			c := newTestCleaner(t, 1<<20)
			deleted := false
			c.hook = func(s cleanStep) error {
				if s == stepWritten && !deleted {
					deleted = true
					if _, err := l.DeleteRecordsBefore(start); err != nil {
						t.Error(err)
					}
				}
				return nil
			}
			res, err := c.Clean(t.Context(), l)
			if tc.aborted != errors.Is(err, ErrCleanAborted) || (!tc.aborted && (err != nil || !res.Cleaned || res.Groups != 1)) {
				t.Fatalf("Clean: %+v, %v", res, err)
			}
			if tc.aborted {
				mustClean(t, c, l)
			}
			var want []kv
			for _, r := range compacted(written, end, true) {
				if r.off >= start {
					want = append(want, r)
				}
			}
			sameKVs(t, readKVs(t, l), want)
			checkInvariants(t, l)
		})
	}
}

// TestCleanGivesWayToTruncation: a truncation during a pass ends it before
// anything is swapped; the log is the truncated one, and the checkpoint
// never passes the new end.
func TestCleanGivesWayToTruncation(t *testing.T) {
	l, _, written, _ := crashFixture(t, t.TempDir())
	cut := l.Segments()[1].BaseOffset + 2
	c := newTestCleaner(t, 1<<20)
	c.hook = func(s cleanStep) error {
		if s == stepWritten && l.LogEndOffset() > cut {
			if err := l.TruncateTo(cut); err != nil {
				t.Error(err)
			}
		}
		return nil
	}
	if _, err := c.Clean(t.Context(), l); !errors.Is(err, ErrCleanAborted) {
		t.Fatalf("Clean: %v, want it aborted", err)
	}
	var kept []kv
	for _, r := range written {
		if r.off < cut {
			kept = append(kept, r)
		}
	}
	sameKVs(t, readKVs(t, l), kept)
	checkInvariants(t, l)
	kept = append(kept, appendKVs(t, l, recordtest.BatchOptions{}, put("k1", "new", 10))...)
	rollNow(t, l)
	mustClean(t, newTestCleaner(t, 1<<20), l)
	sameKVs(t, readKVs(t, l), compacted(kept, l.LogEndOffset(), true))
	if l.cleanerCp != l.LogEndOffset() {
		t.Fatalf("checkpoint %d, log end %d", l.cleanerCp, l.LogEndOffset())
	}
}

// TestTruncateLowersCleanerCheckpoint: a truncation below the cleaner's
// checkpoint lowers it on disk before data can be appended there again.
func TestTruncateLowersCleanerCheckpoint(t *testing.T) {
	dir := t.TempDir()
	l, cfg, _, end := crashFixture(t, dir)
	mustClean(t, newTestCleaner(t, 1<<20), l)
	if cp, err := readOffsetFile(l.fs, dir, cleanerCheckpointFile); err != nil || cp != end {
		t.Fatalf("checkpoint %d, %v; want %d", cp, err, end)
	}
	cut := l.Segments()[0].NextOffset + 1
	if err := l.TruncateTo(cut); err != nil {
		t.Fatal(err)
	}
	newEnd := l.LogEndOffset()
	if cp, err := readOffsetFile(l.fs, dir, cleanerCheckpointFile); err != nil || cp != newEnd || l.cleanerCp != newEnd {
		t.Fatalf("checkpoint %d (%d in memory), %v; want the new end %d", cp, l.cleanerCp, err, newEnd)
	}
	abandon(l)
	l2 := openLog(t, dir, cfg, Options{})
	if l2.cleanerCp != newEnd {
		t.Fatalf("checkpoint %d after reopening, want %d", l2.cleanerCp, newEnd)
	}
}

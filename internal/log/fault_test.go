package log_test

import (
	"bytes"
	"errors"
	"math"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/strata-db/strata/internal/log"
	"github.com/strata-db/strata/internal/log/logtest"
	"github.com/strata-db/strata/internal/record"
	"github.com/strata-db/strata/internal/record/recordtest"
)

func batch(n int, seed byte) []byte {
	recs := make([]recordtest.Rec, n)
	for i := range recs {
		recs[i] = recordtest.Rec{Value: bytes.Repeat([]byte{seed + byte(i)}, 100), TimestampMs: int64(seed)}
	}
	return recordtest.Build(record.CompressionNone, recs...)
}

// acked tracks acknowledged batches.
type acked struct {
	data [][]byte
	end  int64
}

func (a *acked) append(t *testing.T, l *log.Log, b []byte, epoch int32) error {
	t.Helper()
	info, err := l.Append(b, epoch, -1)
	if err != nil {
		return err
	}
	if info.FirstOffset != a.end {
		t.Fatalf("append got offset %d, want %d", info.FirstOffset, a.end)
	}
	a.data = append(a.data, b)
	a.end = info.LastOffset + 1
	return nil
}

// check verifies that l holds exactly the acknowledged batches.
func (a *acked) check(t *testing.T, l *log.Log) {
	t.Helper()
	if err := l.Verify(); err != nil {
		t.Fatal(err)
	}
	if l.LogEndOffset() != a.end {
		t.Fatalf("log end %d, want %d", l.LogEndOffset(), a.end)
	}
	var got []byte
	for off := int64(0); off < a.end; {
		b, err := l.Read(off, math.MaxInt32, math.MaxInt64, true)
		if err != nil || len(b) == 0 {
			t.Fatalf("Read(%d) = %d bytes, %v", off, len(b), err)
		}
		record.Split(b, func(_ []byte, h *record.Header) error { off = h.NextOffset(); return nil })
		got = append(got, b...)
	}
	if !bytes.Equal(got, bytes.Join(a.data, nil)) {
		t.Fatalf("log holds %d bytes, acknowledged %d", len(got), len(bytes.Join(a.data, nil)))
	}
}

func segmentsOnly(name string) bool { return strings.HasSuffix(name, ".log") }

func TestAppendWriteFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inject func(f *logtest.FaultFS)
	}{
		{"ENOSPC mid-write", func(f *logtest.FaultFS) { f.FailWritesAfter(150, nil) }},
		{"ENOSPC before any byte", func(f *logtest.FaultFS) { f.FailWritesAfter(0, nil) }},
		{"silent short write", func(f *logtest.FaultFS) { f.SilentShortWritesAfter(77) }},
		{"EIO", func(f *logtest.FaultFS) { f.FailWritesAfter(10, syscall.EIO) }},
		{"ENOSPC and truncate fails", func(f *logtest.FaultFS) { f.FailWritesAfter(150, nil); f.FailTruncate(syscall.EIO) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ffs := logtest.New(nil)
			ffs.Only(segmentsOnly)
			cfg := log.DefaultConfig()
			cfg.SegmentBytes, cfg.FileDeleteDelay = 1500, 0
			l, err := log.Open(dir, cfg, log.Options{FS: ffs})
			if err != nil {
				t.Fatal(err)
			}
			var a acked
			for i := 0; i < 5; i++ {
				if err := a.append(t, l, batch(2, byte(i)), 1); err != nil {
					t.Fatal(err)
				}
			}
			tc.inject(ffs)
			for i := 0; i < 3; i++ {
				err := a.append(t, l, batch(3, 50), 1)
				if !errors.Is(err, log.ErrStorage) {
					t.Fatalf("append under fault: %v, want ErrStorage", err)
				}
			}
			// Committed data stays readable while the fault lasts.
			a.check(t, l)
			ffs.Clear()
			for i := 0; i < 10; i++ {
				if err := a.append(t, l, batch(2, byte(100+i)), 2); err != nil {
					t.Fatalf("append after the fault cleared: %v", err)
				}
			}
			a.check(t, l)
			// Nothing acknowledged is lost across an unclean restart.
			l2, err := log.Open(dir, cfg, log.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer l2.Close()
			a.check(t, l2)
			l.Close()
		})
	}
}

func TestFlushAndRollFaults(t *testing.T) {
	dir := t.TempDir()
	ffs := logtest.New(nil)
	cfg := log.DefaultConfig()
	cfg.SegmentBytes, cfg.FileDeleteDelay, cfg.RetentionBytes = 1000, 0, 0
	l, err := log.Open(dir, cfg, log.Options{FS: ffs})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var a acked
	for i := 0; i < 3; i++ {
		if err := a.append(t, l, batch(2, byte(i)), 1); err != nil {
			t.Fatal(err)
		}
	}

	ffs.FailSync(syscall.EIO)
	if err := l.Flush(); !errors.Is(err, log.ErrStorage) {
		t.Fatalf("Flush with failing fsync: %v", err)
	}
	if l.RecoveryPoint() != 0 {
		t.Fatalf("recovery point moved to %d despite the failed fsync", l.RecoveryPoint())
	}
	ffs.Clear()
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}

	// A roll that cannot create its file fails the append cleanly.
	ffs.FailCreate(syscall.ENOSPC)
	if err := a.append(t, l, batch(2, 9), 1); !errors.Is(err, log.ErrStorage) {
		t.Fatalf("append needing a roll: %v", err)
	}
	// So does a new epoch whose checkpoint cannot be written.
	if err := a.append(t, l, batch(1, 9), 5); !errors.Is(err, log.ErrStorage) {
		t.Fatalf("append with a new epoch: %v", err)
	}
	if l.LatestEpoch() != 1 {
		t.Fatalf("latest epoch %d after the failed append", l.LatestEpoch())
	}
	// Retention cannot persist the new log start: nothing is deleted.
	before := len(l.Segments())
	if _, err := l.EnforceRetention(); !errors.Is(err, log.ErrStorage) {
		t.Fatalf("retention: %v", err)
	}
	if len(l.Segments()) < before || l.LogStartOffset() != 0 {
		t.Fatalf("retention deleted data it could not record")
	}
	ffs.Clear()
	a.check(t, l)
	if err := a.append(t, l, batch(2, 9), 5); err != nil {
		t.Fatal(err)
	}
	a.check(t, l)
}

// TestCleanFaults: a failure while the cleaner writes its output (no space,
// fsync, create) fails the pass with ErrStorage and leaves the log as it
// was, with no file behind; once the fault clears, a pass succeeds.
func TestCleanFaults(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inject func(*logtest.FaultFS)
	}{
		{"no space", func(f *logtest.FaultFS) { f.FailWritesAfter(0, nil) }},
		{"fsync", func(f *logtest.FaultFS) { f.FailSync(syscall.EIO) }},
		{"create", func(f *logtest.FaultFS) { f.FailCreate(syscall.EACCES) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := logtest.New(nil)
			fsys.Only(func(name string) bool { return strings.Contains(name, ".cleaned") })
			cfg := log.DefaultConfig()
			cfg.FileDeleteDelay, cfg.SegmentBytes, cfg.RetentionMs = 0, 2000, -1
			cfg.Compact, cfg.MinCleanableDirtyRatio = true, 0
			dir := t.TempDir()
			l, err := log.Open(dir, cfg, log.Options{FS: fsys})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			var a acked
			for i := range 40 {
				b := recordtest.Build(record.CompressionNone, recordtest.Rec{
					Key: []byte{byte('a' + i%5)}, Value: bytes.Repeat([]byte{byte(i)}, 100), TimestampMs: int64(i)})
				if err := a.append(t, l, b, 0); err != nil {
					t.Fatal(err)
				}
			}
			before := l.Size()
			c, err := log.NewCleaner(log.CleanerConfig{IOMaxBytesPerSecond: -1, DedupeBufferBytes: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			tc.inject(fsys)
			if _, err := c.Clean(t.Context(), l); !errors.Is(err, log.ErrStorage) {
				t.Fatalf("Clean with a fault: %v, want ErrStorage", err)
			}
			a.check(t, l)
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.Contains(e.Name(), ".cleaned") || strings.Contains(e.Name(), ".swap") {
					t.Fatalf("leftover %s", e.Name())
				}
			}
			fsys.Clear()
			if res, err := c.Clean(t.Context(), l); err != nil || !res.Cleaned || l.Size() >= before {
				t.Fatalf("Clean after the fault: %+v, %v; size %d, was %d", res, err, l.Size(), before)
			}
			if err := l.Verify(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

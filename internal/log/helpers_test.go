package log

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/record"
	"github.com/strata-db/strata/internal/record/recordtest"
)

// testConfig is DefaultConfig with immediate file deletion.
func testConfig() Config {
	c := DefaultConfig()
	c.FileDeleteDelay = 0
	return c
}

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.UnixMilli(1_700_000_000_000)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openLog(t testing.TB, dir string, cfg Config, opts Options) *Log {
	t.Helper()
	l, err := Open(dir, cfg, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// batchOf builds an uncompressed batch of n records with timestamps ts,
// ts+1, ... and values of valueSize bytes derived from seed.
func batchOf(n int, ts int64, valueSize int, seed int) []byte {
	recs := make([]recordtest.Rec, n)
	for i := range recs {
		v := bytes.Repeat([]byte{byte(seed + i)}, valueSize)
		recs[i] = recordtest.Rec{Key: fmt.Appendf(nil, "k%d-%d", seed, i), Value: v, TimestampMs: ts + int64(i)}
	}
	return recordtest.Build(record.CompressionNone, recs...)
}

// stored is a batch as the log holds it, with its offsets.
type stored struct {
	base, last int64
	data       []byte
}

// appendBatches appends count batches of recs records each (timestamps
// from ts on) and returns them as stored.
func appendBatches(t testing.TB, l *Log, count, recs int, ts int64, valueSize int, epoch int32) []stored {
	t.Helper()
	var out []stored
	for i := 0; i < count; i++ {
		b := batchOf(recs, ts+int64(i*recs), valueSize, i)
		info, err := l.Append(b, epoch, -1)
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		out = append(out, stored{base: info.FirstOffset, last: info.LastOffset, data: b})
	}
	return out
}

// readAll reads every batch from offset on, chunk by chunk.
func readAll(t testing.TB, l *Log, from int64) []stored {
	t.Helper()
	var out []stored
	for off := from; off < l.LogEndOffset(); {
		b, err := l.Read(off, 4096, math.MaxInt64, true)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if len(b) == 0 {
			t.Fatalf("Read(%d) returned nothing below log end %d", off, l.LogEndOffset())
		}
		_, err = record.Split(b, func(batch []byte, h *record.Header) error {
			out = append(out, stored{base: h.BaseOffset, last: h.LastOffset(), data: batch})
			off = h.NextOffset()
			return nil
		})
		if err != nil {
			t.Fatalf("Read(%d) returned bad batches: %v", off, err)
		}
	}
	return out
}

// sameBatches fails unless got and want hold the same batches.
func sameBatches(t testing.TB, got, want []stored) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d batches, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].base != want[i].base || !bytes.Equal(got[i].data, want[i].data) {
			t.Fatalf("batch %d: got base %d (%d bytes), want base %d (%d bytes)",
				i, got[i].base, len(got[i].data), want[i].base, len(want[i].data))
		}
	}
}

// checkInvariants verifies the log against its files: segments ordered
// and contiguous, every batch's CRC, dense offsets, index entries pointing
// at batch starts, the log end offset and the epoch cache ordering.
func checkInvariants(t testing.TB, l *Log) {
	t.Helper()
	if err := l.verify(); err != nil {
		t.Fatal(err)
	}
}

func (l *Log) verify() error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if len(l.segs) == 0 {
		return fmt.Errorf("no segments")
	}
	if l.logStartOffset > l.logEndOffset || l.logStartOffset < l.segs[0].base {
		return fmt.Errorf("log start %d, end %d, first base %d", l.logStartOffset, l.logEndOffset, l.segs[0].base)
	}
	next := l.segs[0].base
	for i, s := range l.segs {
		if s.base < next {
			return fmt.Errorf("segment %d base %d below previous end %d", i, s.base, next)
		}
		next = s.base
		st, err := s.file.Stat()
		if err != nil {
			return err
		}
		if st.Size() != s.size && !(l.failed != nil && i == len(l.segs)-1 && st.Size() > s.size) {
			return fmt.Errorf("segment %d: file size %d, size %d", s.base, st.Size(), s.size)
		}
		s.ensureLoaded(&l.cfg)
		entries := map[int64]int64{}
		for j := 0; j < s.ix.idx.len(); j++ {
			rel, pos := s.ix.idx.entry(j)
			entries[int64(pos)] = s.base + int64(rel)
		}
		sc := newScanner(s.file, 0, s.size, true)
		for sc.next() {
			if sc.h.BaseOffset != next {
				return fmt.Errorf("segment %d: batch at %d has base %d, want %d", s.base, sc.pos, sc.h.BaseOffset, next)
			}
			if off, ok := entries[sc.pos]; ok && off != sc.h.BaseOffset {
				return fmt.Errorf("segment %d: index entry at %d says %d, batch has %d", s.base, sc.pos, off, sc.h.BaseOffset)
			}
			delete(entries, sc.pos)
			next = sc.h.NextOffset()
		}
		if err := sc.stopReason(); err != nil {
			return fmt.Errorf("segment %d: %w", s.base, err)
		}
		if len(entries) != 0 {
			return fmt.Errorf("segment %d: index entries not at batch starts: %v", s.base, entries)
		}
		if end := l.segEndLocked(i); i == len(l.segs)-1 && end != next {
			return fmt.Errorf("log end %d, last batch ends at %d", end, next)
		}
	}
	for i := 1; i < len(l.epochs.entries); i++ {
		a, b := l.epochs.entries[i-1], l.epochs.entries[i]
		if a.Epoch >= b.Epoch || a.StartOffset >= b.StartOffset {
			return fmt.Errorf("epoch cache out of order: %v", l.epochs.entries)
		}
	}
	if n := len(l.epochs.entries); n > 0 && l.epochs.entries[n-1].StartOffset > l.logEndOffset {
		return fmt.Errorf("epoch cache beyond log end %d: %v", l.logEndOffset, l.epochs.entries)
	}
	return nil
}

func segmentPath(dir string, base int64) string {
	return filepath.Join(dir, segmentFileName(base, logExt))
}

// flipByte inverts one byte of a file.
func flipByte(t testing.TB, path string, pos int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[pos] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// abandon drops a log as a crash would: files closed, nothing flushed or
// written.
func abandon(l *Log) {
	l.mu.Lock()
	if !l.closed {
		l.closed, l.closeErr = true, ErrClosed
		for _, s := range l.segs {
			s.file.Close()
		}
		if l.txns.file != nil {
			l.txns.file.Close()
		}
	}
	l.mu.Unlock()
	l.expireRetired()
}

// noSyncFS is the OS file system without fsync, for tests where
// durability is not the point and fsync latency would dominate.
type noSyncFS struct{ FS }

func (n noSyncFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := n.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return noSyncFile{f}, nil
}

type noSyncFile struct{ File }

func (noSyncFile) Sync() error { return nil }

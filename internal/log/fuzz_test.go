package log

import (
	"bytes"
	"math"
	"os"
	"testing"

	"github.com/strata-db/strata/internal/record"
	"github.com/strata-db/strata/internal/record/recordtest"
)

// validPrefix is the oracle for recovery, written independently of it: the
// length of the longest prefix of data made of complete, CRC-valid batches
// whose offsets run densely from base on, and the offset after it.
func validPrefix(data []byte, base int64) (int, int64) {
	pos, next := 0, base
	for len(data)-pos >= record.HeaderSize {
		size, err := record.BatchSize(data[pos:])
		if err != nil || size > len(data)-pos {
			break
		}
		h, err := record.Verify(data[pos : pos+size])
		if err != nil || h.BaseOffset != next || h.LastOffsetDelta < 0 || h.LastOffset()-base > math.MaxUint32 {
			break
		}
		pos, next = pos+size, h.NextOffset()
	}
	return pos, next
}

// fuzzSeedSegment builds a valid segment starting at base.
func fuzzSeedSegment(base int64) []byte {
	var seg []byte
	next := base
	for i, c := range []record.Compression{record.CompressionNone, record.CompressionGzip, record.CompressionNone, record.CompressionZstd} {
		recs := []recordtest.Rec{{Key: []byte("k"), Value: bytes.Repeat([]byte{byte(i)}, 30), TimestampMs: int64(100 + i)}}
		if i%2 == 0 {
			recs = append(recs, recordtest.Rec{Value: []byte("second"), TimestampMs: int64(90 + i)})
		}
		b := recordtest.BuildWith(recordtest.BatchOptions{Compression: c, BaseOffset: next, LeaderEpoch: int32(i / 2),
			LogAppendTime: i == 2, AppendTimeMs: 5000}, recs...)
		seg = append(seg, b...)
		next += int64(len(recs))
	}
	return seg
}

func FuzzRecover(f *testing.F) {
	for _, base := range []uint16{0, 7} {
		seg := fuzzSeedSegment(int64(base))
		f.Add(seg, base)
		f.Add(seg[:len(seg)-5], base)
		f.Add(append(bytes.Clone(seg), make([]byte, 64)...), base)
		damaged := bytes.Clone(seg)
		damaged[len(damaged)/2] ^= 0x40
		f.Add(damaged, base)
		shifted := bytes.Clone(seg)
		shifted[7]++ // base offset of the first batch
		f.Add(shifted, base)
	}
	f.Add([]byte{}, uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, base16 uint16) {
		base := int64(base16)
		dir := t.TempDir()
		if err := os.WriteFile(segmentPath(dir, base), data, 0o644); err != nil {
			t.Fatal(err)
		}
		cfg := testConfig()
		cfg.IndexIntervalBytes = 64
		l, err := Open(dir, cfg, Options{FS: noSyncFS{OSFS()}})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer l.Close()
		wantLen, wantEnd := validPrefix(data, base)
		if err := l.verify(); err != nil {
			t.Fatalf("recovered log broken: %v", err)
		}
		if l.LogEndOffset() != wantEnd {
			t.Fatalf("log end %d, want %d", l.LogEndOffset(), wantEnd)
		}
		got, err := os.ReadFile(segmentPath(dir, base))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data[:wantLen]) {
			t.Fatalf("segment holds %d bytes, want the valid prefix of %d", len(got), wantLen)
		}
		var read []byte
		for off := base; off < wantEnd; {
			b, err := l.Read(off, 1<<20, math.MaxInt64, true)
			if err != nil || len(b) == 0 {
				t.Fatalf("Read(%d) = %d bytes, %v", off, len(b), err)
			}
			record.Split(b, func(_ []byte, h *record.Header) error { off = h.NextOffset(); return nil })
			read = append(read, b...)
		}
		if !bytes.Equal(read, data[:wantLen]) {
			t.Fatalf("read back %d bytes, want %d", len(read), wantLen)
		}
		// Lookups must not fail on whatever survived.
		if _, _, _, err := l.OffsetForTimestamp(0); err != nil {
			t.Fatalf("OffsetForTimestamp: %v", err)
		}
		if _, _, _, err := l.MaxTimestamp(); err != nil {
			t.Fatalf("MaxTimestamp: %v", err)
		}
		if _, err := l.Append(batchOf(1, 1, 1, 1), 0, -1); err != nil {
			t.Fatalf("Append: %v", err)
		}
	})
}

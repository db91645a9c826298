package log

import (
	"fmt"
	"math"
	"testing"

	"github.com/strata-db/strata/internal/record"
	"github.com/strata-db/strata/internal/record/recordtest"
)

const benchBatchValue = 16 << 10

// BenchmarkAppend appends 16 KiB batches (one record each).
func BenchmarkAppend(b *testing.B) {
	cfg := testConfig()
	cfg.SegmentBytes = 64 << 20
	l := openLog(b, b.TempDir(), cfg, Options{})
	batch := batchOf(1, 1, benchBatchValue, 0)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Append(batch, 1, -1); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRead reads 1 MiB at a time from random places of a 64 MiB log.
func BenchmarkRead(b *testing.B) {
	cfg := testConfig()
	cfg.SegmentBytes = 16 << 20
	l := openLog(b, b.TempDir(), cfg, Options{})
	batch := batchOf(4, 1, benchBatchValue/4, 0)
	for l.Size() < 64<<20 {
		if _, err := l.Append(batch, 1, -1); err != nil {
			b.Fatal(err)
		}
	}
	end := l.LogEndOffset()
	b.ReportAllocs()
	b.ResetTimer()
	var total int64
	for i := 0; i < b.N; i++ {
		off := int64(i*9973) % end
		out, err := l.Read(off, 1<<20, math.MaxInt64, true)
		if err != nil {
			b.Fatal(err)
		}
		total += int64(len(out))
	}
	b.SetBytes(total / int64(b.N))
}

// BenchmarkReadSmall reads one batch at a time, the tail-following case.
func BenchmarkReadSmall(b *testing.B) {
	l := openLog(b, b.TempDir(), testConfig(), Options{})
	batch := batchOf(1, 1, 1000, 0)
	for i := 0; i < 10000; i++ {
		if _, err := l.Append(batch, 1, -1); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Read(int64(i%10000), len(batch), math.MaxInt64, true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClean cleans a log of 100,000 records over 1,000 keys (plain
// uncompressed batches of 100 records, 1 MiB segments) to the latest
// record per key; bytes are those of the log before cleaning.
func BenchmarkClean(b *testing.B) {
	for _, codec := range []record.Compression{record.CompressionNone, record.CompressionLZ4} {
		b.Run(codec.String(), func(b *testing.B) {
			cfg := compactConfig()
			cfg.SegmentBytes = 1 << 20
			c := newTestCleaner(b, DefaultDedupeBufferBytes)
			b.ReportAllocs()
			var before, after int64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				l := openLog(b, b.TempDir(), cfg, Options{FS: noSyncFS{OSFS()}})
				for j := range 1000 {
					recs := make([]recordtest.Rec, 100)
					for k := range recs {
						n := j*100 + k
						recs[k] = recordtest.Rec{Key: fmt.Appendf(nil, "key-%03d", (n*7919)%1000), Value: fmt.Appendf(nil, "value-%06d", n), TimestampMs: int64(n)}
					}
					if _, err := l.Append(recordtest.Build(codec, recs...), 0, -1); err != nil {
						b.Fatal(err)
					}
				}
				rollNow(b, l)
				before = l.Size()
				b.SetBytes(before)
				b.StartTimer()
				if _, err := c.Clean(b.Context(), l); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				after = l.Size()
				l.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(before), "bytes-before")
			b.ReportMetric(float64(after), "bytes-after")
		})
	}
}

package record_test

import (
	"fmt"
	"testing"

	"github.com/strata-db/strata/internal/record"
	"github.com/strata-db/strata/internal/record/recordtest"
)

// benchBatch is a batch of about 16 KiB of records (128 records of a
// 100-byte value, a key and one header), compressed with c.
func benchBatch(c record.Compression) (batch []byte, recordBytes int) {
	var recs []recordtest.Rec
	for i := range 128 {
		recs = append(recs, recordtest.Rec{
			Key:         []byte(fmt.Sprintf("user-%06d", i)),
			Value:       []byte(fmt.Sprintf("%0100d", i*7919)),
			Headers:     []record.RecordHeader{{Key: "source", Value: []byte("bench")}},
			TimestampMs: 1_700_000_000_000 + int64(i),
		})
	}
	batch = recordtest.Build(c, recs...)
	raw := recordtest.Build(record.CompressionNone, recs...)
	return batch, len(raw) - record.HeaderSize
}

func BenchmarkVerify(b *testing.B) {
	batch, _ := benchBatch(record.CompressionNone)
	b.ReportAllocs()
	b.SetBytes(int64(len(batch)))
	for b.Loop() {
		if _, err := record.Verify(batch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkForEachRecord(b *testing.B) {
	for _, c := range codecs {
		b.Run(c.String(), func(b *testing.B) {
			batch, size := benchBatch(c)
			b.ReportAllocs()
			b.SetBytes(int64(size)) // decoded record bytes per op
			for b.Loop() {
				err := record.ForEachRecord(batch, 1<<20, func(r *record.Record) bool { return true })
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkValidateRecords(b *testing.B) {
	batch, size := benchBatch(record.CompressionNone)
	b.ReportAllocs()
	b.SetBytes(int64(size))
	for b.Loop() {
		if err := record.ValidateRecords(batch, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

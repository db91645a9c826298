package record_test

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-db/strata/internal/record"
)

// TestBuildBatch builds batches as the log cleaner does (offset gaps, a
// first delta above 0, timestamps before the base, a delete horizon, empty
// batches) and checks them with package record and with kmsg's decoder.
func TestBuildBatch(t *testing.T) {
	recs := []struct {
		r       record.Record
		off, ts int64
	}{
		{record.Record{Key: []byte("a"), Value: []byte("1"), Headers: []record.RecordHeader{{Key: "h", Value: []byte("x")}, {Key: "n"}}}, 102, 5000},
		{record.Record{Key: []byte("b"), Value: nil}, 105, 4000},
		{record.Record{Key: []byte("c"), Value: []byte{}}, 109, 6000},
	}
	tests := []struct {
		name    string
		codec   record.Compression
		horizon int64
		n       int
	}{
		{"plain", record.CompressionNone, -1, 3},
		{"gzip with horizon", record.CompressionGzip, 90_000, 3},
		{"zstd", record.CompressionZstd, -1, 3},
		{"empty compressed", record.CompressionLZ4, -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := record.BatchSpec{BaseOffset: 100, LastOffsetDelta: 11, LeaderEpoch: 7, Attributes: int16(tt.codec),
				BaseTimestamp: 5000, MaxTimestamp: 6000, ProducerID: 42, ProducerEpoch: 3, BaseSequence: 9}
			spec.SetDeleteHorizon(tt.horizon)
			var raw []byte
			for _, x := range recs[:tt.n] {
				before := len(raw)
				raw = record.AppendRecord(raw, &x.r, int32(x.off-spec.BaseOffset), x.ts-spec.BaseTimestamp)
				if got, want := len(raw)-before, record.RecordSize(&x.r, int32(x.off-spec.BaseOffset), x.ts-spec.BaseTimestamp); got != want {
					t.Fatalf("RecordSize %d, encoded %d", want, got)
				}
			}
			b, err := record.BuildBatch(spec, int32(tt.n), raw)
			if err != nil {
				t.Fatal(err)
			}
			h, err := record.Verify(b)
			if err != nil {
				t.Fatal(err)
			}
			wantCodec := tt.codec
			if tt.n == 0 {
				wantCodec = record.CompressionNone
			}
			if h.BaseOffset != 100 || h.LastOffset() != 111 || h.NumRecords != int32(tt.n) || h.Compression() != wantCodec ||
				h.DeleteHorizonMs() != tt.horizon || h.ProducerID != 42 || h.LeaderEpoch != 7 {
				t.Fatalf("header %+v", h)
			}
			i := 0
			err = record.ForEachStoredRecord(b, 1<<20, func(r *record.Record) bool {
				want := recs[i]
				if record.RecordOffset(&h, r) != want.off || record.RecordTimestamp(&h, r) != want.ts ||
					!bytes.Equal(r.Key, want.r.Key) || (r.Value == nil) != (want.r.Value == nil) || len(r.Headers) != len(want.r.Headers) {
					t.Errorf("record %d: offset %d ts %d key %q value %q", i, record.RecordOffset(&h, r), record.RecordTimestamp(&h, r), r.Key, r.Value)
				}
				i++
				return true
			})
			if err != nil || i != tt.n {
				t.Fatalf("ForEachStoredRecord: %v after %d records", err, i)
			}
			// kmsg reads the same batch the way clients do.
			var kb kmsg.RecordBatch
			if err := kb.ReadFrom(b); err != nil {
				t.Fatal(err)
			}
			payload := kb.Records
			if c := record.Compression(kb.Attributes & 7); c != record.CompressionNone {
				if payload, err = record.Decompress(c, payload, 1<<20); err != nil {
					t.Fatal(err)
				}
			}
			for j := 0; j < tt.n; j++ {
				var kr kmsg.Record
				n := kmsgRecordLen(t, payload)
				if err := kr.ReadFrom(payload[:n]); err != nil {
					t.Fatal(err)
				}
				payload = payload[n:]
				if kb.FirstOffset+int64(kr.OffsetDelta) != recs[j].off || kb.FirstTimestamp+kr.TimestampDelta64 != recs[j].ts {
					t.Fatalf("kmsg record %d: offset delta %d, timestamp delta %d", j, kr.OffsetDelta, kr.TimestampDelta64)
				}
			}
		})
	}
}

// kmsgRecordLen is the size of the record at the start of p: its varint
// length plus that many bytes.
func kmsgRecordLen(t *testing.T, p []byte) int {
	t.Helper()
	var ux uint64
	for i, c := range p {
		ux |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			return i + 1 + int(int64(ux>>1)^-int64(ux&1))
		}
	}
	t.Fatal("truncated varint")
	return 0
}

func TestBuildBatchRejectsTooManyRecords(t *testing.T) {
	if _, err := record.BuildBatch(record.BatchSpec{LastOffsetDelta: 0}, 2, nil); err == nil {
		t.Fatal("two records in a one-offset batch accepted")
	}
}

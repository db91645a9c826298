package record_test

import (
	"bytes"
	"testing"

	"github.com/strata-db/strata/internal/record"
	"github.com/strata-db/strata/internal/record/recordtest"
)

func TestRecompress(t *testing.T) {
	codecs := []record.Compression{record.CompressionNone, record.CompressionGzip, record.CompressionSnappy, record.CompressionLZ4, record.CompressionZstd}
	recs := []recordtest.Rec{
		{Key: []byte("k1"), Value: bytes.Repeat([]byte("value "), 100), TimestampMs: 1000},
		{Key: nil, Value: nil, TimestampMs: 1001, Headers: []record.RecordHeader{{Key: "h", Value: []byte("v")}}},
	}
	for _, from := range codecs {
		for _, to := range codecs {
			in := recordtest.Build(from, recs...)
			out, err := record.Recompress(in, to, 1<<20)
			if err != nil {
				t.Fatalf("%s -> %s: %v", from, to, err)
			}
			h, err := record.Verify(out)
			if err != nil {
				t.Fatalf("%s -> %s: output does not verify: %v", from, to, err)
			}
			if h.Compression() != to {
				t.Fatalf("%s -> %s: output codec %s", from, to, h.Compression())
			}
			got, err := recordtest.Decode(out)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := recordtest.Decode(in)
			if len(got) != len(want) {
				t.Fatalf("%s -> %s: %d records, want %d", from, to, len(got), len(want))
			}
			for i := range got {
				if !bytes.Equal(got[i].Key, want[i].Key) || !bytes.Equal(got[i].Value, want[i].Value) || got[i].TimestampMs != want[i].TimestampMs {
					t.Fatalf("%s -> %s: record %d differs", from, to, i)
				}
			}
		}
	}
}

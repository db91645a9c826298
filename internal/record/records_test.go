package record_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-db/strata/internal/record"
	"github.com/strata-db/strata/internal/record/recordtest"
)

var codecs = []record.Compression{
	record.CompressionNone, record.CompressionGzip, record.CompressionSnappy,
	record.CompressionLZ4, record.CompressionZstd,
}

// sampleRecs covers keys, null and empty keys and values, headers with null
// values, negative timestamp deltas and a value larger than one codec block.
func sampleRecs() []recordtest.Rec {
	return []recordtest.Rec{
		{Key: []byte("k1"), Value: []byte("v1"), TimestampMs: 1_700_000_000_000},
		{Key: nil, Value: []byte("null key"), TimestampMs: 1_700_000_000_005},
		{Key: []byte("tombstone"), Value: nil, TimestampMs: 1_699_999_999_000},
		{Key: []byte{}, Value: []byte{}, TimestampMs: 1_700_000_000_001},
		{Key: []byte("h"), Value: []byte("with headers"), TimestampMs: 1_700_000_000_002, Headers: []record.RecordHeader{
			{Key: "trace", Value: []byte("abc")},
			{Key: "null", Value: nil},
			{Key: "", Value: []byte{}},
		}},
		{Key: []byte("big"), Value: bytes.Repeat([]byte("0123456789"), 10_000), TimestampMs: 1_700_000_000_003},
	}
}

// collect returns copies of every record ForEachRecord yields, with
// absolute timestamps, in recordtest's form.
func collect(t *testing.T, batch []byte) []recordtest.Rec {
	t.Helper()
	h, err := record.Verify(batch)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	var got []recordtest.Rec
	err = record.ForEachRecord(batch, 1<<20, func(r *record.Record) bool {
		rec := recordtest.Rec{Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value), TimestampMs: record.RecordTimestamp(&h, r)}
		for _, rh := range r.Headers {
			rec.Headers = append(rec.Headers, record.RecordHeader{Key: rh.Key, Value: bytes.Clone(rh.Value)})
		}
		if want := int32(len(got)); r.OffsetDelta != want || record.RecordOffset(&h, r) != h.BaseOffset+int64(want) {
			t.Errorf("record %d: offset delta %d", want, r.OffsetDelta)
		}
		got = append(got, rec)
		return true
	})
	if err != nil {
		t.Fatalf("ForEachRecord: %v", err)
	}
	return got
}

func TestForEachRecordCodecs(t *testing.T) {
	want := sampleRecs()
	for _, c := range codecs {
		t.Run(c.String(), func(t *testing.T) {
			batch := recordtest.Build(c, want...)
			h, err := record.ParseHeader(batch)
			if err != nil {
				t.Fatal(err)
			}
			if h.Compression() != c || h.NumRecords != int32(len(want)) || h.MaxTimestamp != 1_700_000_000_005 {
				t.Fatalf("header %+v", h)
			}
			got := collect(t, batch)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("records differ:\ngot  %v\nwant %v", got, want)
			}
			if err := record.ValidateRecords(batch, 1<<20); err != nil {
				t.Fatalf("ValidateRecords: %v", err)
			}
			// recordtest.Decode reads through the stored-batch rules.
			if dec, err := recordtest.Decode(batch); err != nil || !reflect.DeepEqual(dec, want) {
				t.Fatalf("recordtest.Decode: err %v, equal %v", err, reflect.DeepEqual(dec, want))
			}
		})
	}
}

// TestCrossCheckKmsg decodes batches with kmsg's independent decoder and
// compares each field with what ForEachRecord reports.
func TestCrossCheckKmsg(t *testing.T) {
	for _, c := range codecs {
		t.Run(c.String(), func(t *testing.T) {
			batch := recordtest.BuildWith(recordtest.BatchOptions{Compression: c, BaseOffset: 1000,
				Producer: &recordtest.Producer{ID: 42, Epoch: 3, BaseSequence: 17}}, sampleRecs()...)
			var kb kmsg.RecordBatch
			if err := kb.ReadFrom(batch); err != nil {
				t.Fatalf("kmsg: %v", err)
			}
			h, err := record.Verify(batch)
			if err != nil {
				t.Fatal(err)
			}
			if h.BaseOffset != kb.FirstOffset || h.ProducerID != kb.ProducerID || h.ProducerEpoch != kb.ProducerEpoch ||
				h.BaseSequence != kb.FirstSequence || uint32(kb.CRC) != h.CRC || h.LastOffsetDelta != kb.LastOffsetDelta {
				t.Fatalf("header %+v vs kmsg %+v", h, kb)
			}
			raw, err := record.Decompress(c, kb.Records, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			var krecs []kmsg.Record
			for len(raw) > 0 {
				var kr kmsg.Record
				n := recordSize(t, raw)
				if err := kr.ReadFrom(raw[:n]); err != nil {
					t.Fatalf("kmsg record: %v", err)
				}
				krecs = append(krecs, kr)
				raw = raw[n:]
			}
			i := 0
			err = record.ForEachRecord(batch, 1<<20, func(r *record.Record) bool {
				kr := krecs[i]
				if r.OffsetDelta != kr.OffsetDelta || r.TimestampDelta != kr.TimestampDelta64 ||
					!bytes.Equal(r.Key, kr.Key) || (r.Key == nil) != (kr.Key == nil) ||
					!bytes.Equal(r.Value, kr.Value) || (r.Value == nil) != (kr.Value == nil) || len(r.Headers) != len(kr.Headers) {
					t.Errorf("record %d: %+v vs kmsg %+v", i, r, kr)
				}
				i++
				return true
			})
			if err != nil || i != len(krecs) {
				t.Fatalf("ForEachRecord: %v after %d of %d records", err, i, len(krecs))
			}
		})
	}
}

// recordSize is the encoded size of the record at the start of raw: its
// length varint plus the length.
func recordSize(t *testing.T, raw []byte) int {
	l, n := binary.Varint(raw)
	if n <= 0 {
		t.Fatalf("bad record length varint")
	}
	return n + int(l)
}

func TestForEachRecordEarlyStop(t *testing.T) {
	batch := recordtest.Build(record.CompressionZstd, sampleRecs()...)
	calls := 0
	err := record.ForEachRecord(batch, 1<<20, func(*record.Record) bool { calls++; return calls < 2 })
	if err != nil || calls != 2 {
		t.Fatalf("err %v after %d calls, want nil after 2", err, calls)
	}
}

func TestRecordTimestampLogAppendTime(t *testing.T) {
	const appendTime = 1_800_000_000_000
	batch := recordtest.BuildWith(recordtest.BatchOptions{LogAppendTime: true, AppendTimeMs: appendTime}, sampleRecs()...)
	for _, r := range collect(t, batch) {
		if r.TimestampMs != appendTime {
			t.Fatalf("timestamp %d, want the log append time %d", r.TimestampMs, appendTime)
		}
	}
}

func TestMarker(t *testing.T) {
	batch := recordtest.BuildMarker(recordtest.Producer{ID: 9, Epoch: 1}, 55, true, 4, 1234)
	h, err := record.Verify(batch)
	if err != nil {
		t.Fatal(err)
	}
	if !h.Control() || !h.Transactional() || h.BaseOffset != 55 || h.ProducerID != 9 {
		t.Fatalf("header %+v", h)
	}
	recs := collect(t, batch)
	if len(recs) != 1 || !bytes.Equal(recs[0].Key, []byte{0, 0, 0, 1}) || !bytes.Equal(recs[0].Value, []byte{0, 0, 0, 0, 0, 4}) {
		t.Fatalf("marker records %v", recs)
	}
}

// TestDeltaRules checks the producer rules (0..n-1) against the stored
// rules that compacted batches need.
func TestDeltaRules(t *testing.T) {
	recs := sampleRecs()[:3]
	tests := []struct {
		name             string
		opts             recordtest.BatchOptions
		recs             []recordtest.Rec
		producer, stored bool // whether each rule set accepts it
	}{
		{"contiguous", recordtest.BatchOptions{}, recs, true, true},
		{"gap", recordtest.BatchOptions{OffsetDeltas: []int32{0, 2, 5}}, recs, false, true},
		{"first removed", recordtest.BatchOptions{OffsetDeltas: []int32{1, 2, 3}}, recs, false, true},
		{"range kept", recordtest.BatchOptions{LastOffsetDelta: 9}, recs, false, true},
		{"empty compacted", recordtest.BatchOptions{LastOffsetDelta: 4}, nil, false, true},
		{"empty", recordtest.BatchOptions{}, nil, false, true},
		{"out of order", recordtest.BatchOptions{OffsetDeltas: []int32{0, 2, 1}}, recs, false, false},
		{"duplicate", recordtest.BatchOptions{OffsetDeltas: []int32{0, 1, 1}, LastOffsetDelta: 2}, recs, false, false},
		{"negative", recordtest.BatchOptions{OffsetDeltas: []int32{-1, 0, 1}}, recs, false, false},
	}
	for _, tt := range tests {
		for _, c := range []record.Compression{record.CompressionNone, record.CompressionLZ4} {
			t.Run(fmt.Sprintf("%s/%s", tt.name, c), func(t *testing.T) {
				tt.opts.Compression = c
				batch := recordtest.BuildWith(tt.opts, tt.recs...)
				noop := func(*record.Record) bool { return true }
				if err := record.ForEachRecord(batch, 1<<20, noop); (err == nil) != tt.producer || err != nil && !errors.Is(err, record.ErrInvalid) {
					t.Errorf("producer rules: err %v, want ok=%v", err, tt.producer)
				}
				if err := record.ForEachStoredRecord(batch, 1<<20, noop); (err == nil) != tt.stored || err != nil && !errors.Is(err, record.ErrInvalid) {
					t.Errorf("stored rules: err %v, want ok=%v", err, tt.stored)
				}
			})
		}
	}
}

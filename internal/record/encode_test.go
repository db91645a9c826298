package record_test

import (
	"bytes"
	"testing"

	"github.com/strata-db/strata/internal/record"
)

func TestEncodeRoundTrip(t *testing.T) {
	in := []record.Record{
		{Key: []byte("k1"), Value: []byte("v1"), Headers: []record.RecordHeader{{Key: "h", Value: []byte("x")}, {Key: "n", Value: nil}}},
		{Key: []byte("k2"), Value: nil},
		{Key: nil, Value: []byte{}},
	}
	b := record.Encode(12345, in)
	h, err := record.Verify(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.NumRecords != 3 || h.LastOffsetDelta != 2 || h.MaxTimestamp != 12345 || h.ProducerID != -1 {
		t.Fatalf("header %+v", h)
	}
	var got []record.Record
	err = record.ForEachRecord(b, 1<<20, func(r *record.Record) bool {
		c := record.Record{Key: clone(r.Key), Value: clone(r.Value)}
		for _, hd := range r.Headers {
			c.Headers = append(c.Headers, record.RecordHeader{Key: hd.Key, Value: clone(hd.Value)})
		}
		got = append(got, c)
		return true
	})
	if err != nil || len(got) != 3 {
		t.Fatalf("decode: %v, %d records", err, len(got))
	}
	for i := range in {
		if !same(in[i].Key, got[i].Key) || !same(in[i].Value, got[i].Value) || len(in[i].Headers) != len(got[i].Headers) {
			t.Fatalf("record %d: %+v != %+v", i, got[i], in[i])
		}
	}
	if got[0].Headers[1].Value != nil || !bytes.Equal(got[0].Headers[0].Value, []byte("x")) {
		t.Fatalf("headers %+v", got[0].Headers)
	}
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

func same(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

package record_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-db/strata/internal/record"
	"github.com/strata-db/strata/internal/record/recordtest"
)

// wrap puts an arbitrary records section into a v2 batch with a valid CRC,
// so that tests reach the record decoder.
func wrap(c record.Compression, numRecords, lastOffsetDelta int32, records []byte) []byte {
	b := (&kmsg.RecordBatch{
		Length:          int32(record.HeaderSize - 12 + len(records)),
		Magic:           record.Magic,
		Attributes:      int16(c),
		LastOffsetDelta: lastOffsetDelta,
		ProducerID:      -1,
		ProducerEpoch:   -1,
		FirstSequence:   -1,
		NumRecords:      numRecords,
		Records:         records,
	}).AppendTo(nil)
	fixCRC(b)
	return b
}

// crcStart is the first byte the batch CRC covers (the attributes).
const crcStart = 21

func fixCRC(b []byte) { binary.BigEndian.PutUint32(b[17:], record.Checksum(b)) }

// rec hand-encodes one record body after its length: attributes, deltas,
// key, value, then the given header bytes (count included).
func rec(delta int32, key, value []byte, headers ...byte) []byte {
	body := []byte{0}
	body = binary.AppendVarint(body, 0)
	body = binary.AppendVarint(body, int64(delta))
	body = appendNullable(body, key)
	body = appendNullable(body, value)
	if headers == nil {
		headers = []byte{0}
	}
	body = append(body, headers...)
	return append(binary.AppendVarint(nil, int64(len(body))), body...)
}

func appendNullable(b, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(b, -1)
	}
	return append(binary.AppendVarint(b, int64(len(v))), v...)
}

func varint(v int64) []byte { return binary.AppendVarint(nil, v) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestForEachRecordMalformed(t *testing.T) {
	good := rec(0, []byte("k"), []byte("v"))
	withLen := func(n int64, body []byte) []byte { return cat(varint(n), body) }
	// An otherwise valid record whose key length is -2.
	keyNeg2 := cat([]byte{0}, varint(0), varint(0), varint(-2), varint(-1), varint(0))
	tests := []struct {
		name  string
		batch []byte
		want  error
	}{
		{"valid", wrap(0, 1, 0, good), nil},
		{"valid header", wrap(0, 1, 0, rec(0, nil, nil, cat(varint(1), varint(1), []byte("a"), varint(-1))...)), nil},
		{"length beyond data", wrap(0, 1, 0, withLen(100, good[1:])), record.ErrInvalid},
		{"negative length", wrap(0, 1, 0, withLen(-3, good[1:])), record.ErrInvalid},
		{"empty record", wrap(0, 1, 0, varint(0)), record.ErrInvalid},
		{"bytes after headers", wrap(0, 1, 0, withLen(int64(len(good)), append(good[1:], 7))), record.ErrInvalid},
		{"key length -2", wrap(0, 1, 0, withLen(int64(len(keyNeg2)), keyNeg2)), record.ErrInvalid},
		{"header count negative", wrap(0, 1, 0, rec(0, nil, nil, varint(-1)...)), record.ErrInvalid},
		{"header count huge", wrap(0, 1, 0, rec(0, nil, nil, varint(1<<30)...)), record.ErrInvalid},
		{"header key null", wrap(0, 1, 0, rec(0, nil, nil, cat(varint(1), varint(-1), varint(-1))...)), record.ErrInvalid},
		{"header value short", wrap(0, 1, 0, rec(0, nil, nil, cat(varint(1), varint(0), varint(5), []byte("ab"))...)), record.ErrInvalid},
		{"varint too long", wrap(0, 1, 0, []byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x01}), record.ErrInvalid},
		{"varint truncated", wrap(0, 1, 0, []byte{0x80}), record.ErrInvalid},
		{"bytes after last record", wrap(0, 1, 0, append(good, 0)), record.ErrInvalid},
		{"fewer records", wrap(0, 2, 1, good), record.ErrInvalid},
		{"more records", wrap(0, 1, 0, cat(good, rec(1, nil, nil))), record.ErrInvalid},
		{"negative count", wrap(0, -1, 0, good), record.ErrInvalid},
		{"last delta mismatch", wrap(0, 1, 3, good), record.ErrInvalid},
		{"delta mismatch", wrap(0, 1, 0, rec(1, nil, nil)), record.ErrInvalid},
		{"no records", wrap(0, 0, -1, nil), record.ErrInvalid},
		{"bad gzip", wrap(record.CompressionGzip, 1, 0, []byte("nope")), record.ErrCorrupt},
		{"unknown codec", wrap(6, 1, 0, good), record.ErrInvalid},
		{"trailing batch bytes", append(wrap(0, 1, 0, good), 0), record.ErrCorrupt},
		{"truncated batch", wrap(0, 1, 0, good)[:record.HeaderSize+1], record.ErrTruncated},
		{"short header", wrap(0, 1, 0, good)[:30], record.ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := record.ForEachRecord(tt.batch, 1<<20, func(*record.Record) bool { return true })
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
}

func TestForEachRecordDecompressLimit(t *testing.T) {
	recs := []recordtest.Rec{{Value: make([]byte, 100_000)}}
	for _, c := range codecs {
		batch := recordtest.Build(c, recs...)
		if err := record.ValidateRecords(batch, 200_000); err != nil {
			t.Errorf("%s: within limit: %v", c, err)
		}
		err := record.ValidateRecords(batch, 50_000)
		if c == record.CompressionNone {
			// The limit is for decompression; a plain batch is its own bound.
			if err != nil {
				t.Errorf("%s: %v", c, err)
			}
		} else if !errors.Is(err, record.ErrInvalid) {
			t.Errorf("%s: over limit: err %v, want ErrInvalid", c, err)
		}
	}
}

// TestCorruptionSweep damages every byte of small valid batches (with the
// CRC fixed up so the damage reaches the decoders) and truncates them at
// every length: each must fail with one of the package's errors, or succeed,
// and never panic.
func TestCorruptionSweep(t *testing.T) {
	for _, c := range codecs {
		valid := recordtest.Build(c, sampleRecs()[:5]...)
		for i := range valid {
			for _, mut := range []func(byte) byte{func(b byte) byte { return ^b }, func(b byte) byte { return b + 1 }} {
				b := append([]byte(nil), valid...)
				b[i] = mut(b[i])
				if i >= crcStart {
					fixCRC(b)
				}
				checkKnownError(t, c, i, b)
			}
		}
		for n := range len(valid) {
			checkKnownError(t, c, n, valid[:n])
		}
	}
}

func checkKnownError(t *testing.T, c record.Compression, pos int, b []byte) {
	t.Helper()
	_, _ = record.ParseHeader(b)
	_, _ = record.Verify(b)
	err := record.ForEachRecord(b, 1<<20, func(*record.Record) bool { return true })
	if err == nil {
		return
	}
	for _, known := range []error{record.ErrCorrupt, record.ErrInvalid, record.ErrTruncated, record.ErrUnsupportedMagic} {
		if errors.Is(err, known) {
			return
		}
	}
	t.Errorf("%s batch damaged at %d: unclassified error %v", c, pos, err)
}

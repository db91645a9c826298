// Package recordtest builds and reads Kafka v2 record batches for tests
// anywhere in the repository. It encodes records with franz-go's kmsg
// types, an implementation independent of package record's decoder, so
// tests that build with this package and decode with record cross-check the
// two. Functions panic on misuse: they are for tests only.
package recordtest

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-db/strata/internal/record"
)

// Rec is a record to build. Nil Key or Value encode as null.
type Rec struct {
	Key, Value  []byte
	Headers     []record.RecordHeader
	TimestampMs int64
}

// Producer identifies an idempotent or transactional producer.
type Producer struct {
	ID           int64
	Epoch        int16
	BaseSequence int32
}

// BatchOptions sets the batch fields tests care about; the zero value is a
// plain uncompressed batch at offset 0 from a non-idempotent producer.
type BatchOptions struct {
	Compression record.Compression
	BaseOffset  int64
	LeaderEpoch int32
	// Producer, if set, makes the batch idempotent; nil writes producer id
	// -1, epoch -1 and base sequence -1 as a plain producer does.
	Producer      *Producer
	Transactional bool
	Control       bool
	// LogAppendTime marks the batch as stamped by the broker at
	// AppendTimeMs, which becomes its max timestamp.
	LogAppendTime bool
	AppendTimeMs  int64
	// OffsetDeltas, if set, replaces 0..n-1 (one per record), to build
	// batches as compaction leaves them; LastOffsetDelta then keeps the
	// batch's offset range when it is beyond the last record's delta.
	OffsetDeltas    []int32
	LastOffsetDelta int32
}

// Build returns one complete v2 batch (base offset 0, CRC set) holding
// recs, compressed with c.
func Build(c record.Compression, recs ...Rec) []byte {
	return BuildWith(BatchOptions{Compression: c}, recs...)
}

// BuildWith returns one complete v2 batch holding recs as opts describe.
// Base timestamp is the first record's, max timestamp the largest (-1 for
// both with no records, as Kafka writes).
func BuildWith(opts BatchOptions, recs ...Rec) []byte {
	if opts.OffsetDeltas != nil && len(opts.OffsetDeltas) != len(recs) {
		panic(fmt.Sprintf("recordtest: %d offset deltas for %d records", len(opts.OffsetDeltas), len(recs)))
	}
	base, maxTs := int64(-1), int64(-1)
	if len(recs) > 0 {
		base, maxTs = recs[0].TimestampMs, recs[0].TimestampMs
		for _, r := range recs {
			maxTs = max(maxTs, r.TimestampMs)
		}
	}
	var raw []byte
	lastDelta := int32(-1)
	for i, r := range recs {
		delta := int32(i)
		if opts.OffsetDeltas != nil {
			delta = opts.OffsetDeltas[i]
		}
		lastDelta = delta
		raw = appendRecord(raw, r, delta, r.TimestampMs-base)
	}
	lastDelta = max(lastDelta, opts.LastOffsetDelta)
	payload, err := record.Compress(opts.Compression, raw)
	if err != nil {
		panic(fmt.Sprintf("recordtest: compress: %v", err))
	}
	rb := kmsg.RecordBatch{
		FirstOffset:          opts.BaseOffset,
		Length:               int32(record.HeaderSize - record.LengthOffset - 4 + len(payload)),
		PartitionLeaderEpoch: opts.LeaderEpoch,
		Magic:                record.Magic,
		Attributes:           attributes(opts),
		LastOffsetDelta:      lastDelta,
		FirstTimestamp:       base,
		MaxTimestamp:         maxTs,
		ProducerID:           -1,
		ProducerEpoch:        -1,
		FirstSequence:        -1,
		NumRecords:           int32(len(recs)),
		Records:              payload,
	}
	if p := opts.Producer; p != nil {
		rb.ProducerID, rb.ProducerEpoch, rb.FirstSequence = p.ID, p.Epoch, p.BaseSequence
	}
	b := rb.AppendTo(nil)
	if opts.LogAppendTime {
		record.SetLogAppendTime(b, opts.AppendTimeMs) // also sets the CRC
	} else {
		binary.BigEndian.PutUint32(b[crcOffset:], record.Checksum(b))
	}
	return b
}

// Batch layout facts (see package record's documentation).
const (
	crcOffset         = 17
	attrTransactional = 0x10
	attrControl       = 0x20
)

func attributes(opts BatchOptions) int16 {
	a := int16(opts.Compression)
	if opts.Transactional {
		a |= attrTransactional
	}
	if opts.Control {
		a |= attrControl
	}
	return a
}

// appendRecord encodes one record. kmsg writes the length field as given,
// so the record is encoded once with length 0 (one byte) to measure it.
func appendRecord(dst []byte, r Rec, offsetDelta int32, tsDelta int64) []byte {
	kr := kmsg.Record{
		TimestampDelta64: tsDelta,
		OffsetDelta:      offsetDelta,
		Key:              r.Key,
		Value:            r.Value,
	}
	for _, h := range r.Headers {
		kr.Headers = append(kr.Headers, kmsg.Header{Key: h.Key, Value: h.Value})
	}
	kr.Length = int32(len(kr.AppendTo(nil)) - 1)
	return kr.AppendTo(dst)
}

// EndTxnMarker is the record of a transaction marker (a control batch's
// only record): key = int16 version 0, int16 type (0 abort, 1 commit);
// value = int16 version 0, int32 coordinator epoch.
func EndTxnMarker(commit bool, coordinatorEpoch int32, timestampMs int64) Rec {
	typ := uint16(0)
	if commit {
		typ = 1
	}
	key := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, 0), typ)
	val := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, 0), uint32(coordinatorEpoch))
	return Rec{Key: key, Value: val, TimestampMs: timestampMs}
}

// BuildMarker returns a transactional control batch holding one commit or
// abort marker for producer p at baseOffset.
func BuildMarker(p Producer, baseOffset int64, commit bool, coordinatorEpoch int32, timestampMs int64) []byte {
	return BuildWith(BatchOptions{
		BaseOffset:    baseOffset,
		Producer:      &p,
		Transactional: true,
		Control:       true,
	}, EndTxnMarker(commit, coordinatorEpoch, timestampMs))
}

// Decode returns copies of the records of batch (nil and empty keys and
// values kept apart) with their absolute timestamps, using record's stored-batch rules (compacted batches
// allowed) and a 64 MiB decompression limit.
func Decode(batch []byte) ([]Rec, error) {
	h, err := record.ParseHeader(batch)
	if err != nil {
		return nil, err
	}
	var recs []Rec
	err = record.ForEachStoredRecord(batch, 64<<20, func(r *record.Record) bool {
		rec := Rec{Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value), TimestampMs: record.RecordTimestamp(&h, r)}
		for _, rh := range r.Headers {
			rec.Headers = append(rec.Headers, record.RecordHeader{Key: rh.Key, Value: bytes.Clone(rh.Value)})
		}
		recs = append(recs, rec)
		return true
	})
	return recs, err
}

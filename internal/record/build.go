package record

// Batches the broker writes from records it already stores (the log
// cleaner). Unlike Encode, the caller chooses every header field and each
// record's offset and timestamp delta, so records keep their offsets and
// timestamps when they move into another batch, and a batch may keep an
// offset range wider than its records (see records.go on stored batches).

import (
	"encoding/binary"
	"fmt"
)

// BatchSpec is the header of a batch to build; the length, magic, CRC and
// record count are derived.
type BatchSpec struct {
	BaseOffset      int64
	LastOffsetDelta int32
	LeaderEpoch     int32
	Attributes      int16 // as in the header: codec, timestamp type, transactional, control, delete horizon
	BaseTimestamp   int64
	MaxTimestamp    int64
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
}

// Spec returns h's fields as a BatchSpec.
func (h *Header) Spec() BatchSpec {
	return BatchSpec{
		BaseOffset: h.BaseOffset, LastOffsetDelta: h.LastOffsetDelta, LeaderEpoch: h.LeaderEpoch,
		Attributes: h.Attributes, BaseTimestamp: h.BaseTimestamp, MaxTimestamp: h.MaxTimestamp,
		ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, BaseSequence: h.BaseSequence,
	}
}

// DeleteHorizonMs is the time from which the log cleaner may remove the
// batch's tombstones (KIP-534), or -1 if the batch has none set. Kafka
// keeps it in the baseTimestamp field, flagged by an attribute bit; record
// timestamps are then deltas from it, so RecordTimestamp stays right.
func (h *Header) DeleteHorizonMs() int64 {
	if !h.DeleteHorizon() {
		return -1
	}
	return h.BaseTimestamp
}

// SetDeleteHorizon sets the delete horizon to ms, which becomes the base
// timestamp; ms < 0 clears the flag and leaves the base timestamp alone.
func (s *BatchSpec) SetDeleteHorizon(ms int64) {
	if ms < 0 {
		s.Attributes &^= attrDeleteHorizonSet
		return
	}
	s.Attributes |= attrDeleteHorizonSet
	s.BaseTimestamp = ms
}

// Compression is the codec named by s.Attributes.
func (s *BatchSpec) Compression() Compression { return Compression(s.Attributes & attrCompressionMask) }

// RecordSize is the encoded size of r, length prefix included, with the
// given deltas.
func RecordSize(r *Record, offsetDelta int32, timestampDelta int64) int {
	n := bodySize(r, offsetDelta, timestampDelta)
	return varintSize(int64(n)) + n
}

func bodySize(r *Record, offsetDelta int32, timestampDelta int64) int {
	n := 1 + varintSize(timestampDelta) + varintSize(int64(offsetDelta))
	n += nullableSize(r.Key) + nullableSize(r.Value) + varintSize(int64(len(r.Headers)))
	for _, h := range r.Headers {
		n += varintSize(int64(len(h.Key))) + len(h.Key) + nullableSize(h.Value)
	}
	return n
}

func nullableSize(v []byte) int {
	if v == nil {
		return varintSize(-1)
	}
	return varintSize(int64(len(v))) + len(v)
}

// varintSize is the size of v as a zigzag varint.
func varintSize(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

// AppendRecord appends r in its wire form (length prefix, then the body)
// with the given offset and timestamp deltas; r.OffsetDelta and
// r.TimestampDelta are ignored.
func AppendRecord(dst []byte, r *Record, offsetDelta int32, timestampDelta int64) []byte {
	dst = binary.AppendVarint(dst, int64(bodySize(r, offsetDelta, timestampDelta)))
	return appendRecordBody(dst, r, offsetDelta, timestampDelta)
}

// BuildBatch returns one batch with header spec holding the n records whose
// wire forms (AppendRecord) are concatenated in records, compressed with
// the codec of spec.Attributes, CRC set. The caller keeps the stored-batch
// rules: offset deltas increasing within 0..LastOffsetDelta.
func BuildBatch(spec BatchSpec, n int32, records []byte) ([]byte, error) {
	if n < 0 || spec.LastOffsetDelta < 0 || int64(n) > int64(spec.LastOffsetDelta)+1 {
		return nil, fmt.Errorf("%w: build batch of %d records with last offset delta %d", ErrInvalid, n, spec.LastOffsetDelta)
	}
	payload := records
	if c := spec.Compression(); c != CompressionNone && n > 0 {
		var err error
		if payload, err = Compress(c, records); err != nil {
			return nil, fmt.Errorf("record: build batch: %w", err)
		}
	} else if n == 0 {
		// An empty batch has no records section to compress: Kafka writes
		// such batches uncompressed.
		spec.Attributes &^= attrCompressionMask
		payload = nil
	}
	b := make([]byte, HeaderSize, HeaderSize+len(payload))
	b = append(b, payload...)
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(spec.BaseOffset))
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-LengthOffset-4))
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(spec.LeaderEpoch))
	b[offMagic] = Magic
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(spec.Attributes))
	binary.BigEndian.PutUint32(b[offLastOffsetDelta:], uint32(spec.LastOffsetDelta))
	binary.BigEndian.PutUint64(b[offBaseTimestamp:], uint64(spec.BaseTimestamp))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(spec.MaxTimestamp))
	binary.BigEndian.PutUint64(b[offProducerID:], uint64(spec.ProducerID))
	binary.BigEndian.PutUint16(b[offProducerEpoch:], uint16(spec.ProducerEpoch))
	binary.BigEndian.PutUint32(b[offBaseSequence:], uint32(spec.BaseSequence))
	binary.BigEndian.PutUint32(b[offRecordCount:], uint32(n))
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
	return b, nil
}

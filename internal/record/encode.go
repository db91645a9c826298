package record

import "encoding/binary"

// Encode returns one uncompressed v2 batch holding recs, for records the
// broker writes itself (coordinator state): base offset 0, offset deltas
// 0..n-1, every record stamped timestampMs, no producer id. The records'
// OffsetDelta and TimestampDelta fields are ignored.
func Encode(timestampMs int64, recs []Record) []byte {
	b := make([]byte, HeaderSize, HeaderSize+64*len(recs))
	var body []byte
	for i := range recs {
		body = appendRecordBody(body[:0], &recs[i], int32(i), 0)
		b = binary.AppendVarint(b, int64(len(body)))
		b = append(b, body...)
	}
	binary.BigEndian.PutUint64(b[offBaseOffset:], 0)
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-LengthOffset-4))
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], 0)
	b[offMagic] = Magic
	binary.BigEndian.PutUint16(b[offAttributes:], 0)
	binary.BigEndian.PutUint32(b[offLastOffsetDelta:], uint32(len(recs)-1))
	binary.BigEndian.PutUint64(b[offBaseTimestamp:], uint64(timestampMs))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(timestampMs))
	binary.BigEndian.PutUint64(b[offProducerID:], ^uint64(0))    // -1
	binary.BigEndian.PutUint16(b[offProducerEpoch:], ^uint16(0)) // -1
	binary.BigEndian.PutUint32(b[offBaseSequence:], ^uint32(0))  // -1
	binary.BigEndian.PutUint32(b[offRecordCount:], uint32(len(recs)))
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
	return b
}

// appendRecordBody appends a record's body (everything after its length).
func appendRecordBody(b []byte, r *Record, offsetDelta int32, timestampDelta int64) []byte {
	b = append(b, 0) // attributes
	b = binary.AppendVarint(b, timestampDelta)
	b = binary.AppendVarint(b, int64(offsetDelta))
	b = appendNullableBytes(b, r.Key)
	b = appendNullableBytes(b, r.Value)
	b = binary.AppendVarint(b, int64(len(r.Headers)))
	for _, h := range r.Headers {
		b = binary.AppendVarint(b, int64(len(h.Key)))
		b = append(b, h.Key...)
		b = appendNullableBytes(b, h.Value)
	}
	return b
}

func appendNullableBytes(b, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(b, -1)
	}
	b = binary.AppendVarint(b, int64(len(v)))
	return append(b, v...)
}

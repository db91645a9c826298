package record

// Records inside a v2 batch. After the 61-byte header comes the records
// section (compressed as a whole when the batch's codec is not none), which
// is NumRecords records back to back. Varints are zigzag-encoded like
// protobuf's sint32/sint64; a "varint" is an int32 of at most 5 bytes, a
// "varlong" an int64 of at most 10.
//
//	field            type
//	length           varint   bytes of the record after this field
//	attributes       int8     unused, ignored
//	timestampDelta   varlong  from the batch's baseTimestamp
//	offsetDelta      varint   from the batch's baseOffset
//	keyLength        varint   -1 for a null key
//	key              bytes
//	valueLength      varint   -1 for a null value
//	value            bytes
//	headerCount      varint   >= 0
//	headers          headerKeyLength varint (>= 0), headerKey UTF-8,
//	                 headerValueLength varint (-1 = null), headerValue
//
// Two sets of rules apply. Batches a producer sends must hold records with
// offset deltas exactly 0..n-1 and a lastOffsetDelta of n-1, and n >= 1
// (Kafka's LogValidator rejects anything else from a client). Batches read
// back from the log may have been compacted: records are gone but the batch
// keeps its offset range, so the deltas only increase within
// 0..lastOffsetDelta, and a batch may even hold no record at all.

import (
	"fmt"
	"sync"
)

// Record is one decoded record. Key, Value, header values and the Headers
// slice alias the batch (or a reused decompression buffer) and are only
// valid during the callback that receives the Record; copy what you keep.
type Record struct {
	OffsetDelta    int32
	TimestampDelta int64
	Key, Value     []byte // nil when null; empty but non-nil when empty
	Headers        []RecordHeader
}

// RecordHeader is a record header. Keys are never null; Value is nil when
// null.
type RecordHeader struct {
	Key   string
	Value []byte
}

// RecordTimestamp is the timestamp of r in the batch with header h: for
// LogAppendTime batches every record carries the broker's time, kept in
// MaxTimestamp; otherwise it is the producer's baseTimestamp plus the delta.
func RecordTimestamp(h *Header, r *Record) int64 {
	if h.LogAppendTime() {
		return h.MaxTimestamp
	}
	return h.BaseTimestamp + r.TimestampDelta
}

// RecordOffset is the offset of r in the batch with header h.
func RecordOffset(h *Header, r *Record) int64 {
	return h.BaseOffset + int64(r.OffsetDelta)
}

// ForEachRecord decodes the records of batch, which must be exactly one v2
// batch, under the rules for batches sent by producers, and calls fn for
// each in order until fn returns false. A compressed batch is decompressed
// first, failing if it would exceed maxDecompressed bytes. The CRC is not
// checked; call Verify first for untrusted input.
//
// Malformed records, a record count different from NumRecords, offset
// deltas other than 0..n-1, a lastOffsetDelta other than n-1, an empty batch
// and bytes after the last record are reported as a wrapped ErrInvalid;
// records after an early stop are not checked.
func ForEachRecord(batch []byte, maxDecompressed int, fn func(r *Record) bool) error {
	return forEachRecord(batch, maxDecompressed, producerRules, fn)
}

// ForEachStoredRecord is ForEachRecord under the rules for batches read back
// from the log, which compaction may have thinned: offset deltas need only
// increase within 0..lastOffsetDelta and the batch may hold no records.
func ForEachStoredRecord(batch []byte, maxDecompressed int, fn func(r *Record) bool) error {
	return forEachRecord(batch, maxDecompressed, storedRules, fn)
}

// ValidateRecords checks every record of batch under the producer rules of
// ForEachRecord without building header strings; for an uncompressed batch
// it allocates nothing per record.
func ValidateRecords(batch []byte, maxDecompressed int) error {
	return forEachRecord(batch, maxDecompressed, producerRules, nil)
}

type deltaRules int

const (
	producerRules deltaRules = iota
	storedRules
)

// decompressBufs recycles decompression buffers between calls; buffers
// above maxPooledBuf are left to the garbage collector so one huge batch
// does not pin its memory.
var decompressBufs = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledBuf = 4 << 20

func forEachRecord(batch []byte, maxDecompressed int, rules deltaRules, fn func(*Record) bool) error {
	h, err := ParseHeader(batch)
	if err != nil {
		return err
	}
	if h.Size() != len(batch) {
		if h.Size() > len(batch) {
			return ErrTruncated
		}
		return fmt.Errorf("%w: batch length %d does not match %d bytes", ErrCorrupt, h.Size(), len(batch))
	}
	if err := checkCounts(&h, rules); err != nil {
		return err
	}
	records := batch[HeaderSize:]
	if c := h.Compression(); c != CompressionNone {
		bp := decompressBufs.Get().(*[]byte)
		out, err := decompressInto(*bp, c, records, maxDecompressed)
		if err != nil {
			decompressBufs.Put(bp)
			return fmt.Errorf("record: batch at offset %d: %w", h.BaseOffset, err)
		}
		defer func() {
			if cap(out) <= maxPooledBuf {
				*bp = out[:0]
				decompressBufs.Put(bp)
			}
		}()
		records = out
	}
	return walkRecords(&h, records, rules, fn)
}

// checkCounts checks the header fields that bound the records.
func checkCounts(h *Header, rules deltaRules) error {
	if h.NumRecords < 0 {
		return fmt.Errorf("%w: negative record count %d", ErrInvalid, h.NumRecords)
	}
	if rules == producerRules && (h.NumRecords == 0 || h.LastOffsetDelta != h.NumRecords-1) {
		return fmt.Errorf("%w: %d records with last offset delta %d; a producer's batch must hold records 0..n-1",
			ErrInvalid, h.NumRecords, h.LastOffsetDelta)
	}
	// Distinct deltas in 0..last leave room for last+1 records at most.
	if int64(h.NumRecords) > int64(h.LastOffsetDelta)+1 {
		return fmt.Errorf("%w: %d records do not fit offset deltas 0..%d", ErrInvalid, h.NumRecords, h.LastOffsetDelta)
	}
	return nil
}

// walkRecords decodes the records section p of the batch with header h.
// With fn nil it only validates and skips building header keys.
func walkRecords(h *Header, p []byte, rules deltaRules, fn func(*Record) bool) error {
	var r Record
	n := int32(0)
	prev := int32(-1)
	for len(p) > 0 {
		if n == h.NumRecords {
			return fmt.Errorf("%w: %d bytes after the last of %d records", ErrInvalid, len(p), n)
		}
		used, err := parseRecord(p, &r, fn != nil)
		if err != nil {
			return fmt.Errorf("%w: record %d of batch at offset %d: %v", ErrInvalid, n, h.BaseOffset, err)
		}
		switch {
		case rules == producerRules && r.OffsetDelta != n:
			return fmt.Errorf("%w: record %d has offset delta %d", ErrInvalid, n, r.OffsetDelta)
		case r.OffsetDelta <= prev || r.OffsetDelta > h.LastOffsetDelta:
			return fmt.Errorf("%w: record %d has offset delta %d after %d, last %d",
				ErrInvalid, n, r.OffsetDelta, prev, h.LastOffsetDelta)
		}
		prev = r.OffsetDelta
		p = p[used:]
		n++
		if fn != nil && !fn(&r) {
			return nil
		}
	}
	if n != h.NumRecords {
		return fmt.Errorf("%w: batch holds %d records, header says %d", ErrInvalid, n, h.NumRecords)
	}
	return nil
}

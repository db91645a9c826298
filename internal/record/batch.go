// Package record parses and checks Kafka record batches (magic v2) as they
// travel through Strata: received from producers, stored in the log and read
// back for consumers. Batches are kept in their wire form; this package reads
// and patches their fixed header in place and never re-encodes records.
//
// On-disk and wire layout of a v2 batch (all integers big-endian):
//
//	offset  size  field
//	0       8     baseOffset
//	8       4     batchLength (bytes after this field)
//	12      4     partitionLeaderEpoch
//	16      1     magic (2)
//	17      4     crc (CRC-32C of bytes 21..end)
//	21      2     attributes
//	23      4     lastOffsetDelta
//	27      8     baseTimestamp
//	35      8     maxTimestamp
//	43      8     producerId
//	51      2     producerEpoch
//	53      4     baseSequence
//	57      4     recordCount
//	61      ...   records
//
// The CRC does not cover baseOffset, batchLength, partitionLeaderEpoch or
// magic, so the leader can assign offsets and epochs without recomputing it.
package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// HeaderSize is the size of the fixed v2 batch header.
const HeaderSize = 61

// LengthOffset is where batchLength sits; the twelve bytes before the end of
// it (baseOffset and batchLength) are enough to know a batch's full size.
const LengthOffset = 8

// Field offsets within a batch.
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57
)

// Attribute bits.
const (
	attrCompressionMask  = 0x07
	attrTimestampType    = 0x08 // set: LogAppendTime
	attrTransactional    = 0x10
	attrControl          = 0x20
	attrDeleteHorizonSet = 0x40
)

// Magic is the only record batch format Strata stores. Formats v0 and v1
// were removed from Kafka 4.0 (KIP-724); see the README's design notes.
const Magic = 2

// Errors returned for malformed batches. Callers map them to Kafka codes:
// ErrCorrupt -> CORRUPT_MESSAGE, ErrUnsupportedMagic -> UNSUPPORTED_VERSION,
// ErrInvalid -> INVALID_RECORD.
var (
	ErrCorrupt          = errors.New("record: corrupt batch")
	ErrUnsupportedMagic = errors.New("record: unsupported magic")
	ErrInvalid          = errors.New("record: invalid batch")
	ErrTruncated        = errors.New("record: truncated batch")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Compression is the codec of a batch's records, as in the attributes.
type Compression int8

const (
	CompressionNone   Compression = 0
	CompressionGzip   Compression = 1
	CompressionSnappy Compression = 2
	CompressionLZ4    Compression = 3
	CompressionZstd   Compression = 4
)

func (c Compression) String() string {
	switch c {
	case CompressionNone:
		return "none"
	case CompressionGzip:
		return "gzip"
	case CompressionSnappy:
		return "snappy"
	case CompressionLZ4:
		return "lz4"
	case CompressionZstd:
		return "zstd"
	}
	return fmt.Sprintf("unknown(%d)", int8(c))
}

// Header is the decoded fixed header of a v2 batch.
type Header struct {
	BaseOffset      int64
	Length          int32 // batchLength: bytes after the length field
	LeaderEpoch     int32
	Magic           int8
	CRC             uint32
	Attributes      int16
	LastOffsetDelta int32
	BaseTimestamp   int64
	MaxTimestamp    int64
	ProducerID      int64
	ProducerEpoch   int16
	BaseSequence    int32
	NumRecords      int32
}

// Size is the total size of the batch in bytes.
func (h *Header) Size() int { return LengthOffset + 4 + int(h.Length) }

// LastOffset is the offset of the last record of the batch.
func (h *Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset after the batch.
func (h *Header) NextOffset() int64 { return h.LastOffset() + 1 }

func (h *Header) Compression() Compression {
	return Compression(h.Attributes & attrCompressionMask)
}
func (h *Header) LogAppendTime() bool { return h.Attributes&attrTimestampType != 0 }
func (h *Header) Transactional() bool { return h.Attributes&attrTransactional != 0 }
func (h *Header) Control() bool       { return h.Attributes&attrControl != 0 }
func (h *Header) HasProducerID() bool { return h.ProducerID >= 0 }
func (h *Header) DeleteHorizon() bool { return h.Attributes&attrDeleteHorizonSet != 0 }

// BatchSize returns the full size of the batch starting at b, reading only
// baseOffset and batchLength; b must hold at least LengthOffset+4 bytes.
// A negative or absurd length is reported as ErrCorrupt.
func BatchSize(b []byte) (int, error) {
	if len(b) < LengthOffset+4 {
		return 0, ErrTruncated
	}
	n := int32(binary.BigEndian.Uint32(b[offLength:]))
	if n < HeaderSize-LengthOffset-4 {
		return 0, fmt.Errorf("%w: batch length %d below header size", ErrCorrupt, n)
	}
	return LengthOffset + 4 + int(n), nil
}

// ParseHeader decodes the fixed header at the start of b. It checks that the
// header is complete, the magic is 2 and the length is sane; it does not
// check the CRC (see Verify).
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		if len(b) > offMagic && b[offMagic] != Magic {
			return h, magicError(b[offMagic])
		}
		return h, ErrTruncated
	}
	h.BaseOffset = int64(binary.BigEndian.Uint64(b[offBaseOffset:]))
	h.Length = int32(binary.BigEndian.Uint32(b[offLength:]))
	h.LeaderEpoch = int32(binary.BigEndian.Uint32(b[offLeaderEpoch:]))
	h.Magic = int8(b[offMagic])
	if h.Magic != Magic {
		return h, magicError(b[offMagic])
	}
	if h.Length < HeaderSize-LengthOffset-4 {
		return h, fmt.Errorf("%w: batch length %d below header size", ErrCorrupt, h.Length)
	}
	h.CRC = binary.BigEndian.Uint32(b[offCRC:])
	h.Attributes = int16(binary.BigEndian.Uint16(b[offAttributes:]))
	h.LastOffsetDelta = int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:]))
	h.BaseTimestamp = int64(binary.BigEndian.Uint64(b[offBaseTimestamp:]))
	h.MaxTimestamp = int64(binary.BigEndian.Uint64(b[offMaxTimestamp:]))
	h.ProducerID = int64(binary.BigEndian.Uint64(b[offProducerID:]))
	h.ProducerEpoch = int16(binary.BigEndian.Uint16(b[offProducerEpoch:]))
	h.BaseSequence = int32(binary.BigEndian.Uint32(b[offBaseSequence:]))
	h.NumRecords = int32(binary.BigEndian.Uint32(b[offRecordCount:]))
	return h, nil
}

func magicError(m byte) error {
	if m == 0 || m == 1 {
		return fmt.Errorf("%w: message format v%d is not supported; use a client that writes v2 batches", ErrUnsupportedMagic, m)
	}
	return fmt.Errorf("%w: bad magic byte %d", ErrCorrupt, m)
}

// Checksum computes the CRC-32C the header of batch b should carry.
func Checksum(b []byte) uint32 { return crc32.Checksum(b[offAttributes:], castagnoli) }

// Verify checks that b holds exactly one complete v2 batch whose CRC matches,
// and returns its header.
func Verify(b []byte) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	if h.Size() != len(b) {
		if h.Size() > len(b) {
			return h, ErrTruncated
		}
		return h, fmt.Errorf("%w: batch length %d does not match %d bytes", ErrCorrupt, h.Size(), len(b))
	}
	if got := Checksum(b); got != h.CRC {
		return h, fmt.Errorf("%w: crc mismatch at base offset %d: header %08x, computed %08x", ErrCorrupt, h.BaseOffset, h.CRC, got)
	}
	return h, nil
}

// SetBaseOffset rewrites the base offset of the batch at b. The CRC does not
// cover it.
func SetBaseOffset(b []byte, offset int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(offset))
}

// SetLeaderEpoch rewrites the partition leader epoch of the batch at b. The
// CRC does not cover it.
func SetLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime marks the batch at b as LogAppendTime with the given
// timestamp as its max timestamp, and recomputes the CRC. Consumers take the
// max timestamp as every record's timestamp for such batches.
func SetLogAppendTime(b []byte, timestampMs int64) {
	attrs := binary.BigEndian.Uint16(b[offAttributes:]) | attrTimestampType
	binary.BigEndian.PutUint16(b[offAttributes:], attrs)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(timestampMs))
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
}

// Split walks b, a concatenation of batches, calling fn with each complete
// batch's bytes and header. It stops at the first error from fn. A trailing
// partial batch is reported as ErrTruncated along with the number of bytes of
// whole batches before it; CRCs are not checked here.
func Split(b []byte, fn func(batch []byte, h *Header) error) (int, error) {
	pos := 0
	for pos < len(b) {
		h, err := ParseHeader(b[pos:])
		if err != nil {
			return pos, err
		}
		end := pos + h.Size()
		if end > len(b) {
			return pos, ErrTruncated
		}
		if err := fn(b[pos:end], &h); err != nil {
			return pos, err
		}
		pos = end
	}
	return pos, nil
}

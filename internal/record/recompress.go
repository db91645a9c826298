package record

import (
	"encoding/binary"
	"fmt"
)

// Recompress returns a copy of batch with its records section re-encoded
// with codec c: what a broker does for a topic whose compression.type names
// a codec rather than "producer". The header is kept except for the codec
// bits, the length and the CRC. Decompression is bounded by maxDecompressed.
func Recompress(batch []byte, c Compression, maxDecompressed int) ([]byte, error) {
	h, err := ParseHeader(batch)
	if err != nil {
		return nil, err
	}
	if h.Compression() == c {
		return batch, nil
	}
	raw, err := Decompress(h.Compression(), batch[HeaderSize:h.Size()], maxDecompressed)
	if err != nil {
		return nil, err
	}
	payload := raw
	if c != CompressionNone {
		if payload, err = Compress(c, raw); err != nil {
			return nil, fmt.Errorf("record: recompress to %s: %w", c, err)
		}
	}
	out := make([]byte, HeaderSize+len(payload))
	copy(out, batch[:HeaderSize])
	copy(out[HeaderSize:], payload)
	binary.BigEndian.PutUint32(out[offLength:], uint32(len(out)-LengthOffset-4))
	attrs := uint16(h.Attributes)&^attrCompressionMask | uint16(c)
	binary.BigEndian.PutUint16(out[offAttributes:], attrs)
	binary.BigEndian.PutUint32(out[offCRC:], Checksum(out))
	return out, nil
}

// CompressionByName maps a compression.type value to its codec; "producer"
// and unknown names report false.
func CompressionByName(name string) (Compression, bool) {
	switch name {
	case "uncompressed":
		return CompressionNone, true
	case "gzip":
		return CompressionGzip, true
	case "snappy":
		return CompressionSnappy, true
	case "lz4":
		return CompressionLZ4, true
	case "zstd":
		return CompressionZstd, true
	}
	return 0, false
}

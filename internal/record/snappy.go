package record

// Snappy in Kafka comes in two shapes, and a broker must read both:
//
//   - a raw snappy block (uvarint decoded length, then tagged elements), as
//     written by librdkafka, Sarama and older franz-go;
//   - the xerial/snappy-java stream framing that the Java client writes
//     (SnappyOutputStream), all integers big-endian:
//
//	offset  size  field
//	0       8     magic "\x82SNAPPY\x00"
//	8       4     version (1)
//	12      4     minimum compatible version (1)
//	16      ...   blocks, each: int32 compressed length, then that many
//	              bytes holding one raw snappy block
//
// A payload that starts with the xerial magic is taken as framed, the same
// rule snappy-java's reader applies; a raw block whose header happens to
// spell the magic would need a decoded length of 10,626 bytes followed by
// the bytes "NAPPY\x00", which is not what a snappy encoder emits.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/klauspost/compress/snappy"
)

const (
	xerialMagic      = "\x82SNAPPY\x00"
	xerialHeaderSize = 16
	// xerialBlockSize is the uncompressed block size snappy-java writes.
	xerialBlockSize = 32 << 10
)

func decompressSnappy(buf, src []byte, maxSize int) ([]byte, error) {
	if len(src) >= xerialHeaderSize && bytes.HasPrefix(src, []byte(xerialMagic)) {
		return decompressXerial(buf[:0], src[xerialHeaderSize:], maxSize)
	}
	return appendSnappyBlock(buf[:0], src, maxSize)
}

// appendSnappyBlock decodes one raw snappy block onto out. The block states
// its decoded length up front, so the limit is checked before allocating.
//
// It uses the strict decoder: the default one also accepts the S2 extension
// (a copy with offset 0), which Java and C clients would fail to read, and
// the broker should not accept what consumers cannot decode.
func appendSnappyBlock(out, block []byte, maxSize int) ([]byte, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return nil, corrupt(CompressionSnappy, err)
	}
	if n > maxSize-len(out) {
		return nil, tooLarge(CompressionSnappy, maxSize)
	}
	out = slices.Grow(out, n) // amortized: xerial appends block after block
	dst := out[len(out) : len(out)+n]
	dec, err := snappy.DecodeStrict(dst, block)
	if err != nil {
		return nil, corrupt(CompressionSnappy, err)
	}
	if len(dec) != n {
		return nil, corrupt(CompressionSnappy, fmt.Errorf("decoded %d bytes, header says %d", len(dec), n))
	}
	// DecodeStrict decodes in place when dst has room, which it has; copy
	// only in case a future version stops doing so.
	if n > 0 && &dec[0] != &dst[0] {
		copy(dst, dec)
	}
	return out[:len(out)+n], nil
}

// decompressXerial decodes the blocks that follow the xerial header.
// The version fields are not checked: there has only ever been version 1.
func decompressXerial(out, blocks []byte, maxSize int) ([]byte, error) {
	for len(blocks) > 0 {
		if len(blocks) < 4 {
			return nil, corrupt(CompressionSnappy, fmt.Errorf("xerial: %d stray bytes after last block", len(blocks)))
		}
		n := binary.BigEndian.Uint32(blocks)
		blocks = blocks[4:]
		if uint64(n) > uint64(len(blocks)) {
			return nil, corrupt(CompressionSnappy, fmt.Errorf("xerial: block of %d bytes, %d left", n, len(blocks)))
		}
		var err error
		if out, err = appendSnappyBlock(out, blocks[:n], maxSize); err != nil {
			return nil, err
		}
		blocks = blocks[n:]
	}
	return out, nil
}

// compressXerial writes src in the xerial framing with snappy-java's block
// size, version 1 and compatible version 1 (what Java readers require).
func compressXerial(src []byte) []byte {
	blocks := (len(src) + xerialBlockSize - 1) / xerialBlockSize
	out := make([]byte, 0, xerialHeaderSize+4*blocks+snappy.MaxEncodedLen(len(src)))
	out = append(out, xerialMagic...)
	out = binary.BigEndian.AppendUint32(out, 1) // version
	out = binary.BigEndian.AppendUint32(out, 1) // minimum compatible version
	scratch := make([]byte, snappy.MaxEncodedLen(min(len(src), xerialBlockSize)))
	for len(src) > 0 {
		chunk := src[:min(len(src), xerialBlockSize)]
		src = src[len(chunk):]
		enc := snappy.Encode(scratch, chunk)
		out = binary.BigEndian.AppendUint32(out, uint32(len(enc)))
		out = append(out, enc...)
	}
	return out
}

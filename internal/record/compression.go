package record

// Compression of a batch's records section. The codec is named by the low
// three bits of the batch attributes and covers everything after the fixed
// header (the concatenated records); the header itself is never compressed.
//
// Decompression is always bounded: a caller passes the largest decoded
// payload it accepts, and a payload that would decode to more fails with a
// wrapped ErrInvalid once little more than that is allocated (at most about
// twice the limit; for zstd frames declaring a larger window, the window,
// see zstd.go), so a small "zip bomb" batch cannot exhaust the broker. Compressed data that
// cannot be decoded at all is reported as a wrapped ErrCorrupt.
//
// All functions here are safe for concurrent use; codec state (readers,
// writers, zstd decoder) is shared through pools.

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/pierrec/lz4/v4"
)

// Decompress decodes the records section src written with codec c and
// returns the decoded bytes in a new slice. It fails with a wrapped
// ErrInvalid if the result would exceed maxSize bytes (a negative maxSize
// counts as zero) or c is not a known codec, and with a wrapped ErrCorrupt
// if src is not valid data for c. CompressionNone returns a copy of src,
// subject to the same limit.
func Decompress(c Compression, src []byte, maxSize int) ([]byte, error) {
	return decompressInto(nil, c, src, maxSize)
}

// decompressInto is Decompress that may reuse buf's capacity for its result;
// the result may or may not alias buf.
func decompressInto(buf []byte, c Compression, src []byte, maxSize int) ([]byte, error) {
	maxSize = min(max(maxSize, 0), math.MaxInt/2) // room for maxSize+1
	switch c {
	case CompressionNone:
		if len(src) > maxSize {
			return nil, tooLarge(c, maxSize)
		}
		return append(buf[:0], src...), nil
	case CompressionGzip:
		return decompressGzip(buf, src, maxSize)
	case CompressionSnappy:
		return decompressSnappy(buf, src, maxSize)
	case CompressionLZ4:
		return decompressLZ4(buf, src, maxSize)
	case CompressionZstd:
		return decompressZstd(buf, src, maxSize)
	}
	return nil, fmt.Errorf("%w: unknown compression codec %d", ErrInvalid, int8(c))
}

// Compress encodes src with codec c, as a producer would, and returns a new
// slice. Gzip, LZ4 (frame format, 64 KiB blocks) and zstd use their default
// levels; snappy is written in the xerial framing Java clients use, which
// every Kafka client can read. CompressionNone returns a copy of src.
func Compress(c Compression, src []byte) ([]byte, error) {
	switch c {
	case CompressionNone:
		return bytes.Clone(src), nil
	case CompressionGzip:
		return compressGzip(src)
	case CompressionSnappy:
		return compressXerial(src), nil
	case CompressionLZ4:
		return compressLZ4(src)
	case CompressionZstd:
		return compressZstd(src)
	}
	return nil, fmt.Errorf("%w: unknown compression codec %d", ErrInvalid, int8(c))
}

func tooLarge(c Compression, maxSize int) error {
	return fmt.Errorf("%w: %s payload decompresses to more than %d bytes", ErrInvalid, c, maxSize)
}

func corrupt(c Compression, err error) error {
	return fmt.Errorf("%w: decompress %s: %w", ErrCorrupt, c, err)
}

// readBounded reads r to EOF into buf[:0], growing it as needed, and fails
// as soon as more than maxSize bytes come out: it never asks r for more than
// maxSize+1 bytes, so the allocation stays within about twice maxSize even
// for a stream that would decode to gigabytes.
func readBounded(buf []byte, r io.Reader, c Compression, maxSize, sizeHint int) ([]byte, error) {
	limit := maxSize + 1
	buf = buf[:0]
	if cap(buf) < min(sizeHint, limit) {
		buf = make([]byte, 0, min(sizeHint, limit))
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // let append pick the growth
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), limit)])
		buf = buf[:len(buf)+n]
		if len(buf) > maxSize {
			return nil, tooLarge(c, maxSize)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, corrupt(c, err)
		}
	}
}

// initialGuess is the first buffer size for a stream codec: records usually
// compress 2-10x, so 4x the input avoids most regrowth.
func initialGuess(srcLen int) int { return max(4*srcLen, 512) }

// streamDecoder pairs a pooled codec reader with the bytes.Reader it reads
// from, so neither is allocated per call and src is released after use.
type streamDecoder[R io.Reader] struct {
	src bytes.Reader
	zr  R
}

// gzipDecoders hold readers to Reset; a zero gzip.Reader is ready for Reset.
var gzipDecoders = sync.Pool{New: func() any {
	return &streamDecoder[*gzip.Reader]{zr: new(gzip.Reader)}
}}

// decompressGzip decodes RFC 1952 gzip; concatenated members are read as
// one stream, as Java's GZIPInputStream does.
func decompressGzip(buf, src []byte, maxSize int) ([]byte, error) {
	d := gzipDecoders.Get().(*streamDecoder[*gzip.Reader])
	defer gzipDecoders.Put(d)
	defer d.src.Reset(nil)
	d.src.Reset(src)
	if err := d.zr.Reset(&d.src); err != nil {
		return nil, corrupt(CompressionGzip, err)
	}
	return readBounded(buf, d.zr, CompressionGzip, maxSize, initialGuess(len(src)))
}

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

func compressGzip(src []byte) ([]byte, error) {
	var out bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&out)
	if _, err := zw.Write(src); err != nil {
		return nil, fmt.Errorf("record: gzip compress: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("record: gzip compress: %w", err)
	}
	return out.Bytes(), nil
}

// lz4Decoders hold single-goroutine frame readers; a frame's block size is
// at most 4 MiB, so a reader's own buffers are bounded whatever the input.
var lz4Decoders = sync.Pool{New: func() any {
	return &streamDecoder[*lz4.Reader]{zr: lz4.NewReader(nil)}
}}

// decompressLZ4 decodes one LZ4 frame (the format Kafka uses for magic v2).
func decompressLZ4(buf, src []byte, maxSize int) ([]byte, error) {
	d := lz4Decoders.Get().(*streamDecoder[*lz4.Reader])
	defer lz4Decoders.Put(d)
	defer d.src.Reset(nil)
	d.src.Reset(src)
	d.zr.Reset(&d.src)
	return readBounded(buf, d.zr, CompressionLZ4, maxSize, initialGuess(len(src)))
}

var lz4Writers = sync.Pool{New: func() any {
	zw := lz4.NewWriter(nil)
	// Kafka's Java client writes 64 KiB blocks; readers must allocate a
	// block buffer of the declared size, so small blocks are friendliest.
	if err := zw.Apply(lz4.BlockSizeOption(lz4.Block64Kb)); err != nil {
		panic(fmt.Sprintf("record: lz4 writer options: %v", err))
	}
	return zw
}}

func compressLZ4(src []byte) ([]byte, error) {
	var out bytes.Buffer
	zw := lz4Writers.Get().(*lz4.Writer)
	defer lz4Writers.Put(zw)
	zw.Reset(&out)
	if _, err := zw.Write(src); err != nil {
		return nil, fmt.Errorf("record: lz4 compress: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("record: lz4 compress: %w", err)
	}
	return out.Bytes(), nil
}

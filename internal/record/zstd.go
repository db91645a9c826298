package record

// Zstandard (RFC 8878) payloads: one or more frames. Producers that know the
// payload size up front (librdkafka, franz-go) write it in the frame header
// ("frame content size"); Java's streaming encoder does not, and declares a
// window instead (2 MiB at its default level 3, up to 128 MiB at level 22).
//
// Bounding memory: decoding uses DecodeAll, which writes into the output
// buffer itself and never allocates the window a frame declares, with the
// decoder's maximum decoded size set per call. A declared content size
// above the limit fails before any decoding; otherwise decoding stops at
// the first block that takes the output past the limit. The decoder also
// refuses frames whose declared window exceeds that same setting, so a
// Java frame whose window is larger than maxSize gets the window (at most
// zstdMaxWindow) as its limit instead, and the result is checked against
// maxSize afterwards: the transient memory for such frames is bounded by
// the window rather than by maxSize.

import (
	"errors"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// zstdMaxWindow is the largest window a frame may declare: 128 MiB, what the
// highest zstd level writes when the input size is unknown.
const zstdMaxWindow = 128 << 20

// zstdDecoders holds decoders for one DecodeAll at a time each, so a call
// can set its own limit. DecodeAll-only decoders run no goroutines, so the
// pool may drop them without Close.
var zstdDecoders = sync.Pool{New: func() any {
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		panic(fmt.Sprintf("record: zstd decoder options: %v", err))
	}
	return d
}}

// zstdEncoder is shared: EncodeAll is safe for concurrent use and writes the
// content size into each frame, which lets readers size their buffer.
var zstdEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderConcurrency(0),
		zstd.WithLowerEncoderMem(true),
	)
})

func decompressZstd(buf, src []byte, maxSize int) ([]byte, error) {
	limit, err := zstdLimit(src, maxSize)
	if err != nil {
		return nil, err
	}
	dec := zstdDecoders.Get().(*zstd.Decoder)
	defer zstdDecoders.Put(dec)
	// Reset with nil input only sets options; DecodeAll reads them anew.
	if err := dec.ResetWithOptions(nil, zstd.WithDecoderMaxMemory(uint64(limit))); err != nil {
		return nil, fmt.Errorf("record: zstd decoder limit %d: %w", limit, err)
	}
	out, err := dec.DecodeAll(src, buf[:0])
	switch {
	case errors.Is(err, zstd.ErrDecoderSizeExceeded):
		return nil, tooLarge(CompressionZstd, maxSize)
	case errors.Is(err, zstd.ErrWindowSizeExceeded):
		return nil, fmt.Errorf("%w: zstd frame declares a window above %d bytes", ErrInvalid, limit)
	case err != nil:
		return nil, corrupt(CompressionZstd, err)
	case len(out) > maxSize:
		return nil, tooLarge(CompressionZstd, maxSize)
	}
	return out, nil
}

// zstdLimit is the decoded size limit to give the decoder, from the first
// frame's header: an error if it declares a content size above maxSize, its
// window (capped) if that is larger than maxSize, else maxSize. The decoder
// gives even an empty single-segment frame a window of zstd.MinWindowSize
// and checks it against the limit, so the limit is at least that.
func zstdLimit(src []byte, maxSize int) (int, error) {
	limit := max(maxSize, zstd.MinWindowSize)
	var h zstd.Header
	if err := h.Decode(src); err != nil || h.Skippable {
		return limit, nil // DecodeAll reports what is wrong
	}
	if h.HasFCS && h.FrameContentSize > uint64(maxSize) {
		return 0, tooLarge(CompressionZstd, maxSize)
	}
	if !h.SingleSegment && h.WindowSize > uint64(limit) {
		limit = int(min(h.WindowSize, zstdMaxWindow))
	}
	return limit, nil
}

func compressZstd(src []byte) ([]byte, error) {
	enc, err := zstdEncoder()
	if err != nil {
		return nil, fmt.Errorf("record: zstd encoder: %w", err)
	}
	return enc.EncodeAll(src, nil), nil
}

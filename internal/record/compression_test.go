package record

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
)

var allCodecs = []Compression{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd}

// testPayloads returns inputs of interesting shapes: empty, tiny, larger
// than one xerial/lz4 block, compressible and not.
func testPayloads(t testing.TB) map[string][]byte {
	seed := rand.Uint64()
	t.Logf("payload seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	random := make([]byte, 200<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	text := bytes.Repeat([]byte("key=value,timestamp=1700000000000;"), 10000)
	return map[string][]byte{
		"empty":  {},
		"one":    {42},
		"small":  []byte("hello, strata"),
		"random": random,
		"text":   text,
	}
}

func TestCompressRoundTrip(t *testing.T) {
	for name, in := range testPayloads(t) {
		for _, c := range allCodecs {
			t.Run(c.String()+"/"+name, func(t *testing.T) {
				enc, err := Compress(c, in)
				if err != nil {
					t.Fatalf("Compress: %v", err)
				}
				out, err := Decompress(c, enc, len(in))
				if err != nil {
					t.Fatalf("Decompress: %v", err)
				}
				if !bytes.Equal(out, in) {
					t.Fatalf("round trip changed %d bytes into %d", len(in), len(out))
				}
				// One byte less than the payload must be refused.
				if len(in) > 0 {
					if _, err := Decompress(c, enc, len(in)-1); !errors.Is(err, ErrInvalid) {
						t.Fatalf("limit %d below size %d: err %v, want ErrInvalid", len(in)-1, len(in), err)
					}
				}
			})
		}
	}
}

// xerialFrame builds a snappy-java stream by hand: header, then each chunk
// as an int32 length and a raw snappy block.
func xerialFrame(chunks ...[]byte) []byte {
	out := append([]byte("\x82SNAPPY\x00"), 0, 0, 0, 1, 0, 0, 0, 1)
	for _, c := range chunks {
		enc := snappy.Encode(nil, c)
		out = binary.BigEndian.AppendUint32(out, uint32(len(enc)))
		out = append(out, enc...)
	}
	return out
}

func TestDecompressSnappyFormats(t *testing.T) {
	a := bytes.Repeat([]byte("abc"), 20000)
	b := []byte("tail block")
	tests := []struct {
		name string
		src  []byte
		want []byte
	}{
		{"raw block", snappy.Encode(nil, a), a},
		{"raw empty", snappy.Encode(nil, nil), nil},
		{"xerial one block", xerialFrame(b), b},
		{"xerial two blocks", xerialFrame(a, b), append(bytes.Clone(a), b...)},
		{"xerial header only", xerialFrame(), nil},
		{"xerial empty block", xerialFrame(nil, b), b},
		{"our writer", compressXerial(a), a},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decompress(CompressionSnappy, tt.src, 1<<20)
			if err != nil {
				t.Fatalf("Decompress: %v", err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("got %d bytes, want %d", len(got), len(tt.want))
			}
		})
	}
}

func TestDecompressCorrupt(t *testing.T) {
	valid := map[Compression][]byte{}
	for _, c := range allCodecs[1:] {
		enc, err := Compress(c, bytes.Repeat([]byte("records "), 1000))
		if err != nil {
			t.Fatal(err)
		}
		valid[c] = enc
	}
	xerialBadLen := xerialFrame([]byte("x"))
	binary.BigEndian.PutUint32(xerialBadLen[16:], 1000)
	tests := []struct {
		name string
		c    Compression
		src  []byte
		want error
	}{
		{"gzip garbage", CompressionGzip, []byte("not gzip at all"), ErrCorrupt},
		{"gzip truncated", CompressionGzip, valid[CompressionGzip][:20], ErrCorrupt},
		{"snappy garbage", CompressionSnappy, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, ErrCorrupt},
		{"snappy truncated", CompressionSnappy, valid[CompressionSnappy][:30], ErrCorrupt},
		{"xerial stray bytes", CompressionSnappy, append(xerialFrame([]byte("x")), 0, 1), ErrCorrupt},
		{"xerial block length", CompressionSnappy, xerialBadLen, ErrCorrupt},
		{"lz4 garbage", CompressionLZ4, []byte("definitely not lz4"), ErrCorrupt},
		{"lz4 truncated", CompressionLZ4, valid[CompressionLZ4][:len(valid[CompressionLZ4])/2], ErrCorrupt},
		{"zstd garbage", CompressionZstd, []byte("definitely not zstd"), ErrCorrupt},
		{"zstd truncated", CompressionZstd, valid[CompressionZstd][:len(valid[CompressionZstd])/2], ErrCorrupt},
		{"unknown codec", Compression(5), []byte("x"), ErrInvalid},
		{"none over limit", CompressionNone, make([]byte, 10), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decompress(tt.c, tt.src, 5); tt.c == CompressionNone && !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
			if _, err := Decompress(tt.c, tt.src, 1<<20); tt.c != CompressionNone && !errors.Is(err, tt.want) {
				t.Fatalf("err %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := Compress(Compression(7), nil); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Compress unknown codec: err %v, want ErrInvalid", err)
	}
}

// zstdStream compresses like Java's streaming encoder: no content size in
// the frame header and a declared window of window bytes.
func zstdStream(t testing.TB, src []byte, window int) []byte {
	var buf bytes.Buffer
	w, err := zstd.NewWriter(&buf, zstd.WithWindowSize(window), zstd.WithEncoderConcurrency(1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(src); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestZstdLargeWindowSmallLimit checks that a frame declaring a window far
// above the limit still decodes when its content fits, and that frames
// without a content size take the growing-buffer path correctly.
func TestZstdLargeWindowSmallLimit(t *testing.T) {
	in := bytes.Repeat([]byte("0123456789abcdef"), 20000) // 320 KB
	enc := zstdStream(t, in, 8<<20)
	var h zstd.Header
	if err := h.Decode(enc); err != nil || h.HasFCS || h.WindowSize <= uint64(len(in)) {
		t.Fatalf("test frame: header %+v, err %v; want no content size and a window above %d", h, err, len(in))
	}
	out, err := Decompress(CompressionZstd, enc, len(in))
	if err != nil || !bytes.Equal(out, in) {
		t.Fatalf("Decompress: %d bytes, err %v", len(out), err)
	}
	if _, err := Decompress(CompressionZstd, enc, len(in)-1); !errors.Is(err, ErrInvalid) {
		t.Fatalf("limit below size: err %v, want ErrInvalid", err)
	}
}

// TestDecompressionBomb feeds each codec a small payload that expands to
// 32 MiB under a 1 MiB limit: it must fail with ErrInvalid having allocated
// a bounded amount, not the expanded size.
func TestDecompressionBomb(t *testing.T) {
	const expanded, limit = 32 << 20, 1 << 20
	zeros := make([]byte, expanded)
	bombs := map[string]struct {
		c   Compression
		src []byte
	}{
		"zstd stream": {CompressionZstd, zstdStream(t, zeros, 1<<20)},
		"xerial":      {CompressionSnappy, compressXerial(zeros)},
		"raw snappy":  {CompressionSnappy, snappy.Encode(nil, zeros)},
	}
	for _, c := range []Compression{CompressionGzip, CompressionLZ4, CompressionZstd} {
		enc, err := Compress(c, zeros)
		if err != nil {
			t.Fatal(err)
		}
		bombs[c.String()] = struct {
			c   Compression
			src []byte
		}{c, enc}
	}
	zeros = nil
	for name, bomb := range bombs {
		t.Run(name, func(t *testing.T) {
			// Warm up pools and the shared zstd decoder outside the count.
			if _, err := Decompress(bomb.c, bomb.src, limit); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err %v, want ErrInvalid", err)
			}
			alloc := allocated(func() {
				if _, err := Decompress(bomb.c, bomb.src, limit); !errors.Is(err, ErrInvalid) {
					t.Errorf("err %v, want ErrInvalid", err)
				}
			})
			if alloc > 6*limit {
				t.Fatalf("%d-byte bomb allocated %d bytes under a %d-byte limit", len(bomb.src), alloc, limit)
			}
		})
	}
}

func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

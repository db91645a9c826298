package wire

import (
	"math/bits"
	"sync"
)

// Response frames come from size-classed pools and go back once written,
// so steady traffic allocates no response memory: at 100 MB/s of fetches,
// fresh (and regrown) buffers were most of the garbage the collector chased.
// Classes are powers of two from 4 KiB to 64 MiB; larger frames are
// allocated and left to the collector.
const (
	minFrameClass = 12
	maxFrameClass = 26
)

var framePools [maxFrameClass + 1]sync.Pool

// getFrame returns an empty buffer with room for at least size bytes.
func getFrame(size int) []byte {
	c := max(bits.Len(uint(max(size, 1)-1)), minFrameClass)
	if c > maxFrameClass {
		return make([]byte, 0, size)
	}
	if b, ok := framePools[c].Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, 1<<c)
}

// putFrame returns a buffer from getFrame once nothing refers to it. A
// buffer that grew past its class (append reallocated it) is dropped.
func putFrame(b []byte) {
	c := bits.Len(uint(cap(b))) - 1
	if c < minFrameClass || c > maxFrameClass || cap(b) != 1<<c {
		return
	}
	b = b[:0]
	framePools[c].Put(&b)
}

// Package bufpool keeps large byte buffers for reuse: response frames,
// produce request frames and fetch read buffers. At 100 MB/s of fetches,
// fresh (and regrown) buffers were most of the garbage the collector chased;
// with them pooled, steady traffic allocates little, so the collector runs
// (and takes a core from request handling) far less often.
//
// Classes are powers of two from 4 KiB to 64 MiB; larger buffers are
// allocated and left to the collector. A buffer may be taken and never put
// back (the collector takes it then): Put is an optimisation, and only
// buffers nothing refers to any more may be put.
package bufpool

import (
	"math/bits"
	"sync"
)

const (
	minClass = 12
	maxClass = 26
)

var pools [maxClass + 1]sync.Pool

// Get returns an empty buffer with room for at least size bytes.
func Get(size int) []byte {
	c := max(bits.Len(uint(max(size, 1)-1)), minClass)
	if c > maxClass {
		return make([]byte, 0, size)
	}
	if b, ok := pools[c].Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, 1<<c)
}

// Put returns a buffer from Get once nothing refers to it. A buffer that
// grew past its class (append reallocated it) is dropped.
func Put(b []byte) {
	c := bits.Len(uint(cap(b))) - 1
	if c < minClass || c > maxClass || cap(b) != 1<<c {
		return
	}
	b = b[:0]
	pools[c].Put(&b)
}

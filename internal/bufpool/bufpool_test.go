package bufpool

import "testing"

func TestPool(t *testing.T) {
	for _, size := range []int{0, 1, 4096, 4097, 100 << 10, 64 << 20} {
		b := Get(size)
		if cap(b) < size || len(b) != 0 {
			t.Fatalf("Get(%d): len %d cap %d", size, len(b), cap(b))
		}
		Put(b)
	}
	big := Get(65 << 20)
	if cap(big) < 65<<20 {
		t.Fatal("oversized buffer too small")
	}
	Put(big) // dropped, not pooled
	grown := append(Get(4096), make([]byte, 5000)...)
	Put(grown) // reallocated past its class: dropped
	if b := Get(8192); cap(b) != 8192 {
		t.Fatalf("class 8 KiB buffer has cap %d", cap(b))
	}
}

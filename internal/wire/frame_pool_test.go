package wire

import "testing"

func TestFramePool(t *testing.T) {
	for _, size := range []int{0, 1, 4096, 4097, 100 << 10, 64 << 20} {
		b := getFrame(size)
		if cap(b) < size || len(b) != 0 {
			t.Fatalf("getFrame(%d): len %d cap %d", size, len(b), cap(b))
		}
		putFrame(b)
	}
	big := getFrame(65 << 20)
	if cap(big) < 65<<20 {
		t.Fatal("oversized frame too small")
	}
	putFrame(big) // dropped, not pooled
	grown := append(getFrame(4096), make([]byte, 5000)...)
	putFrame(grown) // reallocated past its class: dropped
	if b := getFrame(8192); cap(b) != 8192 {
		t.Fatalf("class 8 KiB frame has cap %d", cap(b))
	}
}

package log

import (
	"fmt"
	"hash/maphash"
	"math/bits"
)

// offsetMap maps record keys to the latest offset the cleaner saw for them
// (Kafka's SkimpyOffsetMap). It stores a 128-bit hash of each key rather
// than the key, so an entry costs mapSlotSize bytes whatever the key's
// size. A hash collision would make the cleaner delete the live record of
// one of the two keys, so the hash is two independent 64-bit hashes (two
// random maphash seeds, new ones for every map): a collision among n keys
// has probability about n²/2^129.
//
// The table is open-addressed with linear probing, at most 3/4 full; it
// grows by doubling up to maxSlots (the configured dedupe buffer), so
// memory follows the keys of the largest pass and never exceeds the buffer
// (1.5 times it while growing). full reports when the next batch of keys
// may not fit: the caller stops the map there.
//
// Not safe for concurrent use: one cleaner pass owns it.
type offsetMap struct {
	seed1, seed2 maphash.Seed
	slots        []mapSlot // length a power of two
	n            int       // occupied slots
	maxSlots     int       // a power of two
	latest       int64     // largest offset put; -1 when empty
}

// mapSlot is one entry; off is the offset plus one, 0 for a free slot.
type mapSlot struct {
	h1, h2 uint64
	off    int64
}

// mapSlotSize is the memory of one slot (as Kafka's 16-byte MD5 and
// 8-byte offset).
const mapSlotSize = 24

// minMapSlots is the table's initial size.
const minMapSlots = 1024

// newOffsetMap returns a map whose table never exceeds bufferBytes.
func newOffsetMap(bufferBytes int64) (*offsetMap, error) {
	slots := bufferBytes / mapSlotSize
	if slots < 4 {
		return nil, fmt.Errorf("log: cleaner dedupe buffer of %d bytes holds no key", bufferBytes)
	}
	maxSlots := 1 << (bits.Len64(uint64(slots)) - 1) // largest power of two that fits
	m := &offsetMap{maxSlots: maxSlots}
	m.reset()
	return m, nil
}

// capacity is how many keys the map holds at most.
func (m *offsetMap) capacity() int { return m.maxSlots / 4 * 3 }

// reset empties the map for a new pass with new seeds, keeping the table.
func (m *offsetMap) reset() {
	m.seed1, m.seed2 = maphash.MakeSeed(), maphash.MakeSeed()
	if m.slots == nil {
		m.slots = make([]mapSlot, min(minMapSlots, m.maxSlots))
	} else {
		clear(m.slots)
	}
	m.n, m.latest = 0, -1
}

// room reports whether k more keys surely fit.
func (m *offsetMap) room(k int) bool { return m.n+k <= m.capacity() }

func (m *offsetMap) hash(key []byte) (uint64, uint64) {
	return maphash.Bytes(m.seed1, key), maphash.Bytes(m.seed2, key)
}

// put records offset for key; offsets must be put in increasing order.
// The caller checks room first.
func (m *offsetMap) put(key []byte, offset int64) {
	if offset < m.latest {
		panic(fmt.Sprintf("log: offset map: offset %d put after %d", offset, m.latest))
	}
	m.latest = offset
	h1, h2 := m.hash(key)
	i := m.find(h1, h2)
	if m.slots[i].off == 0 {
		if m.n+1 > len(m.slots)/4*3 {
			m.grow()
			i = m.find(h1, h2)
		}
		m.n++
		if m.n > m.capacity() {
			panic(fmt.Sprintf("log: offset map over capacity %d", m.capacity()))
		}
	}
	m.slots[i] = mapSlot{h1: h1, h2: h2, off: offset + 1}
}

// get returns the latest offset recorded for key, or -1.
func (m *offsetMap) get(key []byte) int64 {
	h1, h2 := m.hash(key)
	return m.slots[m.find(h1, h2)].off - 1
}

// find returns the slot holding the hash, or the free slot where it goes.
func (m *offsetMap) find(h1, h2 uint64) int {
	mask := uint64(len(m.slots) - 1)
	for i := h1 & mask; ; i = (i + 1) & mask {
		s := &m.slots[i]
		if s.off == 0 || (s.h1 == h1 && s.h2 == h2) {
			return int(i)
		}
	}
}

// grow doubles the table, up to maxSlots.
func (m *offsetMap) grow() {
	if len(m.slots) >= m.maxSlots {
		return // capacity() is 3/4 of maxSlots: the caller never overfills it
	}
	old := m.slots
	m.slots = make([]mapSlot, 2*len(old))
	for _, s := range old {
		if s.off != 0 {
			m.slots[m.find(s.h1, s.h2)] = s
		}
	}
}

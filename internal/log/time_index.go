package log

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// timeEntrySize is the size of one time index entry.
const timeEntrySize = 12

// timeIndex is the time index of one segment, kept in memory in exactly its
// file format (.timeindex): 12-byte big-endian entries
//
//	timestamp int64   the largest batch max timestamp seen in the segment so far
//	relOffset uint32  base offset of the batch where that timestamp was first seen, minus the segment base
//
// Both fields strictly increase. An entry is written together with every
// offset index entry when the segment's max timestamp grew since the last
// one, and once more when the segment is closed, so the last entry of a
// closed segment holds its max timestamp.
//
// Why lookups are sound: for an entry {T, O}, every batch before O has a max
// timestamp below T (O is where T was first seen) and every batch indexed up
// to the entry's moment has one at most T. So the first record with a
// timestamp >= target is never before O of the last entry with T <= target.
type timeIndex struct {
	b []byte
}

func (x *timeIndex) len() int { return len(x.b) / timeEntrySize }

func (x *timeIndex) entry(i int) (ts int64, rel uint32) {
	e := x.b[i*timeEntrySize:]
	return int64(binary.BigEndian.Uint64(e)), binary.BigEndian.Uint32(e[8:])
}

// last returns the last entry; ok is false for an empty index.
func (x *timeIndex) last() (ts int64, rel uint32, ok bool) {
	if x.len() == 0 {
		return -1, 0, false
	}
	ts, rel = x.entry(x.len() - 1)
	return ts, rel, true
}

// maybeAppend adds {ts, rel} if ts is larger than the last timestamp. A
// negative timestamp (no timestamp) is never indexed.
func (x *timeIndex) maybeAppend(ts int64, rel uint32) {
	if last, _, ok := x.last(); ts < 0 || (ok && ts <= last) {
		return
	}
	x.b = binary.BigEndian.AppendUint64(x.b, uint64(ts))
	x.b = binary.BigEndian.AppendUint32(x.b, rel)
}

// floor returns the index of the last entry with timestamp <= ts, or -1.
func (x *timeIndex) floor(ts int64) int {
	return sort.Search(x.len(), func(i int) bool {
		t, _ := x.entry(i)
		return t > ts
	}) - 1
}

// truncate drops the entries whose offset is at or above rel.
func (x *timeIndex) truncate(rel int64) {
	n := sort.Search(x.len(), func(i int) bool {
		_, r := x.entry(i)
		return int64(r) >= rel
	})
	x.b = append([]byte(nil), x.b[:n*timeEntrySize]...)
}

// validate checks an index loaded from disk: both fields strictly
// increasing, non-negative timestamps, offsets below maxRel.
func (x *timeIndex) validate(maxRel int64) error {
	if len(x.b)%timeEntrySize != 0 {
		return fmt.Errorf("time index of %d bytes is not a multiple of %d", len(x.b), timeEntrySize)
	}
	prevTs, prevRel := int64(-1), int64(-1)
	for i := 0; i < x.len(); i++ {
		ts, r := x.entry(i)
		rel := int64(r)
		if ts <= prevTs || rel <= prevRel || rel >= maxRel {
			return fmt.Errorf("time index entry %d {%d, %d} out of order or range (previous {%d, %d}, max offset %d)",
				i, ts, rel, prevTs, prevRel, maxRel)
		}
		prevTs, prevRel = ts, rel
	}
	return nil
}

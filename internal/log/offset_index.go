package log

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// offsetEntrySize is the size of one offset index entry.
const offsetEntrySize = 8

// offsetIndex is the sparse offset index of one segment, kept in memory in
// exactly its file format (.index): 8-byte big-endian entries
//
//	relOffset uint32  base offset of a batch minus the segment's base offset
//	position  uint32  where that batch starts in the segment's .log file
//
// Both fields strictly increase from entry to entry. An entry is added for
// the batch being appended once more than IndexIntervalBytes were appended
// since the previous entry, so a lookup lands at most about that many bytes
// (plus one batch) before the batch it is after. The first batch of a
// segment never gets an entry: position 0 is implied.
//
// Entries are only appended, or dropped from the end by truncate, which
// copies so that a slice handed out earlier never changes under a reader.
type offsetIndex struct {
	b []byte
}

func (x *offsetIndex) len() int { return len(x.b) / offsetEntrySize }

func (x *offsetIndex) entry(i int) (rel, pos uint32) {
	e := x.b[i*offsetEntrySize:]
	return binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:])
}

func (x *offsetIndex) append(rel, pos uint32) {
	x.b = binary.BigEndian.AppendUint32(x.b, rel)
	x.b = binary.BigEndian.AppendUint32(x.b, pos)
}

// floor returns the index of the last entry with relOffset <= rel, or -1.
func (x *offsetIndex) floor(rel int64) int {
	n := x.len()
	return sort.Search(n, func(i int) bool {
		r, _ := x.entry(i)
		return int64(r) > rel
	}) - 1
}

// bounds returns where to look for the batch holding offset rel: from the
// position of the last entry at or below rel (0 if none) up to the position
// of the next entry (end if none). The batch starts inside [from, to).
func (x *offsetIndex) bounds(rel int64, end int64) (from, to int64) {
	i := x.floor(rel)
	from, to = 0, end
	if i >= 0 {
		_, p := x.entry(i)
		from = int64(p)
	}
	if i+1 < x.len() {
		_, p := x.entry(i + 1)
		to = int64(p)
	}
	return from, to
}

// lastPosition is the position of the last entry, 0 if there is none.
func (x *offsetIndex) lastPosition() int64 {
	if x.len() == 0 {
		return 0
	}
	_, p := x.entry(x.len() - 1)
	return int64(p)
}

// truncate drops the entries at or after file position pos.
func (x *offsetIndex) truncate(pos int64) {
	n := sort.Search(x.len(), func(i int) bool {
		_, p := x.entry(i)
		return int64(p) >= pos
	})
	x.b = append([]byte(nil), x.b[:n*offsetEntrySize]...)
}

// validate checks the entries of an index loaded from disk against the
// segment they belong to: both fields strictly increasing, offsets below
// maxRel, positions inside the log file.
func (x *offsetIndex) validate(logSize int64, maxRel int64) error {
	if len(x.b)%offsetEntrySize != 0 {
		return fmt.Errorf("offset index of %d bytes is not a multiple of %d", len(x.b), offsetEntrySize)
	}
	prevRel, prevPos := int64(-1), int64(-1)
	for i := 0; i < x.len(); i++ {
		r, p := x.entry(i)
		rel, pos := int64(r), int64(p)
		if rel <= prevRel || pos <= prevPos || rel >= maxRel || pos >= logSize {
			return fmt.Errorf("offset index entry %d {%d, %d} out of order or range (previous {%d, %d}, max offset %d, log size %d)",
				i, rel, pos, prevRel, prevPos, maxRel, logSize)
		}
		prevRel, prevPos = rel, pos
	}
	return nil
}

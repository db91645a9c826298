package log

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// epochEntry says that leader epoch Epoch wrote its first batch at
// StartOffset.
type epochEntry struct {
	Epoch       int32
	StartOffset int64
}

// maxEpochEntries bounds a checkpoint file we are willing to load.
const maxEpochEntries = 1 << 20

// epochCache is the leader epoch cache of a log (Kafka's
// LeaderEpochFileCache): entries with strictly increasing epochs and
// strictly increasing start offsets, all below the log end offset. The
// first entry may start at the log start offset after older data was
// deleted. It is guarded by Log.mu and persisted in leader-epoch-checkpoint.
type epochCache struct {
	entries []epochEntry
}

// latest is the latest epoch, -1 if none.
func (c *epochCache) latest() int32 {
	if len(c.entries) == 0 {
		return -1
	}
	return c.entries[len(c.entries)-1].Epoch
}

// assign records that epoch starts at offset, if epoch is newer than the
// latest known one. Entries at or after offset are dropped first; they
// cannot exist in a consistent log but must not break the ordering.
func (c *epochCache) assign(epoch int32, offset int64) bool {
	if epoch < 0 || epoch <= c.latest() {
		return false
	}
	c.truncateFromEnd(offset)
	c.entries = append(c.entries, epochEntry{Epoch: epoch, StartOffset: offset})
	return true
}

// truncateFromEnd drops the entries starting at or after end.
func (c *epochCache) truncateFromEnd(end int64) bool {
	n := len(c.entries)
	for n > 0 && c.entries[n-1].StartOffset >= end {
		n--
	}
	changed := n != len(c.entries)
	c.entries = c.entries[:n]
	return changed
}

// truncateFromStart drops the entries that start at or before start and
// keeps the last of them, moved to start: the epoch that wrote the record
// at start stays known.
func (c *epochCache) truncateFromStart(start int64) bool {
	i := 0
	for i < len(c.entries) && c.entries[i].StartOffset <= start {
		i++
	}
	if i == 0 || (i == 1 && c.entries[0].StartOffset == start) {
		return false
	}
	kept := epochEntry{Epoch: c.entries[i-1].Epoch, StartOffset: start}
	c.entries = append([]epochEntry{kept}, c.entries[i:]...)
	return true
}

// endOffsetFor answers OffsetForLeaderEpoch as Kafka's
// LeaderEpochFileCache.endOffsetFor does: for the latest epoch the log end
// offset; otherwise the largest known epoch <= requested and the start
// offset of the epoch after it. A requested epoch below every known epoch
// gives the requested epoch and the start offset of the first known one
// (the data before it is gone; the follower truncates to there). An epoch
// above the latest, an empty cache, or epoch -1 give (-1, -1).
func (c *epochCache) endOffsetFor(epoch int32, logEnd int64) (int32, int64) {
	if epoch < 0 || len(c.entries) == 0 || epoch > c.latest() {
		return -1, -1
	}
	if epoch == c.latest() {
		return epoch, logEnd
	}
	// higher: first entry with a larger epoch (exists: epoch < latest).
	higher := 0
	for c.entries[higher].Epoch <= epoch {
		higher++
	}
	if higher == 0 {
		return epoch, c.entries[0].StartOffset
	}
	return c.entries[higher-1].Epoch, c.entries[higher].StartOffset
}

func (c *epochCache) clone() []epochEntry { return append([]epochEntry(nil), c.entries...) }

// marshal encodes the cache in the text format of Kafka's checkpoint files:
// a version line (0), a count line, then one "epoch startOffset" line per
// entry.
func (c *epochCache) marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(c.entries))
	for _, e := range c.entries {
		fmt.Fprintf(&b, "%d %d\n", e.Epoch, e.StartOffset)
	}
	return b.Bytes()
}

// unmarshalEpochs parses marshal's format, checking the ordering.
func unmarshalEpochs(data []byte) ([]epochEntry, error) {
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) < 2 || lines[0] != "0" {
		return nil, fmt.Errorf("epoch checkpoint: bad header")
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n < 0 || n > maxEpochEntries || n != len(lines)-2 {
		return nil, fmt.Errorf("epoch checkpoint: bad count %q for %d lines", lines[1], len(lines)-2)
	}
	entries := make([]epochEntry, 0, n)
	for i, line := range lines[2:] {
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("epoch checkpoint: line %d: %q", i+3, line)
		}
		epoch, err1 := strconv.ParseInt(f[0], 10, 32)
		start, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil || epoch < 0 || start < 0 {
			return nil, fmt.Errorf("epoch checkpoint: line %d: %q", i+3, line)
		}
		if k := len(entries); k > 0 && (int32(epoch) <= entries[k-1].Epoch || start <= entries[k-1].StartOffset) {
			return nil, fmt.Errorf("epoch checkpoint: line %d: %q not after %v", i+3, line, entries[k-1])
		}
		entries = append(entries, epochEntry{Epoch: int32(epoch), StartOffset: start})
	}
	return entries, nil
}

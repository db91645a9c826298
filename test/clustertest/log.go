package clustertest

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/strata-db/strata/internal/record"
)

// Entry is one data record of a partition's log.
type Entry struct {
	Offset int64
	Value  string
}

// PartitionDir is where a node keeps the log of a partition: the topic by
// its id (meta.TopicID's String) and the partition number.
func PartitionDir(dataDir, topicID string, partition int32) string {
	return filepath.Join(dataDir, "logs", fmt.Sprintf("%s-%d", topicID, partition))
}

// ReadLog reads the data records of the log in dir, in offset order,
// control batches left out, straight from the segment files (the node may
// be running: a batch cut short at the end of the last segment is where
// reading stops). Checksums are verified; batches must follow each other without a gap in offsets.
func ReadLog(dir string) ([]Entry, error) {
	segs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return nil, err
	}
	sort.Strings(segs) // names are zero-padded base offsets
	var out []Entry
	next := int64(-1)
	for _, s := range segs {
		b, err := os.ReadFile(s)
		if err != nil {
			return nil, err
		}
		for len(b) >= record.HeaderSize {
			h, err := record.ParseHeader(b)
			if err != nil || h.Size() > len(b) {
				break
			}
			batch := b[:h.Size()]
			b = b[h.Size():]
			if _, err := record.Verify(batch); err != nil {
				return out, fmt.Errorf("%s: batch at offset %d: %w", s, h.BaseOffset, err)
			}
			if next >= 0 && h.BaseOffset != next {
				return out, fmt.Errorf("%s: batch at offset %d after offset %d", s, h.BaseOffset, next)
			}
			next = h.NextOffset()
			if h.Control() {
				continue
			}
			if err := record.ForEachRecord(batch, 64<<20, func(r *record.Record) bool {
				out = append(out, Entry{Offset: record.RecordOffset(&h, r), Value: string(r.Value)})
				return true
			}); err != nil {
				return out, fmt.Errorf("%s: batch at offset %d: %w", s, h.BaseOffset, err)
			}
		}
	}
	return out, nil
}

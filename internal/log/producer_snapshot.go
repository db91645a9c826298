package log

// Producer state snapshots: <20-digit offset>.snapshot files holding the
// producer state as it was after every batch below that offset.
//
// # Format (Strata's own, big-endian; not Kafka's, which keeps only the
// last batch of each producer)
//
//	int16  version (1)
//	uint32 CRC-32C of everything after this field
//	int32  number of producers, then for each, by producer id:
//	  int64 producer id      int16 epoch             int32 coordinator epoch
//	  int64 last timestamp   int64 last append (ms)  int64 open transaction's first offset (-1)
//	  int64 last marker offset (-1)                  int8  last marker is a commit (0/1)
//	  int8  batches (0..5), then for each, oldest first:
//	    int32 last sequence  int32 offset delta  int64 last offset  int64 max timestamp
//
// # When
//
// A snapshot is written at the log end offset when a segment rolls (so
// there is one at each segment's base), after a replay at Open, and at
// Close. Roll snapshots are written without fsync; flushTo fsyncs them
// before the recovery point passes them, so after a crash every snapshot
// at or below the recovery point is durable (a torn one fails its CRC and
// an older one is used).
//
// # Retention
//
// Deleting segments does not touch producer state: a producer whose
// batches all went keeps its state (its sequence numbers stay checked and
// its retries de-duplicated), as in Kafka since KIP-360. Snapshots below
// the first remaining segment are deleted, but never the newest one, so
// the state of such producers survives restarts through the snapshots
// taken since. Producers leave only by expiry (producer.id.expiration.ms
// without an append, and no open transaction).

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
)

const (
	snapshotExt         = ".snapshot"
	snapshotVersion     = 1
	snapshotHeaderSize  = 2 + 4 + 4
	snapshotEntrySize   = 8 + 2 + 4 + 8 + 8 + 8 + 8 + 1 + 1
	snapshotBatchSize   = 4 + 4 + 8 + 8
	maxSnapshotFileSize = 1 << 30 // bounds what a load allocates
)

func snapshotName(offset int64) string { return fmt.Sprintf("%020d%s", offset, snapshotExt) }

// parseSnapshotName returns the offset of a snapshot file name.
func parseSnapshotName(name string) (int64, bool) {
	digits, ok := strings.CutSuffix(name, snapshotExt)
	if !ok || len(digits) != baseDigits {
		return 0, false
	}
	off, err := strconv.ParseInt(digits, 10, 64)
	return off, err == nil && off >= 0
}

// encodeSnapshot serializes the producers.
func encodeSnapshot(producers map[int64]producerEntry) []byte {
	ids := make([]int64, 0, len(producers))
	size := snapshotHeaderSize
	for id, e := range producers {
		ids = append(ids, id)
		size += snapshotEntrySize + int(e.n)*snapshotBatchSize
	}
	slices.Sort(ids)
	b := make([]byte, 6, size)
	binary.BigEndian.PutUint16(b, snapshotVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		e := producers[id]
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
		b = binary.BigEndian.AppendUint32(b, uint32(e.coordEpoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.lastTs))
		b = binary.BigEndian.AppendUint64(b, uint64(e.lastAppendMs))
		b = binary.BigEndian.AppendUint64(b, uint64(e.txnFirst))
		b = binary.BigEndian.AppendUint64(b, uint64(e.markerOffset))
		commit := byte(0)
		if e.markerCommit {
			commit = 1
		}
		b = append(b, commit, byte(e.n))
		for _, bm := range e.batches[:e.n] {
			b = binary.BigEndian.AppendUint32(b, uint32(bm.lastSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(bm.offsetDelta))
			b = binary.BigEndian.AppendUint64(b, uint64(bm.lastOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(bm.timestamp))
		}
	}
	binary.BigEndian.PutUint32(b[2:], crc32.Checksum(b[6:], castagnoli))
	return b
}

// decodeSnapshot parses a snapshot taken at offset, checking that it is
// intact and consistent with that offset.
func decodeSnapshot(b []byte, offset int64) (map[int64]producerEntry, error) {
	if len(b) < snapshotHeaderSize {
		return nil, fmt.Errorf("%d bytes", len(b))
	}
	if v := binary.BigEndian.Uint16(b); v != snapshotVersion {
		return nil, fmt.Errorf("version %d", v)
	}
	if crc := crc32.Checksum(b[6:], castagnoli); crc != binary.BigEndian.Uint32(b[2:]) {
		return nil, errors.New("crc mismatch")
	}
	n := int(binary.BigEndian.Uint32(b[6:]))
	p := b[snapshotHeaderSize:]
	if n < 0 || n > len(p)/snapshotEntrySize {
		return nil, fmt.Errorf("%d producers in %d bytes", n, len(p))
	}
	out := make(map[int64]producerEntry, n)
	for range n {
		if len(p) < snapshotEntrySize {
			return nil, errors.New("truncated")
		}
		id := int64(binary.BigEndian.Uint64(p))
		e := producerEntry{
			epoch:        int16(binary.BigEndian.Uint16(p[8:])),
			coordEpoch:   int32(binary.BigEndian.Uint32(p[10:])),
			lastTs:       int64(binary.BigEndian.Uint64(p[14:])),
			lastAppendMs: int64(binary.BigEndian.Uint64(p[22:])),
			txnFirst:     int64(binary.BigEndian.Uint64(p[30:])),
			markerOffset: int64(binary.BigEndian.Uint64(p[38:])),
			markerCommit: p[46] == 1,
			n:            int8(p[47]),
		}
		p = p[snapshotEntrySize:]
		if e.n < 0 || int(e.n) > producerBatchesKept || len(p) < int(e.n)*snapshotBatchSize {
			return nil, fmt.Errorf("producer %d: %d batches", id, e.n)
		}
		for i := range e.n {
			e.batches[i] = batchMeta{
				lastSeq:     int32(binary.BigEndian.Uint32(p)),
				offsetDelta: int32(binary.BigEndian.Uint32(p[4:])),
				lastOffset:  int64(binary.BigEndian.Uint64(p[8:])),
				timestamp:   int64(binary.BigEndian.Uint64(p[16:])),
			}
			p = p[snapshotBatchSize:]
		}
		if err := e.check(offset); err != nil {
			return nil, fmt.Errorf("producer %d: %w", id, err)
		}
		if _, dup := out[id]; dup || id < 0 {
			return nil, fmt.Errorf("producer id %d repeated or negative", id)
		}
		out[id] = e
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%d bytes after the last producer", len(p))
	}
	return out, nil
}

// check validates an entry of a snapshot taken at offset.
func (e *producerEntry) check(offset int64) error {
	if e.txnFirst >= offset || e.markerOffset >= offset || e.txnFirst < -1 || e.markerOffset < -1 {
		return fmt.Errorf("transaction at %d or marker at %d not below %d", e.txnFirst, e.markerOffset, offset)
	}
	for i := range e.n {
		b := &e.batches[i]
		if b.offsetDelta < 0 || b.lastOffset >= offset || b.firstOffset() < 0 || (i > 0 && b.lastOffset <= e.batches[i-1].lastOffset) {
			return fmt.Errorf("batch %d..%d out of place", b.firstOffset(), b.lastOffset)
		}
	}
	return nil
}

// listSnapshots returns the offsets of the snapshot files in the log
// directory, sorted.
func (l *Log) listSnapshots() ([]int64, error) {
	entries, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return nil, storageErr("list "+l.dir, err)
	}
	var out []int64
	for _, e := range entries {
		if off, ok := parseSnapshotName(e.Name()); ok && !e.IsDir() {
			out = append(out, off)
		}
	}
	slices.Sort(out)
	return out, nil
}

// readSnapshot loads the snapshot at offset.
func (l *Log) readSnapshot(offset int64) (map[int64]producerEntry, error) {
	f, err := l.fs.OpenFile(l.path(snapshotName(offset)), os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > maxSnapshotFileSize {
		return nil, fmt.Errorf("%d bytes, more than %d", st.Size(), maxSnapshotFileSize)
	}
	b := make([]byte, st.Size())
	if err := readFullAt(f, b, 0); err != nil {
		return nil, err
	}
	return decodeSnapshot(b, offset)
}

// writeSnapshotLocked writes a snapshot of the current state at the log
// end offset (replacing one already there). Without sync it is made
// durable by the next flush that passes it.
func (l *Log) writeSnapshotLocked(sync bool) error {
	off := l.logEndOffset
	if err := replaceFile(l.fs, l.path(snapshotName(off)), encodeSnapshot(l.prod.producers), sync); err != nil {
		return storageErr("write producer snapshot", err)
	}
	l.modified = true
	if i, found := slices.BinarySearch(l.prod.snapshots, off); !found {
		l.prod.snapshots = slices.Insert(l.prod.snapshots, i, off)
	}
	if !sync {
		l.dirSynced = false
		if !slices.Contains(l.prod.unsynced, off) {
			l.prod.unsynced = append(l.prod.unsynced, off)
		}
	}
	return nil
}

// deleteSnapshotsLocked removes the snapshot files whose offset del
// reports.
func (l *Log) deleteSnapshotsLocked(del func(off int64) bool) error {
	var err error
	kept := l.prod.snapshots[:0]
	for _, off := range l.prod.snapshots {
		if !del(off) {
			kept = append(kept, off)
			continue
		}
		if rerr := removeIfExists(l.fs, l.path(snapshotName(off))); rerr != nil {
			err = errors.Join(err, rerr)
			kept = append(kept, off)
			continue
		}
		l.dirSynced = false
	}
	l.prod.snapshots = kept
	l.prod.unsynced = slices.DeleteFunc(l.prod.unsynced, func(off int64) bool { return !slices.Contains(kept, off) })
	if err != nil {
		return storageErr("delete producer snapshots", err)
	}
	return nil
}

// syncSnapshots fsyncs the snapshots written without fsync at or below
// upTo. Caller holds flushMu (no snapshot is deleted meanwhile except by
// a concurrent roll's retention, which flushMu also excludes).
func (l *Log) syncSnapshots(upTo int64) error {
	l.mu.RLock()
	var todo []int64
	for _, off := range l.prod.unsynced {
		if off <= upTo {
			todo = append(todo, off)
		}
	}
	l.mu.RUnlock()
	if len(todo) == 0 {
		return nil
	}
	for _, off := range todo {
		f, err := l.fs.OpenFile(l.path(snapshotName(off)), os.O_RDONLY, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue // replaced or deleted meanwhile
		}
		if err == nil {
			err = f.Sync()
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return storageErr("fsync producer snapshot", err)
		}
	}
	l.mu.Lock()
	l.prod.unsynced = slices.DeleteFunc(l.prod.unsynced, func(off int64) bool { return slices.Contains(todo, off) })
	l.mu.Unlock()
	return nil
}

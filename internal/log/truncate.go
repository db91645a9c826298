package log

import (
	"errors"
	"fmt"
	"time"
)

// TruncateTo removes every record at or above offset: replication uses it
// to cut a diverged tail, recovery to drop a torn one. Batches are never
// split: if offset falls inside a batch, the whole batch goes and the log
// end offset becomes that batch's base offset (so it may end below offset).
// An offset at or above the log end offset changes nothing; one below the
// log start offset empties the log (TruncateFullyAndStartAt).
//
// The recovery point and the epoch cache are lowered and persisted with
// the log. Later segments are deleted (their files stay open for readers
// for FileDeleteDelay).
func (l *Log) TruncateTo(offset int64) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	if offset >= l.logEndOffset {
		l.mu.Unlock()
		return nil
	}
	if offset < l.logStartOffset {
		l.mu.Unlock()
		return l.truncateFully(offset)
	}
	victims, err := l.truncateLocked(offset)
	delay := l.cfg.FileDeleteDelay
	l.mu.Unlock()
	l.retireSegments(victims, delay)
	return err
}

// truncateLocked does TruncateTo's work under mu and returns the segments
// to retire.
func (l *Log) truncateLocked(offset int64) ([]*segment, error) {
	i := l.segmentForLocked(offset)
	s := l.segs[i]
	s.ensureLoaded(&l.cfg)
	pos, end, err := l.locateLocked(i, offset)
	if err != nil {
		return nil, err
	}
	if end >= l.logEndOffset {
		return nil, nil
	}
	l.modified = true
	// A lower recovery point goes to disk first: after a crash, recovery
	// must rescan from here, where new data will be appended.
	if l.recoveryPoint > end {
		if err := writeOffsetFile(l.fs, l.dir, recoveryPointFile, end); err != nil {
			return nil, storageErr("write recovery point", err)
		}
		l.recoveryPoint = end
	}
	if err := l.lowerCleanerCheckpointLocked(end); err != nil {
		return nil, err
	}
	l.truncations.Add(1)
	if err := s.file.Truncate(pos); err != nil {
		return nil, storageErr(fmt.Sprintf("truncate segment %d of %s", s.base, l.dir), err)
	}
	victims := append([]*segment(nil), l.segs[i+1:]...)
	l.segs = append([]*segment(nil), l.segs[:i+1]...)
	if err := l.truncateIndexesLocked(s, pos, end); err != nil {
		return victims, err
	}
	if len(victims) > 0 {
		l.dirSynced = false
		s.dirty.Store(false) // active again: its index files are rewritten when it closes
		if s.rollClock.IsZero() {
			s.rollClock = s.modTime
		}
	}
	if pos == 0 {
		s.rollClock = time.Time{}
	}
	l.failed = nil // the failed tail was cut or belongs to a retired segment
	l.logEndOffset = end
	if l.epochs.truncateFromEnd(end) {
		if err := l.writeEpochsLocked(true); err != nil {
			return victims, err
		}
	}
	if err := l.reloadProducersLocked(end); err != nil {
		return victims, err
	}
	l.logger.Info("log: truncated", "dir", l.dir, "segment", s.base, "offset", end, "deleted_segments", len(victims))
	return victims, nil
}

// locateLocked finds the batch of segment i holding offset (the first one
// ending after it) by scanning from its offset index entry, and returns
// its position and base offset; past the last batch, the segment's size and
// end offset. It reads the file under mu: only TruncateTo uses it.
func (l *Log) locateLocked(i int, offset int64) (pos, base int64, err error) {
	s := l.segs[i]
	from, _ := s.ix.idx.bounds(offset-s.base, s.size)
	sc := newScanner(s.file, from, s.size, false)
	for sc.next() {
		if sc.h.NextOffset() > offset {
			return sc.pos, sc.h.BaseOffset, nil
		}
	}
	if sc.err != nil {
		return 0, 0, storageErr(fmt.Sprintf("read segment %d of %s", s.base, l.dir), sc.err)
	}
	if sc.bad != nil {
		return 0, 0, fmt.Errorf("%w: segment %d of %s at position %d: %w", ErrCorruptData, s.base, l.dir, sc.pos, sc.bad)
	}
	return s.size, l.segEndLocked(i), nil
}

// truncateIndexesLocked cuts segment s's indexes and state to its first pos
// bytes, ending at offset end. The max timestamp comes from the last time
// entry left, which covers every batch before the last offset entry left
// (they are written together), and from a scan of the batches after it.
func (l *Log) truncateIndexesLocked(s *segment, pos, end int64) error {
	s.ix.idx.truncate(pos)
	s.ix.tidx.truncate(end - s.base)
	s.ix.maxTs, s.ix.maxTsOffset = -1, -1
	if ts, rel, ok := s.ix.tidx.last(); ok {
		s.ix.maxTs, s.ix.maxTsOffset = ts, s.base+int64(rel)
	}
	from := s.ix.idx.lastPosition()
	sc := newScanner(s.file, from, pos, false)
	for sc.next() {
		if sc.h.MaxTimestamp > s.ix.maxTs {
			s.ix.maxTs, s.ix.maxTsOffset = sc.h.MaxTimestamp, sc.h.BaseOffset
		}
	}
	s.ix.sinceIndex = pos - from
	s.size, s.next = pos, end
	if err := sc.stopReason(); err != nil {
		return storageErr(fmt.Sprintf("rescan segment %d of %s after truncation", s.base, l.dir), err)
	}
	return nil
}

// TruncateFullyAndStartAt empties the log and restarts it at offset: a
// follower whose log is entirely behind the leader's start does this. The
// new start is persisted before the old segments go.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	return l.truncateFully(offset)
}

// truncateFully is TruncateFullyAndStartAt; caller holds flushMu.
func (l *Log) truncateFully(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("%w: truncate fully to %d", ErrOffsetOutOfRange, offset)
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	victims, err := l.truncateFullyLocked(offset)
	delay := l.cfg.FileDeleteDelay
	l.mu.Unlock()
	l.retireSegments(victims, delay)
	return err
}

func (l *Log) truncateFullyLocked(offset int64) ([]*segment, error) {
	l.modified = true
	for _, name := range []string{logStartOffsetFile, recoveryPointFile} {
		if err := writeOffsetFile(l.fs, l.dir, name, offset); err != nil {
			return nil, storageErr("truncate fully", err)
		}
	}
	if err := l.lowerCleanerCheckpointLocked(offset); err != nil {
		return nil, err
	}
	l.truncations.Add(1)
	var keep *segment
	var victims []*segment
	for _, s := range l.segs {
		if s.base == offset && keep == nil {
			keep = s
		} else {
			victims = append(victims, s)
		}
	}
	if keep != nil {
		if err := keep.file.Truncate(0); err != nil {
			return nil, storageErr("truncate fully", err)
		}
		keep.loadMu.Lock()
		keep.size, keep.next, keep.ix, keep.rollClock, keep.loaded = 0, offset, newIndexSet(), time.Time{}, true
		keep.loadMu.Unlock()
		keep.dirty.Store(false)
	} else {
		ns, err := createSegment(l.fs, l.dir, offset, l.logger, l.now())
		if err != nil {
			return nil, storageErr("truncate fully", err)
		}
		keep = ns
	}
	l.segs = []*segment{keep}
	l.setLogStart(offset)
	l.logEndOffset, l.recoveryPoint, l.persistedStart = offset, offset, offset
	l.tombstoneHorizon = -1
	l.failed, l.dirSynced, l.unflushedMsgs = nil, false, 0
	l.epochs.entries = nil
	l.logger.Info("log: truncated fully", "dir", l.dir, "offset", offset, "deleted_segments", len(victims))
	return victims, errors.Join(l.writeEpochsLocked(true), l.clearProducersLocked())
}

// lowerCleanerCheckpointLocked keeps the cleaner's checkpoint at or below
// the log end after a truncation, on disk too: data appended later below a
// stale checkpoint would pass for cleaned, and a tombstone there could
// then outlive its delete horizon while an older record of its key, never
// compared with it, stays (the deleted key would come back).
func (l *Log) lowerCleanerCheckpointLocked(end int64) error {
	if l.cleanerCp <= end {
		return nil
	}
	l.cleanerCp = end
	if err := writeOffsetFile(l.fs, l.dir, cleanerCheckpointFile, end); err != nil {
		return storageErr("write cleaner checkpoint", err)
	}
	return nil
}

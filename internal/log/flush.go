package log

import (
	"errors"
	"fmt"
	"math"
)

// Flush fsyncs everything appended so far, writes the index files of
// closed segments, and advances the recovery point to the log end offset.
func (l *Log) Flush() error { return l.flushTo(math.MaxInt64) }

// FlushIfDue applies flush.ms and is called periodically (Manager.Run).
// When no full flush is due it still flushes segments that were rolled
// since the last flush, up to the active segment's base (what Kafka does
// asynchronously after a roll), so unclean recovery only has to scan the
// active segment.
func (l *Log) FlushIfDue() error {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	act := l.active()
	due := l.logEndOffset > l.recoveryPoint && l.now().Sub(l.lastFlush) >= l.cfg.FlushMs
	rolled := l.recoveryPoint < act.base
	for _, s := range l.segs[:len(l.segs)-1] {
		rolled = rolled || s.dirty.Load()
	}
	l.mu.RUnlock()
	switch {
	case due:
		return l.Flush()
	case rolled:
		return l.flushTo(act.base)
	}
	return nil
}

// flushTo fsyncs the data below upTo (at most the log end offset) and
// advances the recovery point there. The fsyncs run without mu, so appends
// continue meanwhile; flushMu keeps segments from being truncated or
// retired under it (a retired one would also stay open through its
// reference).
func (l *Log) flushTo(upTo int64) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ErrClosed
	}
	target := min(upTo, l.logEndOffset)
	full := target == l.logEndOffset
	msgs, rp, act, dirSynced := l.unflushedMsgs, l.recoveryPoint, l.active(), l.dirSynced
	var work []*segment
	for i, s := range l.segs {
		if (l.segEndLocked(i) > rp && s.base < target) || (s != act && s.dirty.Load()) {
			s.acquire()
			work = append(work, s)
		}
	}
	l.mu.RUnlock()
	defer func() {
		for _, s := range work {
			s.release()
		}
	}()

	for _, s := range work {
		if err := s.file.Sync(); err != nil {
			return storageErr(fmt.Sprintf("fsync segment %d of %s", s.base, l.dir), err)
		}
		// Segments that were closed when we looked have fixed indexes.
		if s != act && s.dirty.Load() {
			if err := s.writeIndexes(); err != nil {
				return storageErr(fmt.Sprintf("write indexes of segment %d of %s", s.base, l.dir), err)
			}
		}
	}
	if !dirSynced {
		if err := syncDir(l.fs, l.dir); err != nil {
			return storageErr("flush", err)
		}
	}
	if err := l.syncEpochs(); err != nil {
		return err
	}
	// Producer snapshots and aborted transaction index entries below the
	// new recovery point must be durable before it is: recovery trusts
	// them there (producer_log.go).
	if err := l.syncSnapshots(target); err != nil {
		return err
	}
	if err := l.syncTxnIndex(); err != nil {
		return err
	}
	if target > rp {
		if err := writeOffsetFile(l.fs, l.dir, recoveryPointFile, target); err != nil {
			return storageErr("write recovery point", err)
		}
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	l.recoveryPoint = max(l.recoveryPoint, target)
	l.dirSynced = l.dirSynced || !dirSynced
	if full {
		l.unflushedMsgs -= msgs
		l.lastFlush = l.now()
	}
	return nil
}

// syncEpochs makes a checkpoint written without fsync durable, before the
// recovery point may move past the epochs it records.
func (l *Log) syncEpochs() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.epochsUnsynced || l.closed {
		return nil
	}
	return l.writeEpochsLocked(true)
}

// Close flushes everything, writes the index files of every segment
// (including the active one) and the checkpoints, and closes the files.
// Files of deleted segments are closed at once. Later calls return what
// the first one did.
func (l *Log) Close() error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.closeErr
	}
	l.closed = true
	err := l.closeLocked()
	l.closeErr = err
	return err
}

func (l *Log) closeLocked() error {
	if !l.modified && l.failed == nil {
		// Nothing changed since Open left the files consistent.
		err := l.closeTxnIndexLocked()
		for _, s := range l.segs {
			if cerr := s.file.Close(); cerr != nil {
				err = errors.Join(err, storageErr(fmt.Sprintf("close segment %d of %s", s.base, l.dir), cerr))
			}
		}
		l.expireRetired()
		return err
	}
	err := l.repairLocked()
	act := l.active()
	act.ix.finish(act.base)
	for i, s := range l.segs {
		if s == act || l.segEndLocked(i) > l.recoveryPoint {
			if serr := s.file.Sync(); serr != nil {
				err = errors.Join(err, storageErr(fmt.Sprintf("fsync segment %d of %s", s.base, l.dir), serr))
			}
		}
		if s == act || s.dirty.Load() {
			if werr := s.writeIndexes(); werr != nil {
				err = errors.Join(err, storageErr(fmt.Sprintf("write indexes of segment %d of %s", s.base, l.dir), werr))
			}
		}
	}
	if err == nil {
		err = l.writeSnapshotLocked(true)
	}
	if terr := l.closeTxnIndexLocked(); err == nil {
		err = terr
	}
	if err == nil {
		err = l.writeCheckpointsLocked()
	}
	for _, s := range l.segs {
		if cerr := s.file.Close(); cerr != nil {
			err = errors.Join(err, storageErr(fmt.Sprintf("close segment %d of %s", s.base, l.dir), cerr))
		}
	}
	l.expireRetired()
	return err
}

// writeCheckpointsLocked persists the recovery point (the log end offset:
// everything is fsynced), the log start offset and the epoch cache.
func (l *Log) writeCheckpointsLocked() error {
	if err := writeOffsetFile(l.fs, l.dir, recoveryPointFile, l.logEndOffset); err != nil {
		return storageErr("write recovery point", err)
	}
	l.recoveryPoint = l.logEndOffset
	if l.persistedStart != l.logStartOffset {
		if err := writeOffsetFile(l.fs, l.dir, logStartOffsetFile, l.logStartOffset); err != nil {
			return storageErr("write log start offset", err)
		}
		l.persistedStart = l.logStartOffset
	}
	if err := l.writeEpochsLocked(true); err != nil {
		return err
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		return storageErr("close", err)
	}
	return nil
}

// Delete closes the log and removes its directory.
func (l *Log) Delete() error {
	cerr := l.Close()
	if err := l.fs.RemoveAll(l.dir); err != nil {
		return storageErr("delete "+l.dir, errors.Join(err, cerr))
	}
	return nil
}

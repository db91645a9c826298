package log

import (
	"fmt"
	"math"
	"time"
)

// EnforceRetention deletes the oldest segments that retention lets go:
// those whose newest timestamp is older than RetentionMs, those the log can
// lose while staying at least RetentionBytes big, and those wholly below
// the log start offset. Segments go oldest first and only as a prefix; the
// active segment goes only if non-empty, after a new empty one was rolled
// at the log end offset. The log start offset moves up to the first
// remaining segment's base.
//
// Only segments whose data lies wholly below the retention upper bound
// (SetRetentionUpperBound) are deleted.
func (l *Log) EnforceRetention() (deletedSegments int, err error) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	n, _, err := l.removePrefix(0, l.retentionUpperBound.Load(), true)
	return n, err
}

// SetRetentionUpperBound limits retention and compaction to data below
// offset. The partition sets it to its high watermark so that neither
// deletes what followers have not replicated yet; the default is unlimited.
func (l *Log) SetRetentionUpperBound(offset int64) { l.retentionUpperBound.Store(offset) }

// DeleteRecordsBefore moves the log start offset up to offset (DeleteRecords),
// persists it before returning, and deletes the segments wholly below it.
// offset must not exceed the log end offset; a lower offset than the
// current start changes nothing. It returns the new log start offset.
func (l *Log) DeleteRecordsBefore(offset int64) (newStart int64, err error) {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.RLock()
	closed, start, end := l.closed, l.logStartOffset, l.logEndOffset
	l.mu.RUnlock()
	switch {
	case closed:
		return 0, ErrClosed
	case offset > end || offset < 0:
		return 0, fmt.Errorf("%w: delete records before %d, log end offset %d", ErrOffsetOutOfRange, offset, end)
	case offset <= start:
		return start, nil
	}
	_, newStart, err = l.removePrefix(offset, math.MaxInt64, false)
	return newStart, err
}

// segmentTimestamp is what time retention ages a segment by: its largest
// batch timestamp, or its last modification for batches without one.
func segmentTimestamp(s *segment) int64 {
	if s.ix.maxTs >= 0 {
		return s.ix.maxTs
	}
	return s.modTime.UnixMilli()
}

// deletablePrefixLocked counts the oldest segments to delete, given the log
// start offset they will have (start) and the upper bound of deletable data.
// With retention false only segments below start count.
func (l *Log) deletablePrefixLocked(start, upTo int64, retention bool) int {
	n := len(l.segs)
	eligible := func(i int) bool {
		return i < n && l.segEndLocked(i) <= upTo && (i < n-1 || l.segs[i].size > 0)
	}
	k := 0
	if retention && l.cfg.RetentionMs >= 0 {
		limit := l.now().UnixMilli() - l.cfg.RetentionMs.Milliseconds()
		for eligible(k) && segmentTimestamp(l.segs[k]) < limit {
			k++
		}
	}
	if retention && l.cfg.RetentionBytes >= 0 {
		excess := l.sizeLocked() - l.cfg.RetentionBytes
		for _, s := range l.segs[:k] {
			excess -= s.size
		}
		for eligible(k) && excess-l.segs[k].size >= 0 {
			excess -= l.segs[k].size
			k++
		}
	}
	for eligible(k) && l.segEndLocked(k) <= start {
		k++
	}
	return k
}

// removePrefix deletes the segments deletablePrefixLocked picks and raises
// the log start offset to at least minStart and the first remaining base,
// persisting it before any segment goes. Caller holds flushMu, so nothing
// else removes segments between the two critical sections below.
func (l *Log) removePrefix(minStart, upTo int64, retention bool) (int, int64, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return 0, 0, ErrClosed
	}
	start := max(l.logStartOffset, minStart)
	k := l.deletablePrefixLocked(start, upTo, retention)
	if k == len(l.segs) {
		if err := l.rollLocked("retention"); err != nil {
			l.mu.Unlock()
			return 0, 0, err
		}
	}
	if k > 0 {
		start = max(start, l.segs[k].base)
	}
	persist := start > l.persistedStart
	delay := l.cfg.FileDeleteDelay
	l.mu.Unlock()

	if persist {
		if err := writeOffsetFile(l.fs, l.dir, logStartOffsetFile, start); err != nil {
			return 0, 0, storageErr("write log start offset", err)
		}
	}

	l.mu.Lock()
	if persist {
		l.persistedStart = max(l.persistedStart, start)
	}
	l.modified = l.modified || persist || k > 0
	victims := append([]*segment(nil), l.segs[:k]...)
	l.segs = append([]*segment(nil), l.segs[k:]...)
	l.setLogStart(max(l.logStartOffset, start))
	l.epochs.truncateFromStart(l.logStartOffset)
	if k > 0 || persist {
		l.startMovedLocked()
	}
	l.dirSynced = l.dirSynced && k == 0
	newStart := l.logStartOffset
	l.mu.Unlock()

	l.retireSegments(victims, delay)
	if k > 0 {
		l.logger.Info("log: deleted segments", "dir", l.dir, "segments", k, "offset", newStart)
	}
	return k, newStart, nil
}

// retireSegments renames the files of segments already taken out of the
// log and closes and removes them after delay (or when the last reader is
// done, if later). Caller holds flushMu.
func (l *Log) retireSegments(victims []*segment, delay time.Duration) {
	for _, s := range victims {
		s.retire()
	}
	l.expireAfter(victims, delay)
}

// expireAfter closes and removes retired segments after delay (or when
// the last reader is done, if later).
func (l *Log) expireAfter(victims []*segment, delay time.Duration) {
	for _, s := range victims {
		if delay <= 0 {
			s.expire()
			continue
		}
		// The timer is started under retireMu so that its callback finds
		// the map entry.
		l.retireMu.Lock()
		if l.retiring == nil {
			l.retiring = make(map[*segment]*time.Timer)
		}
		l.retiring[s] = time.AfterFunc(delay, func() {
			l.retireMu.Lock()
			delete(l.retiring, s)
			l.retireMu.Unlock()
			s.expire()
		})
		l.retireMu.Unlock()
	}
}

// expireRetired ends the delete delay of every retired segment (Close).
func (l *Log) expireRetired() {
	l.retireMu.Lock()
	pending := l.retiring
	l.retiring = nil
	l.retireMu.Unlock()
	for s, t := range pending {
		t.Stop()
		s.expire()
	}
}

package log

import (
	"fmt"

	"github.com/strata-db/strata/internal/record"
)

// OffsetForTimestamp finds the first record at or after the log start
// offset whose timestamp is >= ts (ListOffsets by timestamp). The first
// segment whose max timestamp reaches ts is searched from its time index
// entry, batch headers are scanned for the first batch whose max timestamp
// reaches ts, and its records are decoded for the exact one. ok is false
// when no record qualifies. Files are read without mu.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool, err error) {
	after := int64(-1)
	for {
		c, found, err := l.timestampCandidate(ts, after)
		if err != nil || !found {
			return -1, -1, false, err
		}
		offset, timestamp, ok, err = l.findRecord(c, func(h *record.Header) bool { return h.MaxTimestamp >= ts },
			func(off, t int64) bool { return t >= ts })
		c.seg.release()
		if err != nil || ok {
			return offset, timestamp, ok, err
		}
		after = c.seg.base
	}
}

// scanTarget is a span of a referenced segment to search from offset
// start on.
type scanTarget struct {
	seg   *segment
	from  int64 // scan start position (an offset index entry)
	end   int64 // segment size
	start int64 // ignore records below this offset
}

// timestampCandidate picks the first segment after base offset `after`
// that may hold a record with a timestamp >= ts at or after the log start.
func (l *Log) timestampCandidate(ts, after int64) (scanTarget, bool, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return scanTarget{}, false, ErrClosed
	}
	for i, s := range l.segs {
		if s.base <= after || s.size == 0 || s.ix.maxTs < ts || l.segEndLocked(i) <= l.logStartOffset {
			continue
		}
		s.ensureLoaded(&l.cfg)
		start := max(l.logStartOffset, s.base)
		if j := s.ix.tidx.floor(ts); j >= 0 {
			_, rel := s.ix.tidx.entry(j)
			start = max(start, s.base+int64(rel))
		}
		return l.pinLocked(s, start), true, nil
	}
	return scanTarget{}, false, nil
}

// pinLocked references segment s for a scan from the offset index entry
// at or before offset start.
func (l *Log) pinLocked(s *segment, start int64) scanTarget {
	s.ensureLoaded(&l.cfg)
	from, _ := s.ix.idx.bounds(start-s.base, s.size)
	s.acquire()
	return scanTarget{seg: s, from: from, end: s.size, start: start}
}

// findRecord scans t for the first batch (ending after t.start) that
// batchOK accepts and returns its first record at or after t.start that
// recOK accepts; batches without one are passed over.
func (l *Log) findRecord(t scanTarget, batchOK func(*record.Header) bool, recOK func(off, ts int64) bool) (int64, int64, bool, error) {
	sc := newScanner(t.seg.file, t.from, t.end, true)
	for sc.next() {
		h := sc.h
		if h.NextOffset() <= t.start || !batchOK(&h) {
			continue
		}
		off, ts, ok, err := l.recordIn(&sc.h, sc, t.start, recOK)
		if err != nil || ok {
			return off, ts, ok, err
		}
	}
	if err := l.scanError(t.seg, sc); err != nil {
		return -1, -1, false, err
	}
	return -1, -1, false, nil
}

// recordIn decodes the scanner's current batch for the first record at or
// after start that ok accepts.
func (l *Log) recordIn(h *record.Header, sc *scanner, start int64, ok func(off, ts int64) bool) (int64, int64, bool, error) {
	b, err := sc.batch()
	if err != nil {
		return -1, -1, false, storageErr("read batch", err)
	}
	found, off, ts := false, int64(-1), int64(-1)
	err = record.ForEachStoredRecord(b, l.maxDecompressed, func(r *record.Record) bool {
		o, t := record.RecordOffset(h, r), record.RecordTimestamp(h, r)
		if o >= start && ok(o, t) {
			found, off, ts = true, o, t
			return false
		}
		return true
	})
	if err != nil {
		return -1, -1, false, fmt.Errorf("%w: batch at offset %d of %s: %w", ErrCorruptData, h.BaseOffset, l.dir, err)
	}
	return off, ts, found, nil
}

// scanError turns why a scan stopped early into an error.
func (l *Log) scanError(s *segment, sc *scanner) error {
	if sc.err != nil {
		return storageErr(fmt.Sprintf("read segment %d of %s", s.base, l.dir), sc.err)
	}
	if sc.bad != nil {
		return fmt.Errorf("%w: segment %d of %s at position %d: %w", ErrCorruptData, s.base, l.dir, sc.pos, sc.bad)
	}
	return nil
}

// MaxTimestamp finds the record with the largest timestamp at or after the
// log start offset, the earliest one if several share it (ListOffsets
// MAX_TIMESTAMP). ok is false when no record has a timestamp.
func (l *Log) MaxTimestamp() (offset, timestamp int64, ok bool, err error) {
	first, best, err := l.maxTimestampCandidates()
	if err != nil {
		return -1, -1, false, err
	}
	defer func() {
		for _, t := range []*scanTarget{first, best} {
			if t != nil {
				t.seg.release()
			}
		}
	}()
	// The segment holding the log start offset may have its max below it;
	// then only a scan of its batches from there finds its own maximum.
	// Being first, it wins a tie.
	if first != nil {
		ts, base, exact, err := l.maxBatch(*first)
		if err != nil {
			return -1, -1, false, err
		}
		if ts >= 0 && (best == nil || ts >= best.seg.ix.maxTs) {
			if exact >= 0 {
				return exact, ts, true, nil
			}
			return l.maxRecord(*first, base, ts)
		}
	}
	if best == nil {
		return -1, -1, false, nil
	}
	return l.maxRecord(*best, best.start, best.seg.ix.maxTs)
}

// maxTimestampCandidates returns, referenced, the segment holding the log
// start offset if its max timestamp lies below it (first), and the earliest
// segment with the largest max timestamp among the others, positioned at
// that batch (best). maxTs of a segment other than the active one does not
// change while referenced; the active one's may grow, which only makes
// the answer newer.
func (l *Log) maxTimestampCandidates() (first, best *scanTarget, err error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, nil, ErrClosed
	}
	var bestSeg *segment
	for i, s := range l.segs {
		if s.size == 0 || s.ix.maxTs < 0 || l.segEndLocked(i) <= l.logStartOffset {
			continue
		}
		if s.ix.maxTsOffset < l.logStartOffset {
			t := l.pinLocked(s, l.logStartOffset)
			first = &t
			continue
		}
		if bestSeg == nil || s.ix.maxTs > bestSeg.ix.maxTs {
			bestSeg = s
		}
	}
	if bestSeg != nil {
		t := l.pinLocked(bestSeg, bestSeg.ix.maxTsOffset)
		best = &t
	}
	return first, best, nil
}

// maxBatch scans t for the largest timestamp at or after offset t.start:
// the batch max timestamps, except for a batch straddling t.start whose
// records are decoded (its max may lie below t.start). It returns the
// timestamp, the base offset of the first batch with it, and the record's
// offset if it came from the straddling batch (else -1).
func (l *Log) maxBatch(t scanTarget) (maxTs, base, exact int64, err error) {
	sc := newScanner(t.seg.file, t.from, t.end, true)
	maxTs, base, exact = -1, -1, -1
	for sc.next() {
		h := sc.h
		switch {
		case h.NextOffset() <= t.start:
		case h.BaseOffset < t.start:
			off, ts, ok, err := l.largestIn(&sc.h, sc, t.start)
			if err != nil {
				return -1, -1, -1, err
			}
			if ok && ts > maxTs {
				maxTs, base, exact = ts, h.BaseOffset, off
			}
		case h.MaxTimestamp > maxTs:
			maxTs, base, exact = h.MaxTimestamp, h.BaseOffset, -1
		}
	}
	return maxTs, base, exact, l.scanError(t.seg, sc)
}

// maxRecord returns the first record at or after the log start in the
// batch at offset base whose timestamp is the batch's max ts.
func (l *Log) maxRecord(t scanTarget, base, ts int64) (int64, int64, bool, error) {
	start := t.start
	if base > start {
		start = base
	}
	target := t
	target.start = start
	off, got, ok, err := l.findRecord(target, func(h *record.Header) bool { return h.NextOffset() > base },
		func(_, rt int64) bool { return rt >= ts })
	if err != nil || ok {
		return off, got, ok, err
	}
	// The batch header claimed a max no record has: report the batch's
	// largest record instead.
	return l.largestRecordIn(target, base)
}

// largestRecordIn returns the earliest record with the largest timestamp
// in the batch holding offset base (at or after t.start).
func (l *Log) largestRecordIn(t scanTarget, base int64) (int64, int64, bool, error) {
	sc := newScanner(t.seg.file, t.from, t.end, true)
	for sc.next() {
		if sc.h.NextOffset() > base {
			return l.largestIn(&sc.h, sc, t.start)
		}
	}
	return -1, -1, false, l.scanError(t.seg, sc)
}

// largestIn decodes the scanner's current batch for the earliest record at
// or after start with the largest timestamp.
func (l *Log) largestIn(h *record.Header, sc *scanner, start int64) (int64, int64, bool, error) {
	bestOff, bestTs := int64(-1), int64(-1)
	_, _, _, err := l.recordIn(h, sc, start, func(off, ts int64) bool {
		if ts > bestTs {
			bestOff, bestTs = off, ts
		}
		return false
	})
	if err != nil {
		return -1, -1, false, err
	}
	return bestOff, bestTs, bestOff >= 0, nil
}

package log

// How the log keeps producer state (producer_state.go), its snapshots
// (producer_snapshot.go) and the aborted transaction index (txn_index.go)
// in step with its data:
//
//   - append: the batches' producers are checked and their new state
//     computed before the write, and stored only once the write succeeded;
//     a retried batch is answered from the de-duplication window without a
//     write;
//   - roll: a snapshot at the new segment's base;
//   - Open: the newest usable snapshot (at or below the log end offset;
//     after an unclean shutdown also at or below the recovery point, below
//     which the index file is known to be complete) is loaded and the
//     batches after it are replayed; a snapshot at the log end is then
//     written;
//   - truncation: snapshots above the new end go, and the state is
//     reloaded and replayed the same way;
//   - retention: producer state stays (see producer_snapshot.go); old
//     snapshots and index entries go;
//   - Close: a snapshot at the log end offset.
//
// # Transactions and the last stable offset
//
// ongoing lists the open transactions by first offset. A transaction
// ended by a marker stays unstable until the high watermark passes the
// marker (UpdateHighWatermark), as in Kafka: a marker that is not
// replicated yet may still be truncated away. The first unstable offset
// is the smallest first offset of both; the partition's last stable
// offset is the smaller of it and the high watermark.

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/strata-db/strata/internal/record"
)

// producerState is the producer side of a log. Guarded by Log.mu.
type producerState struct {
	producers    map[int64]producerEntry
	ongoing      []openTxn      // open transactions by first offset
	unreplicated []completedTxn // ended transactions whose marker is not below the high watermark yet, by marker offset
	snapshots    []int64        // offsets of the snapshot files, sorted
	unsynced     []int64        // snapshots written without fsync
}

type openTxn struct{ producerID, first int64 }

// producerAppend is what an append does to producer state, applied once
// its batches are written.
type producerAppend struct {
	updates   []pidUpdate
	completed []completedTxn
}

type pidUpdate struct {
	id    int64
	entry producerEntry
}

// entry returns the state of id as this append has left it so far, and
// whether the log knew the producer.
func (pa *producerAppend) entry(l *Log, id int64) (*producerEntry, bool) {
	for i := range pa.updates {
		if pa.updates[i].id == id {
			return &pa.updates[i].entry, true
		}
	}
	e, known := l.prod.producers[id]
	if !known {
		e = newProducerEntry()
	}
	pa.updates = append(pa.updates, pidUpdate{id: id, entry: e})
	return &pa.updates[len(pa.updates)-1].entry, known
}

// checkProducersLocked checks the batches of b with a producer id, in
// order, and returns their effect on producer state. For a leader append
// the batches are at offsets from first on; otherwise their base offsets
// count. A client batch that repeats one of the producer's last batches
// ends the check: dup is that batch and nothing must be written.
func (l *Log) checkProducersLocked(b []byte, leader bool, first int64, origin AppendOrigin, appendTimeMs, nowMs int64) (pa producerAppend, dup *batchMeta, err error) {
	next := first
	for pos := 0; pos < len(b); {
		h, _ := record.ParseHeader(b[pos:]) // checked by summarize
		batch := b[pos : pos+h.Size()]
		pos += h.Size()
		off := next
		if !leader {
			off = h.BaseOffset
		}
		next = off + int64(h.LastOffsetDelta) + 1
		if h.ProducerID < 0 {
			continue
		}
		ts := h.MaxTimestamp
		if appendTimeMs >= 0 {
			ts = appendTimeMs
		}
		if dup, err = l.applyBatchLocked(&pa, &h, batch, off, origin, ts, nowMs); dup != nil || err != nil {
			return pa, dup, err
		}
	}
	return pa, nil, nil
}

// applyBatchLocked applies one batch of a producer at offset off to pa.
// batch may be nil for a data batch (replay reads only headers).
func (l *Log) applyBatchLocked(pa *producerAppend, h *record.Header, batch []byte, off int64, origin AppendOrigin, ts, nowMs int64) (*batchMeta, error) {
	e, known := pa.entry(l, h.ProducerID)
	if h.Control() {
		m, ok, err := parseMarker(batch, h, l.maxDecompressed)
		if err != nil {
			return nil, fmt.Errorf("%w: control batch at offset %d: %w", record.ErrInvalid, off, err)
		}
		if !ok {
			return nil, nil // emptied by the cleaner: its transaction is long over
		}
		done, err := e.applyMarker(h.ProducerID, h.ProducerEpoch, m, off, origin, nowMs)
		if done != nil {
			pa.completed = append(pa.completed, *done)
		}
		return nil, err
	}
	if origin == OriginClient && known {
		if d, ok := e.duplicateOf(h.ProducerEpoch, h.BaseSequence, incrementSeq(h.BaseSequence, h.LastOffsetDelta)); ok {
			return &d, nil
		}
	}
	return nil, e.applyData(h, off, origin, known, off == 0, ts, nowMs)
}

// commitProducersLocked stores the effect of an append whose batches were
// written. Ended transactions stay unstable until the high watermark
// passes their markers unless stable says they are (replay at Open).
func (l *Log) commitProducersLocked(pa *producerAppend, stable bool) {
	if len(pa.updates) == 0 {
		return
	}
	l.modified = true
	for _, u := range pa.updates {
		old, had := l.prod.producers[u.id]
		l.prod.producers[u.id] = u.entry
		if u.entry.txnFirst >= 0 && (!had || old.txnFirst != u.entry.txnFirst) {
			t := openTxn{producerID: u.id, first: u.entry.txnFirst}
			i, _ := slices.BinarySearchFunc(l.prod.ongoing, t.first, func(o openTxn, first int64) int { return cmpInt64(o.first, first) })
			l.prod.ongoing = slices.Insert(l.prod.ongoing, i, t)
		}
	}
	for _, c := range pa.completed {
		lso := c.lastOffset + 1
		for _, o := range l.prod.ongoing {
			if o.producerID != c.producerID {
				lso = o.first
				break
			}
		}
		l.prod.ongoing = slices.DeleteFunc(l.prod.ongoing, func(o openTxn) bool {
			return o.producerID == c.producerID && o.first == c.firstOffset
		})
		if !stable {
			l.prod.unreplicated = append(l.prod.unreplicated, c)
		}
		if c.aborted {
			l.addAbortedLocked(AbortedTxn{ProducerID: c.producerID, FirstOffset: c.firstOffset, LastOffset: c.lastOffset, LastStableOffset: lso})
		}
	}
	l.updateUnstableLocked()
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// updateUnstableLocked recomputes the first unstable offset.
func (l *Log) updateUnstableLocked() {
	fu := int64(math.MaxInt64)
	if len(l.prod.ongoing) > 0 {
		fu = l.prod.ongoing[0].first
	}
	for _, c := range l.prod.unreplicated {
		fu = min(fu, c.firstOffset)
	}
	l.firstUnstable.Store(fu)
	l.hasUnreplicated.Store(len(l.prod.unreplicated) > 0)
}

// FirstUnstableOffset is the first offset of the earliest transaction that
// is open, or ended by a marker the high watermark has not passed yet;
// math.MaxInt64 if none. It reads an atomic copy.
func (l *Log) FirstUnstableOffset() int64 { return l.firstUnstable.Load() }

// UpdateHighWatermark tells the log its partition's high watermark, which
// makes transactions whose markers lie below it stable.
func (l *Log) UpdateHighWatermark(hw int64) {
	if !l.hasUnreplicated.Load() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	i := 0
	for i < len(l.prod.unreplicated) && l.prod.unreplicated[i].lastOffset < hw {
		i++
	}
	if i > 0 {
		l.prod.unreplicated = slices.Delete(l.prod.unreplicated, 0, i)
		l.updateUnstableLocked()
	}
}

// HasOngoingTxn reports whether producerID has a transaction open in this
// log at producerEpoch.
func (l *Log) HasOngoingTxn(producerID int64, producerEpoch int16) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	e, ok := l.prod.producers[producerID]
	return ok && e.txnFirst >= 0 && e.epoch == producerEpoch
}

// Producers describes the producers the log has state for, by id.
func (l *Log) Producers() []ProducerInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]ProducerInfo, 0, len(l.prod.producers))
	for id, e := range l.prod.producers {
		out = append(out, e.info(id))
	}
	slices.SortFunc(out, func(a, b ProducerInfo) int { return cmpInt64(a.ProducerID, b.ProducerID) })
	return out
}

// ExpireProducers forgets producers without an open transaction whose last
// append is at least olderThan ago (producer.id.expiration.ms), and
// returns how many it forgot. Their next batch is taken at any sequence.
func (l *Log) ExpireProducers(olderThan time.Duration) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0
	}
	limit := l.now().UnixMilli() - olderThan.Milliseconds()
	n := 0
	for id, e := range l.prod.producers {
		if e.txnFirst < 0 && e.lastAppendMs <= limit {
			delete(l.prod.producers, id)
			n++
		}
	}
	if n > 0 {
		l.modified = true
	}
	return n
}

// AppendTxnMarker appends a control batch that ends producerID's
// transaction in this log (commit or abort), stamped with leaderEpoch and
// the broker's time, and returns its offset (Kafka's WriteTxnMarkers).
// The marker's epoch must not be below the producer's
// (ErrInvalidProducerEpoch) nor the coordinator epoch below the last one
// seen (ErrCoordinatorFenced). A retry of the producer's last marker, with
// nothing written by it since, is answered with that marker's offset and
// writes nothing.
func (l *Log) AppendTxnMarker(producerID int64, producerEpoch int16, commit bool, coordinatorEpoch, leaderEpoch int32) (int64, error) {
	if producerID < 0 {
		return -1, fmt.Errorf("%w: transaction marker for producer id %d", record.ErrInvalid, producerID)
	}
	info, flush, err := l.appendMarkerLocked(producerID, producerEpoch, commit, coordinatorEpoch, leaderEpoch)
	if err == nil && flush {
		err = l.Flush()
	}
	return info.FirstOffset, err
}

func (l *Log) appendMarkerLocked(producerID int64, producerEpoch int16, commit bool, coordinatorEpoch, leaderEpoch int32) (AppendInfo, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return AppendInfo{FirstOffset: -1}, false, ErrClosed
	}
	if e, ok := l.prod.producers[producerID]; ok && e.txnFirst < 0 && e.markerOffset >= 0 &&
		e.epoch == producerEpoch && e.coordEpoch == coordinatorEpoch && e.markerCommit == commit {
		return AppendInfo{FirstOffset: e.markerOffset, LastOffset: e.markerOffset, LogAppendTimeMs: -1, LogStartOffset: l.logStartOffset}, false, nil
	}
	b := buildMarker(producerID, producerEpoch, commit, coordinatorEpoch, l.now().UnixMilli())
	info, flush, err := l.appendHeld(b, true, OriginCoordinator, leaderEpoch, -1)
	if err != nil {
		info.FirstOffset = -1
	}
	return info, flush, err
}

// replayProducersLocked rebuilds producer state from the batches in
// [from, to) without checks (recovery, truncation). The transactions it
// sees end are taken as stable. A batch that cannot be read ends the
// replay with a warning: the data after it is unreadable for consumers
// too.
func (l *Log) replayProducersLocked(from, to int64) error {
	nowMs := l.now().UnixMilli()
	for i := l.segmentForLocked(from); i < len(l.segs) && l.segs[i].base < to; i++ {
		s := l.segs[i]
		start := int64(0)
		if from > s.base {
			s.ensureLoaded(&l.cfg)
			start, _ = s.ix.idx.bounds(from-s.base, s.size)
		}
		sc := newScanner(s.file, start, s.size, false)
		for sc.next() {
			h := sc.h
			if h.NextOffset() <= from || h.ProducerID < 0 {
				continue
			}
			if h.BaseOffset >= to {
				break
			}
			var batch []byte
			if h.Control() {
				var err error
				if batch, err = sc.batch(); err != nil {
					break
				}
			}
			var pa producerAppend
			if _, err := l.applyBatchLocked(&pa, &h, batch, h.BaseOffset, OriginReplication, h.MaxTimestamp, nowMs); err != nil {
				l.logger.Warn("log: producer state replay skips a batch", "dir", l.dir, "offset", h.BaseOffset, "err", err)
				continue
			}
			l.commitProducersLocked(&pa, true)
		}
		if sc.err != nil {
			return storageErr(fmt.Sprintf("replay producer state from segment %d of %s", s.base, l.dir), sc.err)
		}
		if sc.bad != nil {
			l.logger.Warn("log: producer state replay stops at an unreadable batch", "dir", l.dir, "segment", s.base,
				"position", sc.pos, "err", sc.bad)
			return nil
		}
	}
	return nil
}

// resetProducersLocked empties producer state in memory.
func (l *Log) resetProducersLocked() {
	l.prod.producers = map[int64]producerEntry{}
	l.prod.ongoing, l.prod.unreplicated = nil, nil
	l.updateUnstableLocked()
}

// restoreProducersLocked loads the newest valid snapshot at or below
// upTo (none: empty state from the first segment's base) and returns the
// offset the state is valid at.
func (l *Log) restoreProducersLocked(upTo int64) int64 {
	l.resetProducersLocked()
	from := l.segs[0].base
	for i := len(l.prod.snapshots) - 1; i >= 0; i-- {
		off := l.prod.snapshots[i]
		if off > upTo {
			continue
		}
		ps, err := l.readSnapshot(off)
		if err != nil {
			l.logger.Warn("log: skipping unusable producer snapshot", "dir", l.dir, "offset", off, "err", err)
			continue
		}
		l.prod.producers = ps
		from = max(off, from)
		break
	}
	for id, e := range l.prod.producers {
		if e.txnFirst >= 0 {
			l.prod.ongoing = append(l.prod.ongoing, openTxn{producerID: id, first: e.txnFirst})
		}
	}
	slices.SortFunc(l.prod.ongoing, func(a, b openTxn) int { return cmpInt64(a.first, b.first) })
	l.updateUnstableLocked()
	return from
}

// loadProducersLocked sets up producer state at Open, after the segments
// are recovered. After an unclean shutdown only snapshots at or below the
// recovery point on disk (rp) are used.
func (l *Log) loadProducersLocked(trusted bool, rp int64) error {
	upTo := l.logEndOffset
	if !trusted {
		upTo = min(upTo, rp)
	}
	if err := l.deleteSnapshotsLocked(func(off int64) bool { return off > upTo }); err != nil {
		return err
	}
	from := l.restoreProducersLocked(upTo)
	rewrite, err := l.loadTxnIndexLocked(l.logStartOffset, from)
	if err != nil {
		return err
	}
	l.txns.stale = rewrite
	if err := l.replayProducersLocked(from, l.logEndOffset); err != nil {
		return err
	}
	if l.txns.stale {
		if err := l.rewriteTxnIndexLocked(); err != nil {
			return err
		}
	}
	if from < l.logEndOffset || len(l.prod.snapshots) == 0 || l.prod.snapshots[len(l.prod.snapshots)-1] != l.logEndOffset {
		if len(l.prod.producers) > 0 || from < l.logEndOffset {
			return l.writeSnapshotLocked(true)
		}
	}
	return nil
}

// reloadProducersLocked rebuilds producer state for a log just truncated
// to end.
func (l *Log) reloadProducersLocked(end int64) error {
	err := l.deleteSnapshotsLocked(func(off int64) bool { return off > end })
	from := l.restoreProducersLocked(end)
	err = errors.Join(err, l.truncateTxnIndexLocked(from))
	if rerr := l.replayProducersLocked(from, end); rerr != nil {
		err = errors.Join(err, rerr)
	}
	return err
}

// clearProducersLocked drops all producer state, snapshots and index
// entries (the log restarts empty at a new offset).
func (l *Log) clearProducersLocked() error {
	l.resetProducersLocked()
	err := l.deleteSnapshotsLocked(func(int64) bool { return true })
	l.txns.entries = nil
	return errors.Join(err, l.rewriteTxnIndexLocked())
}

// startMovedLocked drops what retention made useless: snapshots below the
// first segment (but never the newest), index entries below the log start
// and unreplicated transactions below it.
func (l *Log) startMovedLocked() {
	newest := int64(-1)
	if n := len(l.prod.snapshots); n > 0 {
		newest = l.prod.snapshots[n-1]
	}
	base := l.segs[0].base
	err := l.deleteSnapshotsLocked(func(off int64) bool { return off < base && off != newest })
	err = errors.Join(err, l.pruneTxnIndexLocked())
	if err != nil {
		l.logger.Warn("log: cleanup after deleting segments failed", "dir", l.dir, "err", err)
	}
}

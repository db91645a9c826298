// Package log is the per-partition segmented log (Kafka's UnifiedLog,
// LocalLog and LogSegment): record batches stored as producers sent them,
// with offsets assigned by the leader, sparse indexes, crash recovery,
// retention and leader epochs.
//
// # On-disk layout
//
// A log is one directory, named by the caller (e.g.
// <data>/logs/<topicid>-<partition>), holding:
//
//	00000000000000000000.log        segment: v2 batches back to back, exactly as
//	                                stored (assigned base offsets, CRC intact)
//	00000000000000000000.index      sparse offset index (see offsetIndex):
//	                                8-byte entries {uint32 offset - base, uint32 position}
//	00000000000000000000.timeindex  time index (see timeIndex):
//	                                12-byte entries {int64 timestamp, uint32 offset - base}
//	log-start-offset                "0\n<offset>\n": the log start offset
//	recovery-point                  "0\n<offset>\n": data below it is known to be fsynced
//	leader-epoch-checkpoint         "0\n<n>\n" then n lines "<epoch> <startOffset>"
//	cleaner-offset-checkpoint       "0\n<offset>\n": compacted logs only; offsets
//	                                below it were cleaned (see cleaner.go)
//	00000000000000000000.snapshot   producer state as of that offset: one at each
//	                                segment base and at the log end after Close
//	                                (producer_snapshot.go)
//	aborted-txn-index               aborted transactions, by abort marker offset
//	                                (txn_index.go)
//
// Segments are named by their base offset, zero-padded to 20 digits; each
// holds the offsets from its base up to the next segment's base. The last
// segment is the active one, the only one appended to. Small files are
// replaced atomically (temporary file, fsync, rename, fsync of the
// directory). Files ending in .deleted belong to deleted segments still
// open for readers, and .tmp files to interrupted writes; Open removes both.
// Files ending in .cleaned and .swap are the cleaner's (cleaner_swap.go):
// Open removes the former and completes the swap the latter commit.
//
// Index files of the active segment are kept in memory and written when
// the segment is rolled (by the next flush) and on Close. After an unclean
// shutdown every segment from the recovery point on is scanned, so index
// files are only trusted below the recovery point or after a clean Close.
//
// Batches with a producer id are checked against the producer state before
// they are written, and transactions are tracked for the last stable
// offset: see producer_state.go and producer_log.go.
//
// # Invariants
//
//   - Offsets are dense and increasing: each batch's base offset is the
//     previous batch's last offset + 1, within a segment and across
//     segments; each segment starts where the previous one ends. Records
//     need not be: compaction leaves batches whose records do not cover
//     their offset range, or hold no record at all.
//   - logStartOffset <= logEndOffset; the first segment contains the log
//     start offset; the active segment's base <= logEndOffset.
//   - Each segment's size is a whole number of batches; every batch read
//     back has its CRC verified.
//   - There is always an active segment, possibly empty.
//
// # Concurrency
//
// A Log is safe for concurrent use. mu (RWMutex) guards the segment list,
// offsets, the epoch cache and the segments' in-memory state; Append holds
// it for writing across its single write syscall. Reads and lookups take
// it for reading only to find a segment and positions, then read the file
// without it, holding a reference on the segment so a concurrent deletion
// keeps the file open (for FileDeleteDelay, and until the last reader is
// done). flushMu serializes the slow maintenance operations (Flush,
// retention, DeleteRecordsBefore, TruncateTo, Close, the cleaner's swaps)
// so that they can fsync and rename without blocking appends; it is always
// taken before mu. A cleaner pass reads and writes without any of these
// locks (cleanMu only keeps passes apart).
// TruncateTo rewrites bytes a reader may have located: readers compare a
// truncation counter before and after reading and start over if it moved.
//
// # Memory
//
// Indexes are held in memory in their file format: the active segment's
// always, a closed segment's from its first lookup until the log closes.
// Each is bounded by SegmentIndexBytes (the segment rolls when full).
package log

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-db/strata/internal/record"
)

// Log is one partition's log. See the package documentation.
type Log struct {
	dir             string
	fs              FS
	now             func() time.Time
	logger          *slog.Logger
	maxDecompressed int

	flushMu sync.Mutex // see the package documentation; taken before mu

	mu             sync.RWMutex
	cfg            Config
	segs           []*segment // by base offset; never empty while open; last is active
	logStartOffset int64
	logEndOffset   int64
	recoveryPoint  int64
	persistedStart int64 // value in the log-start-offset file
	dirSynced      bool  // no segment was created or renamed since the directory was last fsynced
	epochs         epochCache
	unflushedMsgs  int64
	lastFlush      time.Time
	failed         error // a failed append could not be undone; repaired before the next append
	closed         bool
	// modified records any change to the log's files since Open (which
	// leaves them consistent): Close of an unmodified log writes nothing,
	// so an idle partition costs no fsyncs at shutdown.
	modified bool
	// epochsUnsynced: the epoch checkpoint was replaced without fsync.
	epochsUnsynced bool

	// truncations counts TruncateTo calls. They rewrite file bytes a reader
	// may have located before; a reader that sees the count change while it
	// read starts over.
	truncations atomic.Uint64

	// startOffset mirrors logStartOffset for lock-free readers.
	startOffset atomic.Int64

	retentionUpperBound atomic.Int64 // see SetRetentionUpperBound
	closeErr            error        // what Close returned, for later calls; guarded by mu

	retireMu sync.Mutex
	retiring map[*segment]*time.Timer // retired segments waiting for FileDeleteDelay

	// cleanMu allows one cleaner pass at a time (cleaner.go); taken before
	// flushMu.
	cleanMu sync.Mutex
	// cleanerCp is the first offset the cleaner has not cleaned (the
	// cleaner-offset-checkpoint file, lowered by truncation); guarded by mu.
	cleanerCp int64
	// tombstoneHorizon is the earliest delete horizon of a tombstone the
	// last pass kept, -1 if none or unknown (it is not persisted); guarded
	// by mu.
	tombstoneHorizon int64

	// Producer state, its snapshots and the aborted transaction index
	// (producer_log.go); guarded by mu.
	prod producerState
	txns txnIndex
	// trustedAtOpen: Open found the log closed cleanly and recovered
	// nothing.
	trustedAtOpen bool
	// firstUnstable mirrors prod for lock-free readers (see
	// FirstUnstableOffset); hasUnreplicated says prod.unreplicated is not
	// empty.
	firstUnstable   atomic.Int64
	hasUnreplicated atomic.Bool
}

// AppendInfo describes a successful append.
type AppendInfo struct {
	FirstOffset     int64
	LastOffset      int64
	LogAppendTimeMs int64 // -1 unless the batches were stamped with LogAppendTime
	LogStartOffset  int64
	// Duplicate: the batch repeats one of its producer's last batches
	// (a client retry); the offsets are the original's and nothing was
	// written.
	Duplicate bool
}

// SegmentInfo describes a segment, for tests, metrics and tiering.
type SegmentInfo struct {
	BaseOffset   int64
	NextOffset   int64 // offset after its last batch (the next segment's base for closed segments)
	Size         int64
	MaxTimestamp int64 // -1 if no batch has a timestamp
}

// Append writes batches, one or more complete v2 batches the caller has
// checked with record.Verify, at the end of the log as the leader of
// leaderEpoch. It assigns base offsets from the log end offset on
// (patching batches in place), stamps leaderEpoch, and when
// logAppendTimeMs >= 0 marks the batches LogAppendTime with that time. It
// rolls a new segment first when the active one is too big, too old, has
// full indexes, or could not hold the offsets. A newer leaderEpoch is
// recorded in the epoch cache (and its checkpoint) before the data.
//
// Batches with a producer id are checked as a producer's (OriginClient,
// see producer_state.go): a check that fails writes nothing and returns
// ErrOutOfOrderSequence, ErrInvalidProducerEpoch, ErrInvalidTxnState or
// ErrCoordinatorFenced; a retry of a recent batch writes nothing and
// returns the original offsets with Duplicate set.
//
// The data reaches the file in one write. If the write fails, the file is
// truncated back, nothing else changes, and the error wraps ErrStorage; if
// even the truncate fails, every later Append retries it first. Reads of
// committed data keep working meanwhile.
func (l *Log) Append(batches []byte, leaderEpoch int32, logAppendTimeMs int64) (AppendInfo, error) {
	return l.append(batches, true, OriginClient, leaderEpoch, logAppendTimeMs)
}

// AppendAs is Append with the producer checks of origin (OriginClient or
// OriginCoordinator).
func (l *Log) AppendAs(origin AppendOrigin, batches []byte, leaderEpoch int32, logAppendTimeMs int64) (AppendInfo, error) {
	if origin == OriginReplication {
		return AppendInfo{}, fmt.Errorf("log: AppendAs with replication origin; use AppendReplicated")
	}
	return l.append(batches, true, origin, leaderEpoch, logAppendTimeMs)
}

// AppendReplicated writes batches fetched from the leader as they are:
// offsets and leader epochs are kept. Base offsets must continue the log
// densely from the log end offset (recovery relies on dense offsets). The
// leader's compaction keeps its batches dense but may merge them, so a
// fetch at this log's end offset can return a batch starting below it: a
// follower then truncates to that batch's base offset first (what it cuts
// is the same records, not yet compacted). The epoch cache learns every
// newer epoch the batches carry.
func (l *Log) AppendReplicated(batches []byte) (AppendInfo, error) {
	return l.append(batches, false, OriginReplication, -1, -1)
}

func (l *Log) append(b []byte, leader bool, origin AppendOrigin, epoch int32, appendTimeMs int64) (AppendInfo, error) {
	info, flush, err := l.appendLocked(b, leader, origin, epoch, appendTimeMs)
	if err == nil && flush {
		err = l.Flush()
	}
	return info, err
}

// batchSummary is what an append needs to know about its batches.
type batchSummary struct {
	batches int
	records int64
	first   int64 // first offset after assignment
	last    int64 // last offset after assignment
}

// summarize walks the batch headers of b. For a leader append offsets are
// counted from logEnd; for a replicated one they are checked to increase
// from logEnd on.
func summarize(b []byte, leader bool, logEnd int64) (batchSummary, error) {
	sum := batchSummary{first: -1}
	next := logEnd
	for pos := 0; pos < len(b); {
		h, err := record.ParseHeader(b[pos:])
		if err != nil {
			return sum, fmt.Errorf("batch at byte %d: %w", pos, err)
		}
		if pos+h.Size() > len(b) || h.LastOffsetDelta < 0 {
			return sum, fmt.Errorf("%w: batch at byte %d: size %d, last offset delta %d, %d bytes",
				record.ErrInvalid, pos, h.Size(), h.LastOffsetDelta, len(b))
		}
		if !leader && h.BaseOffset != next {
			return sum, fmt.Errorf("%w: batch base offset %d, expected %d", record.ErrInvalid, h.BaseOffset, next)
		}
		if sum.first < 0 {
			sum.first = next
		}
		next += int64(h.LastOffsetDelta) + 1
		sum.batches++
		sum.records += int64(h.NumRecords)
		pos += h.Size()
	}
	if sum.batches == 0 {
		return sum, fmt.Errorf("%w: empty append", record.ErrInvalid)
	}
	sum.last = next - 1
	return sum, nil
}

// appendLocked does the append under mu and reports whether flush.messages
// asks for a flush.
func (l *Log) appendLocked(b []byte, leader bool, origin AppendOrigin, epoch int32, appendTimeMs int64) (AppendInfo, bool, error) {
	if len(b) > math.MaxInt32 {
		return AppendInfo{}, false, fmt.Errorf("%w: append of %d bytes", record.ErrInvalid, len(b))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return AppendInfo{}, false, ErrClosed
	}
	return l.appendHeld(b, leader, origin, epoch, appendTimeMs)
}

// appendHeld is appendLocked's work; the caller holds mu's write lock on
// an open log.
func (l *Log) appendHeld(b []byte, leader bool, origin AppendOrigin, epoch int32, appendTimeMs int64) (AppendInfo, bool, error) {
	if err := l.repairLocked(); err != nil {
		return AppendInfo{}, false, err
	}
	sum, err := summarize(b, leader, l.logEndOffset)
	if err != nil {
		return AppendInfo{}, false, fmt.Errorf("log: append: %w", err)
	}
	if sum.last-l.logEndOffset > math.MaxUint32 {
		return AppendInfo{}, false, fmt.Errorf("%w: offsets %d..%d do not fit one segment", record.ErrInvalid, sum.first, sum.last)
	}
	now := l.now()
	pa, dup, err := l.checkProducersLocked(b, leader, sum.first, origin, appendTimeMs, now.UnixMilli())
	switch {
	case err != nil:
		return AppendInfo{}, false, fmt.Errorf("log: append at offset %d: %w", sum.first, err)
	case dup != nil:
		info := AppendInfo{FirstOffset: dup.firstOffset(), LastOffset: dup.lastOffset, LogAppendTimeMs: -1,
			LogStartOffset: l.logStartOffset, Duplicate: true}
		if appendTimeMs >= 0 {
			info.LogAppendTimeMs = dup.timestamp
		}
		return info, false, nil
	}
	if err := l.maybeRollLocked(len(b), sum.last, now); err != nil {
		return AppendInfo{}, false, err
	}
	if leader {
		stamp(b, sum.first, epoch, appendTimeMs)
	}
	if err := l.learnEpochsLocked(b, leader, epoch, sum.first); err != nil {
		return AppendInfo{}, false, err
	}
	s := l.active()
	l.modified = true
	n, err := s.file.Write(b)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		l.undoWriteLocked(s, err)
		return AppendInfo{}, false, storageErr(fmt.Sprintf("append to segment %d of %s", s.base, l.dir), err)
	}
	l.indexAppendedLocked(s, b, now)
	s.next = sum.last + 1
	l.logEndOffset = sum.last + 1
	l.unflushedMsgs += sum.records
	l.commitProducersLocked(&pa, false)
	info := AppendInfo{FirstOffset: sum.first, LastOffset: sum.last, LogAppendTimeMs: -1, LogStartOffset: l.logStartOffset}
	if leader && appendTimeMs >= 0 {
		info.LogAppendTimeMs = appendTimeMs
	}
	return info, l.unflushedMsgs >= l.cfg.FlushMessages, nil
}

// stamp assigns offsets from first on, the leader epoch and, if
// appendTimeMs >= 0, LogAppendTime to the batches of b (already checked by
// summarize).
func stamp(b []byte, first int64, epoch int32, appendTimeMs int64) {
	next := first
	for pos := 0; pos < len(b); {
		h, _ := record.ParseHeader(b[pos:])
		batch := b[pos : pos+h.Size()]
		record.SetBaseOffset(batch, next)
		record.SetLeaderEpoch(batch, epoch)
		if appendTimeMs >= 0 {
			record.SetLogAppendTime(batch, appendTimeMs)
		}
		next += int64(h.LastOffsetDelta) + 1
		pos += h.Size()
	}
}

// learnEpochsLocked records newer leader epochs and persists the cache
// before the data is written, so the checkpoint never misses an epoch the
// log holds. Entries for offsets the append then fails to write are
// dropped again by undoWriteLocked (and by Open's truncation to the log
// end).
func (l *Log) learnEpochsLocked(b []byte, leader bool, epoch int32, first int64) error {
	changed := false
	if leader {
		changed = l.epochs.assign(epoch, first)
	} else {
		for pos := 0; pos < len(b); {
			h, _ := record.ParseHeader(b[pos:])
			changed = l.epochs.assign(h.LeaderEpoch, h.BaseOffset) || changed
			pos += h.Size()
		}
	}
	if !changed {
		return nil
	}
	if err := l.writeEpochsLocked(false); err != nil {
		l.epochs.truncateFromEnd(l.logEndOffset)
		return err
	}
	return nil
}

// writeEpochsLocked persists the epoch cache. Only called under mu's write
// lock, so checkpoints are written in the order the cache changes. Without
// sync (when an epoch begins, on or near the produce path) the file is
// replaced but not fsynced: recovery rebuilds epochs from the batches it
// scans, and flushTo fsyncs the checkpoint before the recovery point moves
// past an epoch's start (KAFKA-15046 made the same trade).
func (l *Log) writeEpochsLocked(sync bool) error {
	l.modified = true
	if err := replaceFile(l.fs, l.path(epochCheckpoint), l.epochs.marshal(), sync); err != nil {
		return storageErr("write leader epoch checkpoint", err)
	}
	l.epochsUnsynced = !sync
	return nil
}

// BeginEpoch records that leaderEpoch starts at the log end offset, as a
// new leader does when it takes over, so that its appends write no
// checkpoint. An epoch not newer than the latest changes nothing.
func (l *Log) BeginEpoch(leaderEpoch int32) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if !l.epochs.assign(leaderEpoch, l.logEndOffset) {
		return nil
	}
	return l.writeEpochsLocked(false)
}

// indexAppendedLocked updates the active segment for batches just written.
func (l *Log) indexAppendedLocked(s *segment, b []byte, now time.Time) {
	pos := s.size
	for off := 0; off < len(b); {
		h, _ := record.ParseHeader(b[off:])
		s.ix.add(s.base, &h, pos, &l.cfg)
		pos += int64(h.Size())
		off += h.Size()
	}
	if s.size == 0 {
		s.rollClock = now
	}
	s.size = pos
	s.modTime = now
}

// undoWriteLocked cuts a failed write off the active segment. If that
// fails too the log is marked failed: reads stay within s.size and every
// append first retries the truncate.
func (l *Log) undoWriteLocked(s *segment, werr error) {
	l.epochs.truncateFromEnd(l.logEndOffset)
	if err := s.file.Truncate(s.size); err != nil {
		l.failed = err
		l.logger.Error("log: cannot undo failed append; appends will retry", "dir", l.dir, "segment", s.base,
			"offset", l.logEndOffset, "write_err", werr, "err", err)
	}
}

// repairLocked retries the truncate a failed append could not do.
func (l *Log) repairLocked() error {
	if l.failed == nil {
		return nil
	}
	s := l.active()
	if err := s.file.Truncate(s.size); err != nil {
		return storageErr(fmt.Sprintf("repair segment %d of %s", s.base, l.dir), err)
	}
	l.logger.Info("log: repaired segment after failed append", "dir", l.dir, "segment", s.base, "offset", l.logEndOffset)
	l.failed = nil
	return nil
}

// maybeRollLocked rolls the active segment if the append of n bytes ending
// at offset last must not go into it.
func (l *Log) maybeRollLocked(n int, last int64, now time.Time) error {
	s := l.active()
	reason := ""
	switch {
	case s.size == 0:
		// An empty segment takes any append: rolling would not help.
	case last-s.base > math.MaxUint32:
		reason = "offset range"
	case s.size+int64(n) > l.cfg.SegmentBytes:
		reason = "size"
	case now.Sub(s.rollClock) > l.cfg.SegmentMs:
		reason = "time"
	case s.ix.full(&l.cfg):
		reason = "index full"
	}
	if reason == "" {
		return nil
	}
	return l.rollLocked(reason)
}

// rollLocked closes the active segment and starts a new one at the log end
// offset. The closed segment's index files are written by the next flush.
func (l *Log) rollLocked(reason string) error {
	l.modified = true
	old := l.active()
	ns, err := createSegment(l.fs, l.dir, l.logEndOffset, l.logger, l.now())
	if err != nil {
		return storageErr(fmt.Sprintf("roll segment %d of %s", l.logEndOffset, l.dir), err)
	}
	old.ix.finish(old.base)
	old.dirty.Store(true)
	l.segs = append(l.segs, ns)
	l.dirSynced = false
	l.logger.Debug("log: rolled segment", "dir", l.dir, "segment", ns.base, "reason", reason)
	// A snapshot at each segment base bounds the replay after a crash to
	// the active segment. Losing one only costs a longer replay.
	if err := l.writeSnapshotLocked(false); err != nil {
		l.logger.Warn("log: cannot snapshot producer state at roll", "dir", l.dir, "offset", ns.base, "err", err)
	}
	return nil
}

func (l *Log) active() *segment { return l.segs[len(l.segs)-1] }

func (l *Log) path(name string) string { return filepath.Join(l.dir, name) }

// segEndLocked is the offset after segment i's data.
func (l *Log) segEndLocked(i int) int64 {
	if i == len(l.segs)-1 {
		return l.logEndOffset
	}
	return min(l.segs[i].next, l.segs[i+1].base)
}

// segmentForLocked returns the index of the segment holding offset: the
// last one with base <= offset (0 if offset is below every base).
func (l *Log) segmentForLocked(offset int64) int {
	lo, hi := 0, len(l.segs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l.segs[m].base <= offset {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return max(lo-1, 0)
}

// Dir is the log's directory.
func (l *Log) Dir() string { return l.dir }

// LogStartOffset is the first offset a consumer may read.
// It reads an atomic copy: fetches ask for it on every partition.
func (l *Log) LogStartOffset() int64 { return l.startOffset.Load() }

// setLogStart moves the log start offset; callers hold mu's write lock.
func (l *Log) setLogStart(offset int64) {
	l.logStartOffset = offset
	l.startOffset.Store(offset)
}

// LogEndOffset is the offset the next appended record gets.
func (l *Log) LogEndOffset() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.logEndOffset
}

// RecoveryPoint is the offset below which data is known to be fsynced.
func (l *Log) RecoveryPoint() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.recoveryPoint
}

// Size is the total size of the segment files in bytes.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.sizeLocked()
}

func (l *Log) sizeLocked() int64 {
	total := int64(0)
	for _, s := range l.segs {
		total += s.size
	}
	return total
}

// Segments describes the segments, oldest first.
func (l *Log) Segments() []SegmentInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]SegmentInfo, len(l.segs))
	for i, s := range l.segs {
		out[i] = SegmentInfo{BaseOffset: s.base, NextOffset: l.segEndLocked(i), Size: s.size, MaxTimestamp: s.ix.maxTs}
	}
	return out
}

// LatestEpoch is the latest leader epoch in the epoch cache, -1 if none.
func (l *Log) LatestEpoch() int32 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.latest()
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch with the semantics of
// Kafka's LeaderEpochFileCache.endOffsetFor: for the latest epoch the log
// end offset; for an older one the largest known epoch <= it and the start
// offset of the next known epoch; for an epoch below every known one the
// requested epoch and the first known start offset; otherwise (-1, -1).
func (l *Log) EndOffsetForEpoch(epoch int32) (leaderEpoch int32, endOffset int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.epochs.endOffsetFor(epoch, l.logEndOffset)
}

// SetConfig changes the configuration of a live log. Limits apply from the
// next append (rolls) or retention run.
func (l *Log) SetConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cfg = cfg
	return nil
}

// Config returns the current configuration.
func (l *Log) Config() Config {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.cfg
}

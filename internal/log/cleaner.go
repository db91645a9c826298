package log

// Log compaction (Kafka's LogCleaner) for logs with Config.Compact.
//
// # What is kept
//
// A pass keeps, for each key, the record with the highest offset and
// removes the older ones. Records without a key are removed (Kafka rejects
// them on produce to a compacted topic, and its cleaner drops them). A
// tombstone (null value) stays until its delete horizon, as in KIP-534:
// the first pass that keeps a tombstone stamps its batch with horizon =
// now + DeleteRetention (in the baseTimestamp field, flagged in the
// attributes; record timestamps become deltas from it, so they do not
// change); a later pass removes tombstones whose horizon has passed. So a
// consumer that reads from the start and reaches the head within
// delete.retention.ms of the tombstone's first cleaning sees every delete.
// Control batches and transactional batches are copied as they are: their
// records are not in the offset map, so they never cause another record's
// removal, and none of them is ever removed. So transaction markers stay
// (read_committed readers and the aborted transaction index rely on them),
// aborted records stay (read_committed readers drop them by the index), and
// a record of a committed transaction neither supersedes nor is superseded
// by other records of its key: the latest value of each key is still kept,
// but transactional records are never compacted away (unlike Kafka, which
// maps committed ones, drops aborted ones and removes markers after
// delete.retention.ms). Producer state does not depend on the cleaner: it
// lives in snapshots (producer_snapshot.go), and the rule below also keeps
// the last batch of every producer for a rebuild from the log.
//
// Offsets never change. The log stays dense at batch level (recovery and
// replication check that each batch starts where the previous one ends):
// an output batch covers the offset range of whole input batches, so a
// batch may start with a record whose offset delta is above 0, hold gaps,
// and end (lastOffsetDelta) after its last record; a range whose records
// were all removed is absorbed by a neighbouring output batch or, if none
// can take it, becomes a batch without records. Clients handle both
// (KAFKA-5443). Batches with a producer id keep their identity (base
// offset, lastOffsetDelta, sequence numbers) with only their records
// filtered, and an emptied one stays as an empty batch unless a later
// batch of the same producer is in the mapped range, so producer state
// can always be rebuilt from the log. Plain batches (producer id -1) are
// merged: kept records are re-encoded into batches of at most
// MaxMessageBytes with the source's codec, leader epoch and timestamp type
// (LogAppendTime batches merge only with batches of the same append time).
// A batch from which nothing is removed is copied byte for byte.
//
// # When
//
// Only closed segments are cleaned, from the log start up to the cleanable
// end: the first segment that is the active one, reaches past the
// retention upper bound (the high watermark), or holds a record newer than
// now - MinCompactionLag ends it. The per-log checkpoint
// cleaner-offset-checkpoint ("0\n<offset>\n") holds the first dirty offset:
// everything below it was cleaned before. A log is due when its dirty
// bytes (segments ending after the first dirty offset) are at least
// MinCleanableDirtyRatio of the cleanable bytes, or the first batch of the
// first dirty segment is older than MaxCompactionLag, or a tombstone's
// horizon kept by the last pass (remembered in memory only) has passed.
//
// # How
//
// A pass builds the offset map (offset_map.go) over the dirty range
// [firstDirty, cleanableEnd); if the map fills up, the range ends at the
// batch where it did and the next pass continues there. It then rewrites
// the segments from the first one up to the end of that range in groups
// (consecutive segments whose sizes add up to at most SegmentBytes and
// whose offsets fit one segment), each into one new segment (see
// cleaner_write.go), swapped in as cleaner_swap.go describes; batches
// at or above the range end are copied as they are. Then the checkpoint
// moves to the range end.
//
// # Bounds
//
// Memory: the offset map (at most CleanerConfig.DedupeBufferBytes), one
// input batch (decompressed, at most Options.MaxDecompressedBytes), one
// merged output batch, and the read and write buffers. I/O: every byte
// read and written is counted by a throttle at IOMaxBytesPerSecond.
//
// # Concurrency
//
// A pass reads closed segments without locks, holding references, so
// appends, reads and flushes go on. Only the swap takes flushMu (briefly
// excluding retention, truncation and flushes) and, to replace the segment
// list, mu. A truncation during the pass makes the pass give up
// (truncation counter); so does Close. Log.cleanMu allows one pass per log
// at a time, Cleaner.mu one pass per Cleaner (the offset map is reused).

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/strata-db/strata/internal/record"
)

// cleanerCheckpointFile holds the first dirty offset of a compacted log.
const cleanerCheckpointFile = "cleaner-offset-checkpoint"

// Defaults of CleanerConfig.
const (
	DefaultDedupeBufferBytes = 128 << 20 // log.cleaner.dedupe.buffer.size
	DefaultCleanerIORate     = 100 << 20 // log.cleaner.io.max.bytes.per.second (Kafka: unlimited)
)

// CleanerConfig configures a Cleaner (the log.cleaner.* broker configs).
type CleanerConfig struct {
	// DedupeBufferBytes bounds the offset map (24 bytes per key, 3/4 of
	// the slots usable). 0: DefaultDedupeBufferBytes.
	DedupeBufferBytes int64
	// IOMaxBytesPerSecond bounds the bytes a Cleaner reads plus writes.
	// 0: DefaultCleanerIORate; negative: unlimited.
	IOMaxBytesPerSecond float64
	Logger              *slog.Logger // nil: discard
}

// Cleaner compacts logs, one pass at a time. Manager runs one; tests call
// Clean directly.
type Cleaner struct {
	cfg    CleanerConfig
	logger *slog.Logger

	mu  sync.Mutex // one pass at a time: the map and throttle are shared
	om  *offsetMap // allocated by the first pass
	thr throttle

	// hook, if set (tests), is called at each step of a swap; an error
	// ends the pass on the spot, as a crash would.
	hook func(cleanStep) error
}

// NewCleaner returns a Cleaner; its offset map is allocated by the first
// pass that needs it.
func NewCleaner(cfg CleanerConfig) (*Cleaner, error) {
	if cfg.DedupeBufferBytes == 0 {
		cfg.DedupeBufferBytes = DefaultDedupeBufferBytes
	}
	if cfg.DedupeBufferBytes < 4*mapSlotSize {
		return nil, fmt.Errorf("log: cleaner dedupe buffer of %d bytes is too small", cfg.DedupeBufferBytes)
	}
	if cfg.IOMaxBytesPerSecond == 0 {
		cfg.IOMaxBytesPerSecond = DefaultCleanerIORate
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Cleaner{cfg: cfg, logger: cfg.Logger, thr: throttle{rate: cfg.IOMaxBytesPerSecond, now: time.Now}}, nil
}

// CleanResult describes a pass.
type CleanResult struct {
	Cleaned bool // false: the log was not due
	// FirstDirty and End bound the range the offset map covered; the
	// checkpoint is now End.
	FirstDirty, End int64
	Segments        int   // source segments rewritten
	Groups          int   // segments written
	BytesBefore     int64 // of the source segments
	BytesAfter      int64 // of the segments written
	RecordsRead     int64 // records examined in the rewritten batches
	RecordsRemoved  int64
	Duration        time.Duration
}

// ErrCleanAborted: the log changed under a pass (a truncation, or a
// deletion of part of what it was rewriting); nothing is lost, and the
// next pass starts over.
var ErrCleanAborted = errors.New("log: cleaning aborted by a concurrent change")

// Clean runs one pass over l if it is due (see the package notes above)
// and reports what it did. It returns ErrClosed if l was closed,
// ErrCleanAborted if the log changed under it, and ctx's error if ctx
// ended; a pass that fails or gives up leaves the data as it was (groups
// already swapped in hold the same retained records).
func (c *Cleaner) Clean(ctx context.Context, l *Log) (CleanResult, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	began := time.Now()
	p, err := l.planClean()
	if err != nil || p == nil {
		return CleanResult{}, err
	}
	defer p.release()
	res, err := c.run(ctx, l, p)
	res.Duration = time.Since(began)
	switch {
	case errors.Is(err, ErrCleanAborted):
		if l.isClosed() {
			err = ErrClosed
		}
		return res, err
	case err != nil:
		return res, fmt.Errorf("log: clean %s: %w", l.dir, err)
	}
	c.logger.Info("log: cleaned", "dir", l.dir, "first_dirty", res.FirstDirty, "offset", res.End,
		"segments", res.Segments, "bytes_before", res.BytesBefore, "bytes_after", res.BytesAfter,
		"records_removed", res.RecordsRemoved, "duration", res.Duration)
	return res, nil
}

// run does the pass of plan p.
func (c *Cleaner) run(ctx context.Context, l *Log, p *cleanPlan) (CleanResult, error) {
	res := CleanResult{Cleaned: true, FirstDirty: p.firstDirty}
	if c.om == nil {
		om, err := newOffsetMap(c.cfg.DedupeBufferBytes)
		if err != nil {
			return res, err
		}
		c.om = om
	}
	c.om.reset()
	end, producers, err := c.buildMap(ctx, l, p)
	if err != nil {
		return res, err
	}
	res.End = end
	minHorizon := int64(-1)
	for _, g := range p.groups(end) {
		out, stats, err := c.writeGroup(ctx, l, p, g, end, producers)
		if err != nil {
			return res, l.abortErr(p, err)
		}
		switch err := l.swapIn(p, g, out, c.hook); {
		case errors.Is(err, errGroupGone):
			continue
		case err != nil:
			return res, l.abortErr(p, err)
		}
		res.Segments += len(g.segs)
		res.Groups++
		res.BytesBefore += g.bytes
		res.BytesAfter += out.size
		res.RecordsRead += stats.read
		res.RecordsRemoved += stats.removed
		if stats.minHorizon >= 0 && (minHorizon < 0 || stats.minHorizon < minHorizon) {
			minHorizon = stats.minHorizon
		}
	}
	return res, l.finishClean(p, end, minHorizon)
}

// abortErr turns a failure into ErrCleanAborted when the log changed
// under the pass (then the failure, e.g. a CRC error in bytes a truncation
// rewrote, says nothing about the data).
func (l *Log) abortErr(p *cleanPlan, err error) error {
	if errors.Is(err, ErrCleanAborted) || l.truncations.Load() != p.gen || l.isClosed() {
		return ErrCleanAborted
	}
	return err
}

// buildMap fills the offset map from the dirty range on and returns where
// the map ends (the dirty range's end, or the batch where the map filled
// up) and the base offset of the last batch of each idempotent producer
// in it.
func (c *Cleaner) buildMap(ctx context.Context, l *Log, p *cleanPlan) (int64, map[int64]int64, error) {
	producers := map[int64]int64{}
	for i, s := range p.segs {
		if p.ends[i] <= p.firstDirty {
			continue
		}
		sc := newScanner(s.file, 0, p.sizes[i], true)
		next := s.base
		for sc.next() {
			h := sc.h
			if err := checkDense(&h, &next); err != nil {
				return 0, nil, l.abortErr(p, err)
			}
			if h.NextOffset() <= p.firstDirty {
				continue
			}
			// Each producer counts as two keys against the map's budget.
			if !c.om.room(int(h.NumRecords) + 2*(len(producers)+1)) {
				if h.BaseOffset == p.firstDirty {
					return 0, nil, fmt.Errorf("dedupe buffer of %d bytes cannot hold the %d records of the batch at offset %d",
						c.cfg.DedupeBufferBytes, h.NumRecords, h.BaseOffset)
				}
				return h.BaseOffset, producers, nil
			}
			b, err := sc.batch()
			if err != nil {
				break
			}
			if err := c.thr.wait(ctx, len(b)); err != nil {
				return 0, nil, err
			}
			if err := c.mapBatch(l, b, &h, producers); err != nil {
				return 0, nil, l.abortErr(p, err)
			}
		}
		if err := l.scanError(s, sc); err != nil {
			return 0, nil, l.abortErr(p, err)
		}
	}
	return p.cleanableEnd, producers, nil
}

// checkDense checks that a source batch starts at next and moves next
// past it. Sources are dense unless damaged or rewritten by a truncation
// under the pass; either way the pass must stop rather than map or write
// batches out of order.
func checkDense(h *record.Header, next *int64) error {
	if h.BaseOffset != *next {
		return fmt.Errorf("%w: batch at offset %d, expected %d", ErrCorruptData, h.BaseOffset, *next)
	}
	*next = h.NextOffset()
	return nil
}

// mapBatch puts the keys of one batch into the map.
func (c *Cleaner) mapBatch(l *Log, b []byte, h *record.Header, producers map[int64]int64) error {
	if h.Control() || h.Transactional() {
		return nil // copied as they are; see the notes above
	}
	if h.HasProducerID() {
		producers[h.ProducerID] = h.BaseOffset
	}
	err := record.ForEachStoredRecord(b, l.maxDecompressed, func(r *record.Record) bool {
		if r.Key != nil {
			c.om.put(r.Key, record.RecordOffset(h, r))
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("%w: batch at offset %d: %w", ErrCorruptData, h.BaseOffset, err)
	}
	return nil
}

// cleanPlan is a pass's view of the log, taken under mu.
type cleanPlan struct {
	cfg        Config
	nowMs      int64
	gen        uint64 // truncation count
	firstDirty int64
	// cleanableEnd is where the dirty range ends: the end of the last
	// segment in segs.
	cleanableEnd int64
	segs         []*segment // the closed segments below cleanableEnd, referenced
	ends, sizes  []int64
	modTimes     []time.Time
}

func (p *cleanPlan) release() {
	for _, s := range p.segs {
		s.release()
	}
}

// cleanGroup is segments p.segs[from:to] rewritten into one.
type cleanGroup struct {
	segs       []*segment
	ends       []int64
	sizes      []int64
	base, end  int64
	bytes      int64
	newModTime time.Time
}

// groups splits the segments holding offsets below end into groups.
func (p *cleanPlan) groups(end int64) []cleanGroup {
	var out []cleanGroup
	for i := 0; i < len(p.segs) && p.segs[i].base < end; {
		g := cleanGroup{base: p.segs[i].base}
		j := i
		for j < len(p.segs) && p.segs[j].base < end && (j == i ||
			(g.bytes+p.sizes[j] <= p.cfg.SegmentBytes && p.ends[j]-1-g.base <= math.MaxUint32)) {
			g.bytes += p.sizes[j]
			g.newModTime = maxTime(g.newModTime, p.modTimes[j])
			j++
		}
		g.segs, g.ends, g.sizes, g.end = p.segs[i:j], p.ends[i:j], p.sizes[i:j], p.ends[j-1]
		out = append(out, g)
		i = j
	}
	return out
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// cleanability is what decides whether a log is due, for the Manager to
// pick the dirtiest log.
type cleanability struct {
	due        bool
	ratio      float64 // dirty bytes over cleanable bytes
	dirtyBytes int64
}

// cleanable reports whether l is due for a pass.
func (l *Log) cleanable() cleanability {
	l.mu.RLock()
	defer l.mu.RUnlock()
	st, _ := l.cleanStateLocked(l.now())
	return st
}

// cleanStateLocked computes l's cleanability and the bounds of a pass:
// how many closed segments are cleanable (k), the first dirty offset and
// the cleanable end.
func (l *Log) cleanStateLocked(now time.Time) (cleanability, cleanBounds) {
	var st cleanability
	var b cleanBounds
	if l.closed || !l.cfg.Compact {
		return st, b
	}
	upper := l.retentionUpperBound.Load()
	nowMs := now.UnixMilli()
	for b.k < len(l.segs)-1 && l.segEndLocked(b.k) <= upper &&
		(l.cfg.MinCompactionLag <= 0 || segmentTimestamp(l.segs[b.k]) < nowMs-l.cfg.MinCompactionLag.Milliseconds()) {
		b.k++
	}
	if b.k == 0 {
		return st, b
	}
	b.end = l.segEndLocked(b.k - 1)
	b.firstDirty = min(max(l.cleanerCp, l.logStartOffset), b.end)
	var total int64
	firstDirtySeg := -1
	for i, s := range l.segs[:b.k] {
		total += s.size
		if l.segEndLocked(i) > b.firstDirty {
			st.dirtyBytes += s.size
			if firstDirtySeg < 0 {
				firstDirtySeg = i
			}
		}
	}
	if total > 0 {
		st.ratio = float64(st.dirtyBytes) / float64(total)
	}
	horizonDue := l.tombstoneHorizon >= 0 && l.tombstoneHorizon <= nowMs
	st.due = (st.dirtyBytes > 0 && st.ratio >= l.cfg.MinCleanableDirtyRatio) || (horizonDue && total > 0) ||
		(st.dirtyBytes > 0 && l.overdueLocked(l.segs[firstDirtySeg], nowMs))
	return st, b
}

// cleanBounds are the bounds of a pass: segs[:k] are cleanable, ending at
// end; firstDirty is where the dirty range starts.
type cleanBounds struct {
	k               int
	firstDirty, end int64
}

// overdueLocked reports whether the first batch of s, the first dirty
// segment, is older than MaxCompactionLag (by its max timestamp, as Kafka;
// by the file's modification time without one). It reads the batch header
// under mu: a pread of one header, only for logs with a max lag set.
func (l *Log) overdueLocked(s *segment, nowMs int64) bool {
	if l.cfg.MaxCompactionLag == math.MaxInt64 || s.size < record.HeaderSize {
		return false
	}
	var hdr [record.HeaderSize]byte
	ts := s.modTime.UnixMilli()
	if err := readFullAt(s.file, hdr[:], 0); err == nil {
		if h, err := record.ParseHeader(hdr[:]); err == nil && h.MaxTimestamp >= 0 {
			ts = h.MaxTimestamp
		}
	}
	return ts < nowMs-l.cfg.MaxCompactionLag.Milliseconds()
}

// planClean returns the plan of a pass, or nil if l is not due.
func (l *Log) planClean() (*cleanPlan, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	now := l.now()
	st, b := l.cleanStateLocked(now)
	if !st.due {
		return nil, nil
	}
	p := &cleanPlan{cfg: l.cfg, nowMs: now.UnixMilli(), gen: l.truncations.Load(), firstDirty: b.firstDirty, cleanableEnd: b.end}
	for i, s := range l.segs[:b.k] {
		s.acquire()
		p.segs = append(p.segs, s)
		p.ends = append(p.ends, l.segEndLocked(i))
		p.sizes = append(p.sizes, s.size)
		p.modTimes = append(p.modTimes, s.modTime)
	}
	return p, nil
}

// finishClean moves the checkpoint to end after a pass, unless the log
// was truncated meanwhile (then the checkpoint is not worth trusting).
func (l *Log) finishClean(p *cleanPlan, end, minHorizon int64) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	if l.truncations.Load() != p.gen || l.isClosed() {
		return ErrCleanAborted
	}
	if err := writeOffsetFile(l.fs, l.dir, cleanerCheckpointFile, end); err != nil {
		return storageErr("write cleaner checkpoint", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cleanerCp = end
	l.tombstoneHorizon = minHorizon
	return nil
}

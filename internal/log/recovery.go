package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Open opens the log in dir, creating the directory if needed, and makes
// it consistent:
//
//   - the cleaner's interrupted swaps are completed (cleaner_swap.go);
//   - leftovers go: *.deleted, *.tmp and *.cleaned files, index files
//     without a .log;
//   - after an unclean shutdown (!opts.CleanShutdown), every segment from
//     the one holding the recovery point to the last is scanned: each batch
//     must parse, lie within the file, pass its CRC, and start exactly at
//     the previous batch's next offset (the segment's base for the first),
//     ending at or below the next segment's base; each segment must start
//     where the previous one ends. Offsets are dense, so this also catches
//     damage to the base offset field, which the CRC does not cover. The
//     file is truncated at the first bad batch and all later segments are
//     deleted; indexes and the epoch cache are rebuilt from the batches;
//     then the recovered data is fsynced. (The leader epoch field is not
//     covered by the CRC either and cannot be checked.)
//   - after a clean shutdown the files are trusted, but index files are
//     checked (size, order, ranges) and rebuilt when bad, and the tail of
//     the active segment after its last index entry is scanned as above.
//     If that fails, or the recovery point on disk is not the log end
//     offset (so the log was not closed cleanly after all), the log is
//     recovered as after an unclean shutdown;
//   - closed segments below the recovery point only have the last entry
//     of their time index read; their indexes load on first use.
//
// A read error fails Open with ErrStorage; it never causes truncation.
func Open(dir string, cfg Config, opts Options) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	l := &Log{
		dir: dir, fs: opts.FS, now: opts.Now, logger: opts.Logger,
		maxDecompressed: opts.MaxDecompressedBytes, cfg: cfg, tombstoneHorizon: -1,
	}
	l.retentionUpperBound.Store(math.MaxInt64)
	l.resetProducersLocked()
	if err := l.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, storageErr("create "+dir, err)
	}
	if err := l.recoverCleanerFiles(); err != nil {
		return nil, err
	}
	bases, err := l.cleanDir()
	if err != nil {
		return nil, storageErr("list "+dir, err)
	}
	cp := l.readCheckpoints()
	if l.prod.snapshots, err = l.listSnapshots(); err != nil {
		return nil, err
	}
	err = l.load(bases, opts.CleanShutdown, cp)
	if err == nil {
		err = l.loadProducersLocked(l.trustedAtOpen, cp.rp)
	}
	if err != nil {
		for _, s := range l.segs {
			s.file.Close()
		}
		if l.txns.file != nil {
			l.txns.file.Close()
		}
		return nil, err
	}
	l.lastFlush = l.now()
	return l, nil
}

// parseSegmentName splits "<20 digits><ext>".
func parseSegmentName(name string) (base int64, ext string, ok bool) {
	if len(name) <= baseDigits {
		return 0, "", false
	}
	ext = name[baseDigits:]
	if !slices.Contains(segmentExts[:], ext) {
		return 0, "", false
	}
	base, err := strconv.ParseInt(name[:baseDigits], 10, 64)
	if err != nil || base < 0 {
		return 0, "", false
	}
	return base, ext, true
}

// cleanDir removes leftovers and returns the base offsets of the segments,
// sorted.
func (l *Log) cleanDir() ([]int64, error) {
	entries, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return nil, err
	}
	logs := map[int64]bool{}
	var indexes []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		if strings.HasSuffix(name, deletedSuffix) || strings.HasSuffix(name, tmpSuffix) {
			if err := removeIfExists(l.fs, filepath.Join(l.dir, name)); err != nil {
				return nil, err
			}
			continue
		}
		base, ext, ok := parseSegmentName(name)
		switch {
		case !ok:
		case ext == logExt:
			logs[base] = true
		default:
			indexes = append(indexes, name)
		}
	}
	for _, name := range indexes {
		if base, _, _ := parseSegmentName(name); !logs[base] {
			if err := removeIfExists(l.fs, filepath.Join(l.dir, name)); err != nil {
				return nil, err
			}
		}
	}
	bases := make([]int64, 0, len(logs))
	for b := range logs {
		bases = append(bases, b)
	}
	slices.Sort(bases)
	return bases, nil
}

// checkpoints is what the small files of a log say.
type checkpoints struct {
	start     int64 // log start offset; 0 if unknown
	rp        int64 // recovery point; 0 if unknown
	fullScan  bool  // the epoch checkpoint is lost: rebuild it from every batch
	epochFile []byte
}

func (l *Log) readCheckpoints() checkpoints {
	var cp checkpoints
	var err error
	if cp.start, err = readOffsetFile(l.fs, l.dir, logStartOffsetFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.logger.Warn("log: ignoring unreadable log start offset", "dir", l.dir, "err", err)
	}
	l.persistedStart = cp.start
	if cp.rp, err = readOffsetFile(l.fs, l.dir, recoveryPointFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.logger.Warn("log: ignoring unreadable recovery point", "dir", l.dir, "err", err)
	}
	// A lost cleaner checkpoint only means the next pass maps everything.
	if l.cleanerCp, err = readOffsetFile(l.fs, l.dir, cleanerCheckpointFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.logger.Warn("log: ignoring unreadable cleaner checkpoint", "dir", l.dir, "err", err)
	}
	cp.epochFile, err = readSmallFile(l.fs, l.path(epochCheckpoint))
	if err == nil {
		l.epochs.entries, err = unmarshalEpochs(cp.epochFile)
	}
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			l.logger.Warn("log: leader epoch checkpoint unreadable; rebuilding it from the batches", "dir", l.dir, "err", err)
		}
		l.epochs.entries, cp.epochFile, cp.fullScan = nil, nil, true
	}
	return cp
}

// load opens the segments and recovers what needs recovery.
func (l *Log) load(bases []int64, clean bool, cp checkpoints) error {
	if len(bases) == 0 {
		s, err := createSegment(l.fs, l.dir, cp.start, l.logger, l.now())
		if err != nil {
			return storageErr("create first segment", err)
		}
		l.segs = []*segment{s}
		return l.finishLoad(cp, false)
	}
	for _, base := range bases {
		s, err := openSegment(l.fs, l.dir, base, l.logger)
		if err != nil {
			return storageErr("open segment", err)
		}
		l.segs = append(l.segs, s)
	}
	last := len(l.segs) - 1
	from := l.segmentForLocked(cp.rp)
	if clean {
		from = last
	}
	if cp.fullScan && l.hasDataLocked() {
		from = 0
	}
	for i, s := range l.segs[:from] {
		if s.size > math.MaxUint32 {
			from = i // positions would not fit the index: recovery cuts it
			break
		}
		s.next = l.segs[i+1].base
		if err := l.loadTrusted(s); err != nil {
			return err
		}
	}
	if from == last && clean && l.loadActiveClean(l.segs[last]) {
		if cp.rp == l.segs[last].next {
			return l.finishLoad(cp, false)
		}
		l.logger.Warn("log: recovery point is not the log end offset after a clean shutdown; recovering",
			"dir", l.dir, "offset", cp.rp, "end", l.segs[last].next)
		from = l.segmentForLocked(min(cp.rp, l.segs[last].next))
	}
	if err := l.recoverFrom(from); err != nil {
		return err
	}
	return l.finishLoad(cp, true)
}

func (l *Log) hasDataLocked() bool {
	for _, s := range l.segs {
		if s.size > 0 {
			return true
		}
	}
	return false
}

// loadTrusted prepares a closed segment below the recovery point: its max
// timestamp comes from the last time index entry; the indexes are rebuilt
// now if their files are missing or malformed, else loaded lazily.
func (l *Log) loadTrusted(s *segment) error {
	ts, rel, err := lastTimeEntry(l.fs, s.path(timeIndexExt))
	if err == nil {
		var st os.FileInfo
		if st, err = l.fs.Stat(s.path(indexExt)); err == nil && st.Size()%offsetEntrySize != 0 {
			err = fmt.Errorf("offset index of %d bytes", st.Size())
		}
	}
	if err == nil && ts >= 0 && s.base+rel >= s.next {
		err = fmt.Errorf("time index entry {%d, %d} beyond the segment", ts, rel)
	}
	if err == nil {
		s.ix.maxTs, s.ix.maxTsOffset = ts, s.base+rel
		return nil
	}
	l.logger.Warn("log: rebuilding segment indexes", "dir", l.dir, "segment", s.base, "err", err)
	ix, _, _ := rebuildIndexes(s.file, s.base, s.size, &l.cfg, l.logger, l.dir)
	ix.finish(s.base)
	s.ix, s.loaded = ix, true
	s.dirty.Store(true)
	return nil
}

// lastTimeEntry reads the last entry of a time index file; (-1, 0) for an
// empty one.
func lastTimeEntry(fsys FS, path string) (int64, int64, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	if st.Size()%timeEntrySize != 0 || st.Size() > maxIndexFile {
		return 0, 0, fmt.Errorf("time index of %d bytes", st.Size())
	}
	if st.Size() == 0 {
		return -1, 0, nil
	}
	var b [timeEntrySize]byte
	if err := readFullAt(f, b[:], st.Size()-timeEntrySize); err != nil {
		return 0, 0, err
	}
	ts := int64(binary.BigEndian.Uint64(b[:]))
	if ts < 0 {
		return 0, 0, fmt.Errorf("negative timestamp %d in time index", ts)
	}
	return ts, int64(binary.BigEndian.Uint32(b[8:])), nil
}

// loadActiveClean loads the active segment after a clean shutdown: index
// files must validate, and the batches after the last offset index entry
// must scan cleanly (CRC included) to the end of the file. It reports
// whether that worked; if not, the caller recovers the segment.
func (l *Log) loadActiveClean(s *segment) bool {
	idx, tidx, err := s.readIndexFiles(math.MaxUint32 + 1)
	if err != nil && !(errors.Is(err, fs.ErrNotExist) && s.size == 0) {
		l.logger.Warn("log: active segment indexes unusable; recovering it", "dir", l.dir, "segment", s.base, "err", err)
		return false
	}
	ix := indexSet{idx: idx, tidx: tidx, maxTs: -1, maxTsOffset: -1}
	if ts, rel, ok := tidx.last(); ok {
		ix.maxTs, ix.maxTsOffset = ts, s.base+int64(rel)
	}
	from, next := int64(0), s.base
	if n := idx.len(); n > 0 {
		rel, pos := idx.entry(n - 1)
		from, next = int64(pos), s.base+int64(rel)
	}
	sc := newScanner(s.file, from, s.size, true)
	for sc.next() {
		if sc.h.BaseOffset != next || sc.h.LastOffset()-s.base > math.MaxUint32 {
			sc.bad = fmt.Errorf("batch at position %d has base offset %d, expected %d", sc.pos, sc.h.BaseOffset, next)
			break
		}
		if sc.h.MaxTimestamp > ix.maxTs {
			ix.maxTs, ix.maxTsOffset = sc.h.MaxTimestamp, sc.h.BaseOffset
		}
		next = sc.h.NextOffset()
	}
	if err := sc.stopReason(); err != nil || (ix.maxTs >= 0 && ix.maxTsOffset >= next) {
		l.logger.Warn("log: active segment tail check failed; recovering it", "dir", l.dir, "segment", s.base,
			"offset", next, "err", err)
		return false
	}
	ix.sinceIndex = s.size - from
	s.ix, s.next, s.loaded = ix, next, true
	if s.size > 0 {
		s.rollClock = s.modTime
	}
	return true
}

// recoverFrom scans segments from index from on (see Open), truncating at
// the first bad batch and deleting every segment after it.
func (l *Log) recoverFrom(from int) error {
	l.epochs.truncateFromEnd(l.segs[from].base)
	prevNext := l.segs[from].base
	for i := from; i < len(l.segs); i++ {
		s := l.segs[i]
		if s.base != prevNext {
			l.logger.Warn("log: segment does not continue the one before it", "dir", l.dir, "segment", s.base, "offset", prevNext)
			return l.dropSegments(i)
		}
		limit := int64(math.MaxInt64)
		if i+1 < len(l.segs) {
			limit = l.segs[i+1].base
		}
		truncated, err := l.recoverSegment(s, limit)
		if err != nil {
			return err
		}
		prevNext = s.next
		if truncated {
			return l.dropSegments(i + 1)
		}
	}
	return nil
}

// recoverSegment rebuilds s from a full scan, truncating its file at the
// first batch that is bad or out of order. It reports whether it truncated.
func (l *Log) recoverSegment(s *segment, limit int64) (bool, error) {
	fileSize := s.size
	ix := newIndexSet()
	next := s.base
	sc := newScanner(s.file, 0, fileSize, true)
	for sc.next() {
		h := &sc.h
		switch {
		case h.BaseOffset != next:
			sc.bad = fmt.Errorf("base offset %d, expected %d", h.BaseOffset, next)
		case h.LastOffset()-s.base > math.MaxUint32 || sc.nextPos > math.MaxUint32:
			sc.bad = fmt.Errorf("batch at offset %d, position %d does not fit the segment's index", h.BaseOffset, sc.pos)
		case h.NextOffset() > limit:
			sc.bad = fmt.Errorf("batch ending at offset %d runs into the next segment at %d", h.NextOffset(), limit)
		}
		if sc.bad != nil {
			break
		}
		ix.add(s.base, h, sc.pos, &l.cfg)
		l.epochs.assign(h.LeaderEpoch, h.BaseOffset)
		next = h.NextOffset()
	}
	if sc.err != nil {
		return false, storageErr(fmt.Sprintf("recover segment %d of %s", s.base, l.dir), sc.err)
	}
	s.ix, s.next, s.loaded = ix, next, true
	s.dirty.Store(true)
	if s.size > 0 {
		s.rollClock = s.modTime
	}
	if sc.pos == fileSize {
		return false, nil
	}
	l.logger.Warn("log: truncating segment at first bad batch", "dir", l.dir, "segment", s.base, "offset", next,
		"position", sc.pos, "dropped_bytes", fileSize-sc.pos, "err", sc.bad)
	if err := s.file.Truncate(sc.pos); err != nil {
		return false, storageErr(fmt.Sprintf("truncate segment %d of %s", s.base, l.dir), err)
	}
	s.size = sc.pos
	return true, nil
}

// dropSegments deletes segments i and later during Open.
func (l *Log) dropSegments(i int) error {
	var err error
	for _, s := range l.segs[i:] {
		l.logger.Warn("log: deleting segment after a bad one", "dir", l.dir, "segment", s.base,
			"offset", s.base, "dropped_bytes", s.size)
		err = errors.Join(err, s.removeNow())
	}
	l.segs = l.segs[:i]
	if err != nil {
		return storageErr("delete segments after corruption", err)
	}
	return nil
}

// finishLoad sets the offsets from the loaded segments, reconciles the
// checkpoints with them, and after a recovery makes it durable.
func (l *Log) finishLoad(cp checkpoints, recovered bool) error {
	act := l.active()
	l.logEndOffset = act.next
	start := max(cp.start, l.segs[0].base)
	if start > l.logEndOffset {
		// Data up to the persisted start was lost (unflushed): offsets below
		// it are gone for good, so the log restarts there.
		l.logger.Warn("log: log start offset beyond the recovered log end; restarting the log there",
			"dir", l.dir, "offset", start, "end", l.logEndOffset)
		victims, err := l.truncateFullyLocked(start)
		for _, s := range victims {
			err = errors.Join(err, s.removeNow())
		}
		return err
	}
	l.setLogStart(start)
	if err := l.lowerCleanerCheckpointLocked(l.logEndOffset); err != nil {
		return err
	}
	l.epochs.truncateFromEnd(l.logEndOffset)
	l.epochs.truncateFromStart(l.logStartOffset)
	l.recoveryPoint = min(cp.rp, l.logEndOffset)
	l.modified = recovered
	l.trustedAtOpen = !recovered
	if recovered {
		if err := l.syncRecoveredLocked(); err != nil {
			return err
		}
	}
	// A missing checkpoint file is an empty cache: no need to write one.
	if !bytes.Equal(l.epochs.marshal(), cp.epochFile) && (len(l.epochs.entries) > 0 || len(cp.epochFile) > 0) {
		return l.writeEpochsLocked(true)
	}
	return nil
}

// syncRecoveredLocked fsyncs recovered segments and writes their index
// files, then moves the recovery point to the log end: the next unclean
// start need not scan them again.
func (l *Log) syncRecoveredLocked() error {
	act := l.active()
	for _, s := range l.segs {
		if !s.dirty.Load() {
			continue
		}
		if err := s.file.Sync(); err != nil {
			return storageErr(fmt.Sprintf("fsync segment %d of %s", s.base, l.dir), err)
		}
		if s == act {
			s.dirty.Store(false) // the active segment's index files are written when it closes
			continue
		}
		s.ix.finish(s.base)
		if err := s.writeIndexes(); err != nil {
			return storageErr(fmt.Sprintf("write indexes of segment %d of %s", s.base, l.dir), err)
		}
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		return storageErr("recover", err)
	}
	if err := writeOffsetFile(l.fs, l.dir, recoveryPointFile, l.logEndOffset); err != nil {
		return storageErr("write recovery point", err)
	}
	l.recoveryPoint, l.dirSynced = l.logEndOffset, true
	return nil
}

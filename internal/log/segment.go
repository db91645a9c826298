package log

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-db/strata/internal/record"
)

// File name parts of a segment: <20-digit base offset><ext>.
const (
	logExt        = ".log"
	indexExt      = ".index"
	timeIndexExt  = ".timeindex"
	deletedSuffix = ".deleted" // appended when a segment is retired; removed at the next Open
	baseDigits    = 20
)

var segmentExts = [...]string{logExt, indexExt, timeIndexExt}

func segmentFileName(base int64, ext string) string { return fmt.Sprintf("%020d%s", base, ext) }

// indexSet is the indexes of a segment plus the running state that extends
// them as batches are added.
type indexSet struct {
	idx         offsetIndex
	tidx        timeIndex
	maxTs       int64 // largest batch max timestamp; -1 if none
	maxTsOffset int64 // base offset of the batch where maxTs was first seen
	sinceIndex  int64 // bytes added since the last offset index entry (or the segment start)
}

func newIndexSet() indexSet { return indexSet{maxTs: -1, maxTsOffset: -1} }

// add accounts for the batch with header h written at pos of a segment with
// the given base. Entries are added to both indexes together (a time entry
// only if the max grew), or to neither when either is full: the offset
// index stays sparse but correct, and TruncateTo relies on every offset
// entry having its time entry.
func (x *indexSet) add(base int64, h *record.Header, pos int64, cfg *Config) {
	if h.MaxTimestamp > x.maxTs {
		x.maxTs, x.maxTsOffset = h.MaxTimestamp, h.BaseOffset
	}
	if x.sinceIndex > int64(cfg.IndexIntervalBytes) && x.idx.len() < cfg.offsetIndexCap() && x.tidx.len() < cfg.timeIndexCap() {
		x.idx.append(uint32(h.BaseOffset-base), uint32(pos))
		if x.maxTs >= 0 {
			x.tidx.maybeAppend(x.maxTs, uint32(x.maxTsOffset-base))
		}
		x.sinceIndex = 0
	}
	x.sinceIndex += int64(h.Size())
}

// full reports whether no more index entries fit.
func (x *indexSet) full(cfg *Config) bool {
	return x.idx.len() >= cfg.offsetIndexCap() || x.tidx.len() >= cfg.timeIndexCap()
}

// finish adds the final time index entry of a segment that stops being
// active, so that the last entry holds the segment's max timestamp.
func (x *indexSet) finish(base int64) {
	if x.maxTs >= 0 {
		x.tidx.maybeAppend(x.maxTs, uint32(x.maxTsOffset-base))
	}
}

// segment is one file of batches (.log) with its two indexes.
//
// Concurrency: size, next, ix (except idx/tidx of closed segments, see
// loadMu), rollClock and modTime are guarded by Log.mu: written under the
// write lock, read under either lock. The .log file is written only by the
// Log holding the write lock; ReadAt may run without any lock on a
// segment a reader holds a reference to (acquire/release).
type segment struct {
	base   int64
	dir    string
	fsys   FS
	file   File // opened O_RDWR|O_APPEND
	logger *slog.Logger

	size      int64     // bytes of whole batches; the file is longer only after a failed write awaiting repair
	next      int64     // offset after the last batch; for closed segments loaded without a scan, the next segment's base
	ix        indexSet  // idx and tidx of a closed segment may be unloaded until ensureLoaded
	rollClock time.Time // when the first batch was appended (segment.ms); zero while empty
	modTime   time.Time // last append; ages batches without timestamps for retention

	// dirty: the index files on disk do not match a closed segment's
	// indexes in memory; the next flush or Close writes them.
	dirty atomic.Bool

	// loadMu guards loaded and the lazy load of ix.idx/ix.tidx, which may
	// happen under Log.mu's read lock. Once loaded, they change only under
	// Log.mu's write lock.
	loadMu sync.Mutex
	loaded bool

	// refMu guards the reference count that keeps a retired segment's file
	// open while reads are in flight.
	refMu   sync.Mutex
	refs    int
	retired bool // files renamed to *.deleted
	expired bool // FileDeleteDelay passed (or the log closed)
	closed  bool
}

func (s *segment) path(ext string) string {
	p := filepath.Join(s.dir, segmentFileName(s.base, ext))
	if s.retired {
		p += deletedSuffix
	}
	return p
}

// createSegment creates an empty segment, replacing any stale files with
// the same base offset.
func createSegment(fsys FS, dir string, base int64, logger *slog.Logger, now time.Time) (*segment, error) {
	s := &segment{base: base, dir: dir, fsys: fsys, logger: logger, next: base, ix: newIndexSet(), loaded: true, modTime: now}
	for _, ext := range []string{indexExt, timeIndexExt} {
		if err := removeIfExists(fsys, s.path(ext)); err != nil {
			return nil, err
		}
	}
	f, err := fsys.OpenFile(s.path(logExt), os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	s.file = f
	return s, nil
}

// openSegment opens the .log file of an existing segment; its size is the
// file's size until recovery or loading says otherwise.
func openSegment(fsys FS, dir string, base int64, logger *slog.Logger) (*segment, error) {
	s := &segment{base: base, dir: dir, fsys: fsys, logger: logger, next: base, ix: newIndexSet()}
	f, err := fsys.OpenFile(s.path(logExt), os.O_RDWR|os.O_APPEND, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	s.file, s.size, s.modTime = f, st.Size(), st.ModTime()
	return s, nil
}

// readIndexFiles loads both index files and validates them against the
// segment's size and relative offsets below maxRel.
func (s *segment) readIndexFiles(maxRel int64) (offsetIndex, timeIndex, error) {
	ob, err := readSmallIndex(s.fsys, s.path(indexExt))
	if err != nil {
		return offsetIndex{}, timeIndex{}, err
	}
	tb, err := readSmallIndex(s.fsys, s.path(timeIndexExt))
	if err != nil {
		return offsetIndex{}, timeIndex{}, err
	}
	idx, tidx := offsetIndex{b: ob}, timeIndex{b: tb}
	if err := idx.validate(s.size, maxRel); err != nil {
		return idx, tidx, err
	}
	if err := tidx.validate(maxRel); err != nil {
		return idx, tidx, err
	}
	return idx, tidx, nil
}

// maxIndexFile bounds index files we load: segment.index.bytes is an int32.
const maxIndexFile = math.MaxInt32

func readSmallIndex(fsys FS, path string) ([]byte, error) {
	f, err := fsys.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > maxIndexFile {
		return nil, fmt.Errorf("%s: %d bytes", path, st.Size())
	}
	b := make([]byte, st.Size())
	return b, readFullAt(f, b, 0)
}

// ensureLoaded brings a closed segment's indexes into memory: from their
// files if they pass validation, else rebuilt from the .log file (without
// changing it: a bad tail in a trusted segment shows up as ErrCorruptData
// when read). Callers hold Log.mu (either lock).
func (s *segment) ensureLoaded(cfg *Config) {
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if s.loaded {
		return
	}
	idx, tidx, err := s.readIndexFiles(s.next - s.base)
	if err != nil {
		s.logger.Warn("log: rebuilding segment indexes", "dir", s.dir, "segment", s.base, "err", err)
		rebuilt, _, _ := rebuildIndexes(s.file, s.base, s.size, cfg, s.logger, s.dir)
		rebuilt.finish(s.base)
		idx, tidx = rebuilt.idx, rebuilt.tidx
		defer s.dirty.Store(true) // after the indexes are in place: flush reads them once it sees dirty
	}
	s.ix.idx, s.ix.tidx = idx, tidx
	s.loaded = true
}

// rebuildIndexes scans [0, size) of a segment file, verifying CRCs, and
// returns indexes for the valid prefix, the position where it ends and the
// offset after its last batch (base if none).
func rebuildIndexes(f File, base, size int64, cfg *Config, logger *slog.Logger, dir string) (indexSet, int64, int64) {
	ix := newIndexSet()
	sc := newScanner(f, 0, size, true)
	next := base
	for sc.next() {
		ix.add(base, &sc.h, sc.pos, cfg)
		next = sc.h.NextOffset()
	}
	if err := sc.stopReason(); err != nil {
		logger.Error("log: segment has an unreadable tail; indexes cover the prefix", "dir", dir, "segment", base,
			"offset", next, "position", sc.pos, "err", err)
	}
	return ix, sc.pos, next
}

// writeIndexes writes both index files from memory and fsyncs them. For a
// closed segment the caller holds Log.flushMu (the indexes cannot change);
// for the active one Log.mu's write lock.
func (s *segment) writeIndexes() error {
	s.loadMu.Lock() // orders this read after a lazy load's writes
	defer s.loadMu.Unlock()
	for _, f := range []struct {
		ext  string
		data []byte
	}{{indexExt, s.ix.idx.b}, {timeIndexExt, s.ix.tidx.b}} {
		if err := writeSynced(s.fsys, s.path(f.ext), f.data); err != nil {
			return err
		}
	}
	s.dirty.Store(false)
	return nil
}

func writeSynced(fsys FS, path string, data []byte) error {
	f, err := fsys.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	n, err := f.Write(data)
	if err == nil && n != len(data) {
		err = io.ErrShortWrite
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// acquire takes a reference that keeps the file open after the segment is
// retired. Callers hold Log.mu (either lock), so the segment is still live.
func (s *segment) acquire() {
	s.refMu.Lock()
	s.refs++
	s.refMu.Unlock()
}

// release drops a reference; the last one of an expired segment closes it.
func (s *segment) release() {
	s.refMu.Lock()
	s.refs--
	done := s.refs == 0 && s.expired && !s.closed
	s.closed = s.closed || done
	s.refMu.Unlock()
	if done {
		s.closeAndRemove()
	}
}

// retire renames the segment's files to *.deleted (a crash before they are
// removed leaves them for the next Open to delete). Caller holds
// Log.flushMu and has already taken the segment out of the log.
func (s *segment) retire() {
	s.refMu.Lock()
	defer s.refMu.Unlock()
	for _, ext := range segmentExts {
		from := s.path(ext)
		if err := s.fsys.Rename(from, from+deletedSuffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.logger.Warn("log: rename deleted segment file", "dir", s.dir, "segment", s.base, "err", err)
		}
	}
	s.retired = true
}

// expire marks the delete delay as over; the file closes now or when the
// last reader releases it.
func (s *segment) expire() {
	s.refMu.Lock()
	s.expired = true
	done := s.refs == 0 && !s.closed
	s.closed = s.closed || done
	s.refMu.Unlock()
	if done {
		s.closeAndRemove()
	}
}

func (s *segment) closeAndRemove() {
	if err := s.file.Close(); err != nil {
		s.logger.Warn("log: close deleted segment", "dir", s.dir, "segment", s.base, "err", err)
	}
	for _, ext := range segmentExts {
		if err := removeIfExists(s.fsys, s.path(ext)); err != nil {
			s.logger.Warn("log: remove deleted segment file", "dir", s.dir, "segment", s.base, "err", err)
		}
	}
}

// removeNow closes and deletes a segment nobody else can reach (during
// Open).
func (s *segment) removeNow() error {
	err := s.file.Close()
	for _, ext := range segmentExts {
		err = errors.Join(err, removeIfExists(s.fsys, s.path(ext)))
	}
	return err
}

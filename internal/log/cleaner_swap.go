package log

// Swapping a cleaned segment in for the segments it replaces, and finishing
// an interrupted swap at Open.
//
// The cleaned copy of segments [B, E) is written to <B>.log.cleaned (and
// .index.cleaned, .timeindex.cleaned) and fsynced. Then, under flushMu
// (no retention, truncation or flush meanwhile; appends and reads go on):
//
//  1. the index files, then the log file, are renamed from .cleaned to
//     .swap, and the directory is fsynced: the commit point. From here on
//     <B>.log.swap replaces every segment whose base is in [B, E);
//  2. the source segments' files are renamed to *.deleted (as retention
//     does) and the directory is fsynced, so no source and no renamed
//     result can both be seen after a crash;
//  3. under mu, the sources are replaced by the new segment in the segment
//     list (readers of the sources keep their files open until done);
//  4. the .swap files are renamed to their final names and the directory is
//     fsynced.
//
// Open deletes *.cleaned files and *.index.swap/*.timeindex.swap files; for
// each <B>.log.swap it scans the file (CRC, dense offsets from B) to find E,
// deletes the files of every segment with a base in [B, E) and the index
// files of B (rebuilt when loaded), and renames the swap to <B>.log.
//
// An error before the commit point removes the new files and leaves the
// log as it was. After it, the swap is carried through in memory whatever
// fails (the new segment is in use through its open file); the first error
// is reported, and files left with a .swap name are completed by the next
// Open.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// swapSuffix marks a committed cleaned segment awaiting its final name.
const swapSuffix = ".swap"

// cleanStep names the points of a swap where tests simulate a crash.
type cleanStep int

const (
	stepWritten        cleanStep = iota // .cleaned files complete
	stepCommitted                       // renamed to .swap, directory fsynced
	stepRetiredOne                      // the first source renamed to .deleted
	stepSourcesGone                     // every source renamed, directory fsynced
	stepSwapped                         // segment list replaced
	stepIndexesRenamed                  // index files have their final names, the log file not yet
	stepDone                            // everything renamed and fsynced
)

func swapPath(dir string, base int64, ext string) string {
	return filepath.Join(dir, segmentFileName(base, ext)+swapSuffix)
}

// swapIn replaces the segments of g with out (see above). hook (tests) may
// end it at any step as a crash would.
func (l *Log) swapIn(p *cleanPlan, g cleanGroup, out *cleanedSegment, hook func(cleanStep) error) error {
	if hook == nil {
		hook = func(cleanStep) error { return nil }
	}
	if err := hook(stepWritten); err != nil {
		return err
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	delay, err := l.sourcesInPlace(p, g)
	if err != nil {
		out.file.Close()
		removeCleaned(l.fs, l.dir, g.base)
		return err
	}
	if err := l.commitSwap(g.base); err != nil {
		out.file.Close()
		removeCleaned(l.fs, l.dir, g.base)
		for _, ext := range segmentExts {
			_ = removeIfExists(l.fs, swapPath(l.dir, g.base, ext))
		}
		return err
	}
	if err := hook(stepCommitted); err != nil {
		return err
	}
	var errs []error
	for i, s := range g.segs {
		s.retire()
		if i == 0 {
			if err := hook(stepRetiredOne); err != nil {
				return err
			}
		}
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		errs = append(errs, storageErr("swap cleaned segment", err))
	}
	if err := hook(stepSourcesGone); err != nil {
		return err
	}
	l.replaceSegments(g, out)
	if err := hook(stepSwapped); err != nil {
		return err
	}
	for _, ext := range []string{indexExt, timeIndexExt, logExt} {
		if ext == logExt {
			if err := hook(stepIndexesRenamed); err != nil {
				return err
			}
		}
		final := filepath.Join(l.dir, segmentFileName(g.base, ext))
		if err := l.fs.Rename(swapPath(l.dir, g.base, ext), final); err != nil {
			errs = append(errs, storageErr("rename swapped segment", err))
		}
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		errs = append(errs, storageErr("swap cleaned segment", err))
	}
	if err := hook(stepDone); err != nil {
		return err
	}
	l.expireAfter(g.segs, delay)
	return errors.Join(errs...)
}

// errGroupGone: retention deleted every segment of a group during the
// pass; there is nothing left to swap, and the pass goes on.
var errGroupGone = errors.New("log: cleaned segments were deleted meanwhile")

// sourcesInPlace checks, under mu, that g's segments are still in the log
// as the plan saw them and loads their indexes (loading reads the index
// files by name, which the swap renames). It returns the delete delay,
// errGroupGone if retention deleted all of them, or ErrCleanAborted if
// the log changed otherwise.
func (l *Log) sourcesInPlace(p *cleanPlan, g cleanGroup) (time.Duration, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	switch {
	case l.closed || l.truncations.Load() != p.gen:
		return 0, ErrCleanAborted
	case l.segs[0].base >= g.end:
		return 0, errGroupGone
	case l.sourceIndexLocked(g) < 0:
		return 0, ErrCleanAborted
	}
	for _, s := range g.segs {
		s.ensureLoaded(&l.cfg)
	}
	return l.cfg.FileDeleteDelay, nil
}

// sourceIndexLocked returns where g's segments start in l.segs, or -1 if
// they are not there in order.
func (l *Log) sourceIndexLocked(g cleanGroup) int {
	i := slices.Index(l.segs, g.segs[0])
	if i < 0 || i+len(g.segs) > len(l.segs) || !slices.Equal(l.segs[i:i+len(g.segs)], g.segs) {
		return -1
	}
	return i
}

// commitSwap renames the cleaned files of base to .swap, the log file
// last, and fsyncs the directory.
func (l *Log) commitSwap(base int64) error {
	for _, ext := range []string{indexExt, timeIndexExt, logExt} {
		if err := l.fs.Rename(cleanedPath(l.dir, base, ext), swapPath(l.dir, base, ext)); err != nil {
			return storageErr("commit cleaned segment", err)
		}
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		return storageErr("commit cleaned segment", err)
	}
	return nil
}

// replaceSegments puts out in the place of g's segments in the list.
func (l *Log) replaceSegments(g cleanGroup, out *cleanedSegment) {
	ns := &segment{
		base: out.base, dir: l.dir, fsys: l.fs, file: out.file, logger: l.logger,
		size: out.size, next: out.next, ix: out.ix, loaded: true, modTime: out.modTime,
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	i := l.sourceIndexLocked(g)
	if i < 0 {
		// flushMu kept every remover out since sourcesInPlace.
		panic(fmt.Sprintf("log: cleaner: sources of segment %d left the log during the swap", g.base))
	}
	l.segs = slices.Concat(l.segs[:i], []*segment{ns}, l.segs[i+len(g.segs):])
	l.modified, l.dirSynced = true, false
}

// recoverCleanerFiles runs at Open before anything else looks at the
// directory: it deletes what an interrupted pass wrote before its commit
// point and completes the swaps committed before a crash.
func (l *Log) recoverCleanerFiles() error {
	entries, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return storageErr("list "+l.dir, err)
	}
	var swaps []int64
	logs := map[int64]bool{}
	for _, e := range entries {
		name := e.Name()
		switch {
		case e.IsDir():
		case strings.HasSuffix(name, cleanedSuffix):
			if err := removeIfExists(l.fs, l.path(name)); err != nil {
				return storageErr("remove "+name, err)
			}
		case strings.HasSuffix(name, swapSuffix):
			base, ext, ok := parseSegmentName(strings.TrimSuffix(name, swapSuffix))
			switch {
			case ok && ext == logExt:
				swaps = append(swaps, base)
			case ok:
				if err := removeIfExists(l.fs, l.path(name)); err != nil {
					return storageErr("remove "+name, err)
				}
			}
		default:
			if base, ext, ok := parseSegmentName(name); ok && ext == logExt {
				logs[base] = true
			}
		}
	}
	if len(swaps) == 0 {
		return nil
	}
	slices.Sort(swaps)
	for _, base := range swaps {
		if err := l.completeSwap(base, logs); err != nil {
			return err
		}
	}
	if err := syncDir(l.fs, l.dir); err != nil {
		return storageErr("complete cleaner swap", err)
	}
	return nil
}

// completeSwap finishes the committed swap of <base>.log.swap.
func (l *Log) completeSwap(base int64, logs map[int64]bool) error {
	path := swapPath(l.dir, base, logExt)
	end, err := l.scanSwap(path, base)
	if err != nil {
		if errors.Is(err, ErrStorage) {
			return err
		}
		// Fsynced before it was committed, so this is damage after the
		// fact; the sources, if still there, are the better bet.
		l.logger.Error("log: dropping a damaged cleaned segment", "dir", l.dir, "segment", base, "err", err)
		return removeIfExists(l.fs, path)
	}
	for b := range logs {
		if b < base || b >= end {
			continue
		}
		for _, ext := range segmentExts {
			if err := removeIfExists(l.fs, l.path(segmentFileName(b, ext))); err != nil {
				return storageErr("remove replaced segment", err)
			}
		}
		delete(logs, b)
	}
	for _, ext := range []string{indexExt, timeIndexExt} {
		if err := removeIfExists(l.fs, l.path(segmentFileName(base, ext))); err != nil {
			return storageErr("remove replaced index", err)
		}
	}
	if err := l.fs.Rename(path, l.path(segmentFileName(base, logExt))); err != nil {
		return storageErr("complete cleaner swap", err)
	}
	logs[base] = true
	l.logger.Info("log: completed an interrupted cleaner swap", "dir", l.dir, "segment", base, "offset", end)
	return nil
}

// scanSwap checks a swap file batch by batch and returns the offset after
// its last batch.
func (l *Log) scanSwap(path string, base int64) (int64, error) {
	f, err := l.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return 0, storageErr("open "+path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, storageErr("stat "+path, err)
	}
	next := base
	sc := newScanner(f, 0, st.Size(), true)
	for sc.next() {
		if sc.h.BaseOffset != next {
			return 0, fmt.Errorf("batch at position %d has base offset %d, expected %d", sc.pos, sc.h.BaseOffset, next)
		}
		next = sc.h.NextOffset()
	}
	if sc.err != nil {
		return 0, storageErr("read "+path, sc.err)
	}
	if sc.bad != nil {
		return 0, sc.bad
	}
	return next, nil
}

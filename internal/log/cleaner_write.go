package log

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/strata-db/strata/internal/record"
)

// cleanedSuffix marks the files a pass is writing (<base>.log.cleaned and
// its indexes); Open deletes them.
const cleanedSuffix = ".cleaned"

// maxBatchDelta bounds the offset range of a batch the cleaner writes
// (lastOffsetDelta is an int32). A variable so that tests can make it
// small.
var maxBatchDelta int64 = math.MaxInt32

// cleanedSegment is the output of a group, written, fsynced and with its
// index files beside it, ready to swap in.
type cleanedSegment struct {
	base, next int64
	file       File // <base>.log.cleaned, opened like a segment file
	size       int64
	ix         indexSet
	modTime    time.Time
}

func cleanedPath(dir string, base int64, ext string) string {
	return filepath.Join(dir, segmentFileName(base, ext)+cleanedSuffix)
}

// groupStats counts what a group's rewrite did.
type groupStats struct {
	read, removed int64
	minHorizon    int64 // smallest delete horizon of a kept tombstone; -1 if none
}

// writeGroup writes the cleaned copy of group g: records at or above end
// are copied as they are, those below are filtered against the offset map.
func (c *Cleaner) writeGroup(ctx context.Context, l *Log, p *cleanPlan, g cleanGroup, end int64,
	producers map[int64]int64) (*cleanedSegment, groupStats, error) {
	f, err := l.fs.OpenFile(cleanedPath(l.dir, g.base, logExt), os.O_RDWR|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o644)
	if err != nil {
		return nil, groupStats{}, storageErr("create cleaned segment", err)
	}
	w := &groupWriter{
		c: c, ctx: ctx, l: l, p: p, end: end, producers: producers,
		out:   &cleanedSegment{base: g.base, next: g.end, file: f, ix: newIndexSet(), modTime: g.newModTime},
		buf:   bufio.NewWriterSize(f, scanChunk),
		next:  g.base,
		stats: groupStats{minHorizon: -1},
	}
	err = w.copyGroup(g)
	if err == nil {
		err = w.finish()
	}
	if err != nil {
		f.Close()
		removeCleaned(l.fs, l.dir, g.base)
		return nil, w.stats, err
	}
	return w.out, w.stats, nil
}

// removeCleaned deletes what writeGroup left for base (best effort: Open
// deletes leftovers too).
func removeCleaned(fsys FS, dir string, base int64) {
	for _, ext := range segmentExts {
		_ = removeIfExists(fsys, cleanedPath(dir, base, ext))
	}
}

func (w *groupWriter) copyGroup(g cleanGroup) error {
	for i, s := range g.segs {
		sc := newScanner(s.file, 0, g.sizes[i], true)
		next := s.base
		for sc.next() {
			if err := checkDense(&sc.h, &next); err != nil {
				return err
			}
			b, err := sc.batch()
			if err != nil {
				break
			}
			if err := w.c.thr.wait(w.ctx, len(b)); err != nil {
				return err
			}
			if err := w.add(b, &sc.h); err != nil {
				return err
			}
		}
		if err := w.l.scanError(s, sc); err != nil {
			return err
		}
		if next != g.ends[i] {
			return fmt.Errorf("%w: segment %d ends at %d, expected %d", ErrCorruptData, s.base, next, g.ends[i])
		}
	}
	if w.stale {
		return ErrCleanAborted
	}
	return w.coverTo(g.end)
}

// finish writes out the buffer, fsyncs the file and writes the index
// files (fsynced too).
func (w *groupWriter) finish() error {
	o := w.out
	if err := w.buf.Flush(); err != nil {
		return storageErr("write cleaned segment", err)
	}
	if w.next != o.next {
		panic(fmt.Sprintf("log: cleaned segment %d ends at %d, want %d", o.base, w.next, o.next))
	}
	if err := o.file.Sync(); err != nil {
		return storageErr("fsync cleaned segment", err)
	}
	o.ix.finish(o.base)
	for _, f := range []struct {
		ext  string
		data []byte
	}{{indexExt, o.ix.idx.b}, {timeIndexExt, o.ix.tidx.b}} {
		if err := writeSynced(w.l.fs, cleanedPath(w.l.dir, o.base, f.ext), f.data); err != nil {
			return storageErr("write cleaned indexes", err)
		}
	}
	return nil
}

// groupWriter writes the batches of a cleaned segment. Invariant: every
// offset below next is covered by a batch written out, and the batch being
// merged (open), if any, starts at next. Output batches cover whole input
// batches, so base offsets and batch ends stay where input batches had
// them.
type groupWriter struct {
	c         *Cleaner
	ctx       context.Context
	l         *Log
	p         *cleanPlan
	end       int64           // the offset map's end: batches from here on are copied
	producers map[int64]int64 // last batch of each idempotent producer in the map's range

	out     *cleanedSegment
	buf     *bufio.Writer
	next    int64
	epoch   int32 // of the last batch written (or the first read), for empty batches
	started bool  // a batch was read
	stale   bool  // a source changed under the pass: give up
	open    *merger
	stats   groupStats
}

// add processes one input batch, which starts at or after next.
func (w *groupWriter) add(b []byte, h *record.Header) error {
	if !w.started {
		w.epoch, w.started = h.LeaderEpoch, true
	}
	if h.BaseOffset >= w.end || h.Control() || h.Transactional() {
		return w.copyBatch(b, h)
	}
	raw := b
	if h.Compression() != record.CompressionNone {
		var err error
		if raw, err = record.Recompress(b, record.CompressionNone, w.l.maxDecompressed); err != nil {
			return fmt.Errorf("%w: batch at offset %d: %w", ErrCorruptData, h.BaseOffset, err)
		}
	}
	sum, err := w.summarize(raw, h)
	if err != nil {
		return err
	}
	unchanged := sum.removed == 0 && sum.horizon == h.DeleteHorizonMs()
	switch {
	case h.HasProducerID() && unchanged:
		return w.copyBatch(b, h)
	case h.HasProducerID() && sum.kept == 0 && w.producers[h.ProducerID] > h.BaseOffset:
		return nil // a later batch of the producer keeps its state
	case h.HasProducerID():
		return w.filterBatch(raw, h, sum)
	case sum.kept == 0:
		return nil // the range goes to a neighbouring batch
	}
	key := mergeKey{epoch: h.LeaderEpoch, codec: h.Compression(), logAppendTime: h.LogAppendTime()}
	if key.logAppendTime {
		key.appendTime = h.MaxTimestamp
	}
	if w.open != nil && !w.open.accepts(key, sum, h, w.mergeLimit()) {
		if err := w.coverTo(h.BaseOffset); err != nil {
			return err
		}
	}
	if w.open == nil {
		if h.LastOffset()-w.next > maxBatchDelta {
			if err := w.coverTo(h.BaseOffset); err != nil {
				return err
			}
		}
		if unchanged && w.next == h.BaseOffset {
			return w.copyBatch(b, h)
		}
		w.open = &merger{key: key, horizon: sum.horizon, base: w.next, baseTs: sum.horizon, maxTs: -1}
	}
	if err := w.forKept(raw, h, w.open.add); err != nil {
		return err
	}
	w.open.inputEnd = h.NextOffset()
	return nil
}

// mergeLimit is the most record bytes a merged batch takes.
func (w *groupWriter) mergeLimit() int { return max(w.p.cfg.MaxMessageBytes-record.HeaderSize, 0) }

// keptSummary is what filtering one batch would keep.
type keptSummary struct {
	kept, removed int
	keptBytes     int   // encoded size of the kept records, with room for any deltas
	horizon       int64 // delete horizon of the output batch: -1 unless a tombstone is kept
}

// summarize decides record by record what to keep of an uncompressed
// batch.
func (w *groupWriter) summarize(raw []byte, h *record.Header) (keptSummary, error) {
	s := keptSummary{horizon: -1}
	tombstones := 0
	err := record.ForEachStoredRecord(raw, w.l.maxDecompressed, func(r *record.Record) bool {
		w.stats.read++
		keep, tombstone := w.keep(r, record.RecordOffset(h, r), h.DeleteHorizonMs())
		if !keep {
			s.removed++
			w.stats.removed++
			return true
		}
		s.kept++
		s.keptBytes += record.RecordSize(r, math.MaxInt32, math.MinInt64)
		if tombstone {
			tombstones++
		}
		return true
	})
	if err != nil {
		return s, fmt.Errorf("%w: batch at offset %d: %w", ErrCorruptData, h.BaseOffset, err)
	}
	if tombstones > 0 {
		s.horizon = h.DeleteHorizonMs()
		if s.horizon < 0 {
			s.horizon = addMs(w.p.nowMs, w.p.cfg.DeleteRetention)
		}
		if w.stats.minHorizon < 0 || s.horizon < w.stats.minHorizon {
			w.stats.minHorizon = s.horizon
		}
	}
	return s, nil
}

// keep decides whether a record at offset off of a batch with the given
// delete horizon stays, and whether it is a tombstone.
func (w *groupWriter) keep(r *record.Record, off, horizon int64) (keep, tombstone bool) {
	if r.Key == nil {
		return false, false
	}
	latest := w.c.om.get(r.Key)
	if off >= w.p.firstDirty && latest < off {
		// Only a truncation (and new appends) under the pass can change
		// what the map was built from.
		if w.l.truncations.Load() == w.p.gen {
			panic(fmt.Sprintf("log: cleaner: record at offset %d in the mapped range is not in the offset map (latest %d)", off, latest))
		}
		w.stale = true
	}
	if latest > off {
		return false, false
	}
	if r.Value == nil {
		if horizon >= 0 && horizon <= w.p.nowMs {
			return false, false
		}
		return true, true
	}
	return true, false
}

// forKept calls fn for each record keep keeps, with its offset and stored
// timestamp (base timestamp plus delta, whatever the timestamp type).
func (w *groupWriter) forKept(raw []byte, h *record.Header, fn func(r *record.Record, off, ts int64)) error {
	oldHorizon := h.DeleteHorizonMs()
	err := record.ForEachStoredRecord(raw, w.l.maxDecompressed, func(r *record.Record) bool {
		off := record.RecordOffset(h, r)
		if keep, _ := w.keep(r, off, oldHorizon); keep {
			fn(r, off, h.BaseTimestamp+r.TimestampDelta)
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("%w: batch at offset %d: %w", ErrCorruptData, h.BaseOffset, err)
	}
	return nil
}

// filterBatch writes a batch with a producer id with only its kept
// records: base offset, offset range, producer fields and attributes stay.
func (w *groupWriter) filterBatch(raw []byte, h *record.Header, sum keptSummary) error {
	if err := w.coverTo(h.BaseOffset); err != nil {
		return err
	}
	spec := h.Spec()
	spec.BaseTimestamp, spec.MaxTimestamp = -1, -1
	if h.LogAppendTime() {
		spec.MaxTimestamp = h.MaxTimestamp
	}
	spec.SetDeleteHorizon(sum.horizon) // clears the flag for -1
	var recs []byte
	n := int32(0)
	err := w.forKept(raw, h, func(r *record.Record, off, ts int64) {
		if n == 0 && sum.horizon < 0 {
			spec.BaseTimestamp = ts
		}
		if !h.LogAppendTime() {
			spec.MaxTimestamp = max(spec.MaxTimestamp, ts)
		}
		recs = record.AppendRecord(recs, r, int32(off-h.BaseOffset), ts-spec.BaseTimestamp)
		n++
	})
	if err != nil {
		return err
	}
	out, err := record.BuildBatch(spec, n, recs)
	if err != nil {
		return err
	}
	return w.write(out)
}

// copyBatch writes an input batch as it is.
func (w *groupWriter) copyBatch(b []byte, h *record.Header) error {
	if err := w.coverTo(h.BaseOffset); err != nil {
		return err
	}
	return w.write(b)
}

// coverTo makes next reach x: it ends the merged batch at x (or, if its
// range would be too wide, where its last input ended) and fills what is
// left with empty batches.
func (w *groupWriter) coverTo(x int64) error {
	if m := w.open; m != nil {
		w.open = nil
		at := x
		if x-1-m.base > maxBatchDelta {
			at = m.inputEnd
		}
		b, err := m.build(at)
		if err != nil {
			return err
		}
		if err := w.write(b); err != nil {
			return err
		}
	}
	for w.next < x {
		span := min(x-w.next, maxBatchDelta+1)
		b, err := record.BuildBatch(record.BatchSpec{
			BaseOffset: w.next, LastOffsetDelta: int32(span - 1), LeaderEpoch: w.epoch,
			BaseTimestamp: -1, MaxTimestamp: -1, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
		}, 0, nil)
		if err != nil {
			return err
		}
		if err := w.write(b); err != nil {
			return err
		}
	}
	return nil
}

// write appends one output batch, which must start at next.
func (w *groupWriter) write(b []byte) error {
	h, err := record.ParseHeader(b)
	if err != nil || h.BaseOffset != w.next || h.Size() != len(b) {
		panic(fmt.Sprintf("log: cleaner writes a batch at %d (%v), next is %d", h.BaseOffset, err, w.next))
	}
	if err := w.c.thr.wait(w.ctx, len(b)); err != nil {
		return err
	}
	o := w.out
	o.ix.add(o.base, &h, o.size, &w.p.cfg)
	if _, err := w.buf.Write(b); err != nil {
		return storageErr("write cleaned segment", err)
	}
	o.size += int64(len(b))
	if o.size > math.MaxUint32 {
		return errors.New("cleaned segment beyond 4 GiB")
	}
	w.next = h.NextOffset()
	w.epoch = h.LeaderEpoch
	return nil
}

// mergeKey is what plain batches must share to be merged.
type mergeKey struct {
	epoch         int32
	codec         record.Compression
	logAppendTime bool
	appendTime    int64 // the batch's max timestamp, for LogAppendTime
}

// merger collects the kept records of consecutive plain batches into one
// batch starting at base. Its records are encoded as they come, with
// deltas from base and baseTs (the delete horizon, or the first record's
// timestamp).
type merger struct {
	key      mergeKey
	horizon  int64 // -1: no tombstone; then later inputs must have none either
	base     int64
	inputEnd int64 // offset after the last input batch added (set by the writer)
	baseTs   int64
	maxTs    int64
	n        int32
	recs     []byte
}

// accepts reports whether the input batch with header h and summary sum
// may join.
func (m *merger) accepts(key mergeKey, sum keptSummary, h *record.Header, limit int) bool {
	return key == m.key && (sum.horizon < 0 || sum.horizon == m.horizon) &&
		len(m.recs)+sum.keptBytes <= limit && h.LastOffset()-m.base <= maxBatchDelta
}

func (m *merger) add(r *record.Record, off, ts int64) {
	if m.n == 0 && m.horizon < 0 {
		m.baseTs = ts
	}
	m.maxTs = max(m.maxTs, ts)
	m.recs = record.AppendRecord(m.recs, r, int32(off-m.base), ts-m.baseTs)
	m.n++
}

// build returns the merged batch, ending just before offset end.
func (m *merger) build(end int64) ([]byte, error) {
	if end < m.inputEnd || end-1-m.base > math.MaxInt32 {
		panic(fmt.Sprintf("log: cleaner: merged batch at %d cannot end at %d (inputs end at %d)", m.base, end, m.inputEnd))
	}
	spec := record.BatchSpec{
		BaseOffset: m.base, LastOffsetDelta: int32(end - 1 - m.base), LeaderEpoch: m.key.epoch,
		Attributes: int16(m.key.codec), BaseTimestamp: m.baseTs, MaxTimestamp: m.maxTs,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
	}
	if m.key.logAppendTime {
		spec.MaxTimestamp = m.key.appendTime
		spec.Attributes |= attrLogAppendTime
	}
	spec.SetDeleteHorizon(m.horizon)
	return record.BuildBatch(spec, m.n, m.recs)
}

// attrLogAppendTime is the timestamp type bit of the batch attributes.
const attrLogAppendTime = 0x08

// addMs is t + d in milliseconds, saturating (delete.retention.ms may be
// Long.MAX_VALUE).
func addMs(t int64, d time.Duration) int64 {
	ms := d.Milliseconds()
	if t > math.MaxInt64-ms {
		return math.MaxInt64
	}
	return t + ms
}

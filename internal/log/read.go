package log

import (
	"fmt"

	"github.com/strata-db/strata/internal/record"
)

// maxReadAttempts bounds how often Read starts over because TruncateTo ran
// under it; the last attempt holds mu's read lock throughout, which
// truncation cannot pass, so a read always finishes.
const maxReadAttempts = 3

// Read returns whole batches starting with the batch that holds offset (or
// the first batch after it, across gaps), without any batch whose base
// offset is >= maxOffset (the caller's high watermark), at most maxBytes
// in total; with minOne the first batch is returned whole even if it is
// larger. The batches come from one segment, as in Kafka: a caller wanting
// more continues at the next offset. offset == LogEndOffset gives nothing;
// offset below the log start or above the log end gives
// ErrOffsetOutOfRange.
//
// Every returned batch's CRC is verified. A corrupt batch ends the read
// there; if it is the first one, the error wraps ErrCorruptData. The
// returned slice is the caller's.
//
// Read holds mu (read lock) only to find the segment and positions; the
// file is read without it, in one ReadAt when the offset index and maxBytes
// allow. Only a read that lost to concurrent truncations twice keeps the
// lock while it reads.
func (l *Log) Read(offset int64, maxBytes int, maxOffset int64, minOne bool) ([]byte, error) {
	return l.ReadWith(nil, offset, maxBytes, maxOffset, minOne)
}

// Alloc returns a buffer of length n for a read to fill. A read may take
// several and keep only the last (a window that had to grow); the caller
// owns them all, and may reuse them once it no longer needs what the read
// returned. Nil allocates with make.
type Alloc func(n int) []byte

// ReadWith is Read into buffers from alloc.
func (l *Log) ReadWith(alloc Alloc, offset int64, maxBytes int, maxOffset int64, minOne bool) ([]byte, error) {
	if alloc == nil {
		alloc = func(n int) []byte { return make([]byte, n) }
	}
	maxBytes = max(maxBytes, 0)
	for attempt := 1; ; attempt++ {
		final := attempt == maxReadAttempts
		if final {
			l.mu.RLock()
		}
		out, stale, err := l.readOnce(alloc, offset, maxBytes, maxOffset, minOne, final)
		if final {
			l.mu.RUnlock()
		}
		if !stale {
			if err != nil {
				return out, fmt.Errorf("log: read %s at offset %d: %w", l.dir, offset, err)
			}
			return out, nil
		}
	}
}

// readOnce plans and runs one read attempt. stale reports that a
// truncation ran meanwhile, so the result must be discarded. With locked,
// the caller holds mu's read lock for the whole attempt.
func (l *Log) readOnce(alloc Alloc, offset int64, maxBytes int, maxOffset int64, minOne, locked bool) (out []byte, stale bool, err error) {
	var p readPlan
	if locked {
		p, err = l.planReadLocked(offset, maxBytes)
	} else {
		p, err = l.planRead(offset, maxBytes)
	}
	if err != nil || p.seg == nil {
		return nil, false, err
	}
	out, err = p.read(alloc, offset, int64(maxBytes), maxOffset, minOne)
	p.seg.release()
	if l.truncations.Load() != p.gen {
		return nil, true, nil
	}
	if err != nil && !locked && l.isClosed() {
		return nil, false, ErrClosed // Close closed the file under us
	}
	return out, false, err
}

func (l *Log) isClosed() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.closed
}

// readPlan is where a read goes, found under mu.
type readPlan struct {
	seg   *segment // referenced; the caller releases it
	from  int64    // position of the offset index entry to scan from
	end   int64    // segment size: nothing past it is committed
	first int64    // bytes for the first ReadAt
	gen   uint64   // truncation count the plan is valid for
}

func (l *Log) planRead(offset int64, maxBytes int) (readPlan, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.planReadLocked(offset, maxBytes)
}

func (l *Log) planReadLocked(offset int64, maxBytes int) (readPlan, error) {
	if l.closed {
		return readPlan{}, ErrClosed
	}
	if offset < l.logStartOffset || offset > l.logEndOffset {
		return readPlan{}, fmt.Errorf("%w: offset %d not in [%d, %d] of %s",
			ErrOffsetOutOfRange, offset, l.logStartOffset, l.logEndOffset, l.dir)
	}
	for i := l.segmentForLocked(offset); i < len(l.segs); i++ {
		s := l.segs[i]
		if s.size == 0 || offset >= l.segEndLocked(i) {
			continue
		}
		s.ensureLoaded(&l.cfg)
		// The batch holding offset starts in [from, to); read that span
		// plus maxBytes so the usual case needs one ReadAt.
		from, to := s.ix.idx.bounds(offset-s.base, s.size)
		want := min(int64(max(maxBytes, record.HeaderSize)), s.size)
		s.acquire()
		return readPlan{seg: s, from: from, end: s.size, first: min(s.size-from, to-from+want), gen: l.truncations.Load()}, nil
	}
	return readPlan{}, nil
}

// read executes the plan without locks.
func (p *readPlan) read(alloc Alloc, offset, maxBytes, maxOffset int64, minOne bool) ([]byte, error) {
	w := readWindow{f: p.seg.file, end: p.end, alloc: alloc}
	if _, err := w.get(p.from, p.from+p.first, p.from, 0); err != nil {
		return nil, err
	}
	hint := maxBytes + record.HeaderSize
	pos := p.from
	// A batch is skipped on the word of its header, which only its CRC
	// vouches for. A skipped batch that fails its CRC is harmless if the
	// scan then stops at a batch holding offset; if it stops past offset,
	// a damaged offset delta may have carried it over the records asked
	// for, and the read fails rather than silently skip them. (The bytes
	// are almost always in the window already: between two index entries.)
	var skippedCorrupt error
	for { // skip to the batch holding offset
		if pos >= p.end {
			return nil, skippedCorrupt
		}
		h, err := w.header(pos, pos, hint)
		if err != nil {
			return nil, err
		}
		if h.NextOffset() > offset {
			if skippedCorrupt != nil && h.BaseOffset > offset {
				return nil, skippedCorrupt
			}
			break
		}
		if skippedCorrupt == nil {
			b, err := w.get(pos, pos+int64(h.Size()), pos, hint)
			if err != nil {
				return nil, err
			}
			if _, err := record.Verify(b); err != nil {
				skippedCorrupt = corruptAt(err, pos)
			}
		}
		pos += int64(h.Size())
	}
	start, total := pos, int64(0)
	for pos < p.end {
		h, err := w.header(pos, start, maxBytes)
		if err == nil && h.BaseOffset >= maxOffset {
			break
		}
		if err == nil && total+int64(h.Size()) > maxBytes && (total > 0 || !minOne) {
			break
		}
		if err == nil {
			var b []byte
			if b, err = w.get(pos, pos+int64(h.Size()), start, maxBytes); err == nil {
				_, err = record.Verify(b)
				err = corruptAt(err, pos)
			}
		}
		if err != nil {
			if total == 0 {
				return nil, err
			}
			break // return the good batches before it
		}
		total += int64(h.Size())
		pos += int64(h.Size())
	}
	if total == 0 {
		return nil, nil
	}
	return w.get(start, start+total, start, 0)
}

func corruptAt(err error, pos int64) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: batch at position %d: %w", ErrCorruptData, pos, err)
}

// readWindow buffers a span of a segment file for a read.
type readWindow struct {
	f     File
	end   int64 // never read at or past it
	alloc Alloc
	buf   []byte
	at    int64 // file position of buf[0]
}

// header parses the batch header at pos and checks that the batch lies
// within the committed end.
func (w *readWindow) header(pos, keep, hint int64) (record.Header, error) {
	if w.end-pos < record.HeaderSize {
		return record.Header{}, corruptAt(fmt.Errorf("%d bytes left, less than a header", w.end-pos), pos)
	}
	b, err := w.get(pos, pos+record.HeaderSize, keep, hint)
	if err != nil {
		return record.Header{}, err
	}
	h, err := record.ParseHeader(b)
	if err == nil && (int64(h.Size()) > w.end-pos || h.LastOffsetDelta < 0) {
		err = fmt.Errorf("batch of %d bytes, last offset delta %d, %d bytes left", h.Size(), h.LastOffsetDelta, w.end-pos)
	}
	return h, corruptAt(err, pos)
}

// get returns file bytes [from, to). When they are not buffered, the window
// is reloaded to cover [keep, max(to, keep+hint)) (capped at end; keep <=
// from), reusing the bytes it already has.
func (w *readWindow) get(from, to, keep, hint int64) ([]byte, error) {
	if from >= w.at && to <= w.at+int64(len(w.buf)) {
		return w.buf[from-w.at : to-w.at], nil
	}
	hi := min(max(to, keep+hint), w.end)
	nb := w.alloc(int(hi - keep))
	lo := keep
	if keep >= w.at && keep < w.at+int64(len(w.buf)) {
		lo += int64(copy(nb, w.buf[keep-w.at:]))
	}
	if lo < hi {
		if err := readFullAt(w.f, nb[lo-keep:], lo); err != nil {
			return nil, fmt.Errorf("%w: read at position %d: %w", ErrStorage, lo, err)
		}
	}
	w.buf, w.at = nb, keep
	return w.buf[from-keep : to-keep], nil
}

package log

import (
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/strata-db/strata/internal/record"
)

// scanChunk is how much of a segment file a scanner reads at a time.
const scanChunk = 64 << 10

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crcStart is where the CRC-covered part of a batch begins (attributes).
const crcStart = 21

// scanner walks the batches of a segment file between two positions,
// reading the file in chunks so memory stays bounded however large a
// (possibly corrupt) length field claims a batch is.
//
// next stops at the end, at the first batch that is malformed (bad is set:
// short header, bad magic or length, batch running past the end, negative
// lastOffsetDelta, CRC mismatch when verifying), or on a read error (err is
// set). A scanner is used by one goroutine.
type scanner struct {
	f      File
	end    int64 // exclusive limit of the scan
	verify bool  // check every batch's CRC

	pos     int64 // position of the current batch
	nextPos int64 // position of the batch after it
	h       record.Header

	buf []byte
	at  int64 // file position of buf[0]

	bad error // why the scan stopped before end; nil at a clean end
	err error // read error
}

func newScanner(f File, from, end int64, verify bool) *scanner {
	return &scanner{f: f, end: end, verify: verify, pos: from, nextPos: from}
}

// next advances to the next batch and reports whether there is one.
func (s *scanner) next() bool {
	if s.bad != nil || s.err != nil {
		return false
	}
	s.pos = s.nextPos
	left := s.end - s.pos
	if left == 0 {
		return false
	}
	if left < record.HeaderSize {
		s.bad = fmt.Errorf("%d bytes at the end, less than a batch header", left)
		return false
	}
	hdr, err := s.window(s.pos, record.HeaderSize)
	if err != nil {
		s.err = err
		return false
	}
	if s.h, err = record.ParseHeader(hdr); err != nil {
		s.bad = err
		return false
	}
	size := int64(s.h.Size())
	switch {
	case size > left:
		s.bad = fmt.Errorf("batch of %d bytes runs past the end (%d bytes left)", size, left)
		return false
	case s.h.LastOffsetDelta < 0:
		s.bad = fmt.Errorf("negative last offset delta %d", s.h.LastOffsetDelta)
		return false
	}
	if s.verify {
		if err := s.checkCRC(size); err != nil {
			return false
		}
	}
	s.nextPos = s.pos + size
	return true
}

// checkCRC verifies the CRC of the current batch chunk by chunk.
func (s *scanner) checkCRC(size int64) error {
	crc := uint32(0)
	for p, end := s.pos+crcStart, s.pos+size; p < end; {
		n := min(end-p, scanChunk)
		b, err := s.window(p, n)
		if err != nil {
			s.err = err
			return err
		}
		crc = crc32.Update(crc, castagnoli, b)
		p += n
	}
	if crc != s.h.CRC {
		s.bad = fmt.Errorf("%w: crc mismatch at base offset %d", record.ErrCorrupt, s.h.BaseOffset)
		return s.bad
	}
	return nil
}

// batch returns the bytes of the current batch; they are valid until the
// next call to next.
func (s *scanner) batch() ([]byte, error) {
	b, err := s.window(s.pos, int64(s.h.Size()))
	if err != nil {
		s.err = err
	}
	return b, err
}

// window returns file bytes [from, from+n), reading a new chunk if they are
// not buffered.
func (s *scanner) window(from, n int64) ([]byte, error) {
	if from >= s.at && from+n <= s.at+int64(len(s.buf)) {
		return s.buf[from-s.at : from-s.at+n], nil
	}
	size := min(max(n, scanChunk), s.end-from)
	if int64(cap(s.buf)) < size {
		s.buf = make([]byte, size)
	}
	s.buf = s.buf[:size]
	s.at = from
	if err := readFullAt(s.f, s.buf, from); err != nil {
		s.buf = s.buf[:0]
		return nil, fmt.Errorf("read at %d: %w", from, err)
	}
	return s.buf[:n], nil
}

// stopReason describes why a scan ended early, for logs and errors.
func (s *scanner) stopReason() error {
	return errors.Join(s.bad, s.err)
}

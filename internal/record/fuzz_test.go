package record_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/strata-db/strata/internal/record"
	"github.com/strata-db/strata/internal/record/recordtest"
)

// seedBatches are valid batches of every codec for the fuzz corpora.
func seedBatches() [][]byte {
	var seeds [][]byte
	small := sampleRecs()[:5]
	for _, c := range codecs {
		seeds = append(seeds, recordtest.Build(c, small...))
	}
	seeds = append(seeds,
		recordtest.BuildMarker(recordtest.Producer{ID: 1}, 10, false, 0, 5),
		recordtest.BuildWith(recordtest.BatchOptions{OffsetDeltas: []int32{1, 4}, LastOffsetDelta: 6}, small[:2]...))
	return seeds
}

// FuzzParseBatch: header parsing, verification and splitting never panic,
// and a batch that verifies splits into exactly itself.
func FuzzParseBatch(f *testing.F) {
	for _, b := range seedBatches() {
		f.Add(b)
		f.Add(append(bytes.Clone(b), b...))
		f.Add(b[:len(b)/2])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if size, err := record.BatchSize(b); err == nil && size < record.HeaderSize {
			t.Fatalf("BatchSize %d below the header size", size)
		}
		_, _ = record.ParseHeader(b)
		h, verr := record.Verify(b)
		var got [][]byte
		n, serr := record.Split(b, func(batch []byte, sh *record.Header) error {
			if sh.Size() != len(batch) {
				t.Fatalf("Split gave %d bytes for a batch of size %d", len(batch), sh.Size())
			}
			got = append(got, batch)
			return nil
		})
		if n < 0 || n > len(b) {
			t.Fatalf("Split consumed %d of %d bytes", n, len(b))
		}
		if verr != nil {
			return
		}
		if serr != nil || n != len(b) || len(got) != 1 || !bytes.Equal(got[0], b) || h.Size() != len(b) {
			t.Fatalf("verified batch split into %d batches, %d of %d bytes, err %v", len(got), n, len(b), serr)
		}
	})
}

// FuzzForEachRecord wraps arbitrary bytes into a batch two ways for each
// codec: as the (compressed) records section itself, which exercises the
// decompressors, and compressed by Compress, which hands the raw bytes to
// the record decoder. Neither may panic, yield more records than the
// header counts, or decode beyond the limit.
func FuzzForEachRecord(f *testing.F) {
	for _, b := range seedBatches() {
		f.Add(b[record.HeaderSize:], uint8(0), int32(5), int32(4), uint16(4096))
	}
	for _, c := range codecs {
		raw, _ := record.Decompress(c, recordtest.Build(c, sampleRecs()[:5]...)[record.HeaderSize:], 1<<20)
		f.Add(raw, uint8(c), int32(5), int32(4), uint16(4096))
	}
	f.Fuzz(func(t *testing.T, payload []byte, codec uint8, n, lastDelta int32, limit uint16) {
		c := record.Compression(codec % 5)
		maxSize := int(limit)
		check := func(batch []byte) {
			h, err := record.ParseHeader(batch)
			if err != nil {
				t.Fatalf("wrapped batch: %v", err)
			}
			count := 0
			err = record.ForEachStoredRecord(batch, maxSize, func(r *record.Record) bool {
				count++
				if len(r.Key)+len(r.Value) > maxSize && c != record.CompressionNone {
					t.Fatalf("record of %d bytes under a %d-byte limit", len(r.Key)+len(r.Value), maxSize)
				}
				return true
			})
			if count > max(int(h.NumRecords), 0) {
				t.Fatalf("%d records from a batch of %d", count, h.NumRecords)
			}
			_ = record.ValidateRecords(batch, maxSize)
			if err != nil && !errors.Is(err, record.ErrInvalid) && !errors.Is(err, record.ErrCorrupt) {
				t.Fatalf("unclassified error %v", err)
			}
		}
		check(wrap(c, n, lastDelta, payload))
		if out, err := record.Decompress(c, payload, maxSize); err == nil && len(out) > maxSize {
			t.Fatalf("Decompress returned %d bytes under a %d-byte limit", len(out), maxSize)
		}
		if enc, err := record.Compress(c, payload); err == nil {
			check(wrap(c, n, lastDelta, enc))
		} else {
			t.Fatalf("Compress: %v", err)
		}
	})
}

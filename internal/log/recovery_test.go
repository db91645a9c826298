package log

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// recoveryFixture is a log of several segments whose batches are known.
type recoveryFixture struct {
	dir  string
	cfg  Config
	want []stored
}

func newRecoveryFixture(t *testing.T, close bool) recoveryFixture {
	t.Helper()
	f := recoveryFixture{dir: t.TempDir(), cfg: testConfig()}
	f.cfg.SegmentBytes, f.cfg.IndexIntervalBytes = 2000, 200
	l, err := Open(f.dir, f.cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40; i++ {
		f.want = append(f.want, appendBatches(t, l, 1, 1+i%3, int64(1000+i), 40+i%5*10, int32(i/8))...)
	}
	if close {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	} else {
		abandon(l)
	}
	return f
}

// segmentBatches returns the batches of want stored in the segment with
// the given base, and the segment bases.
func (f recoveryFixture) segmentBatches(t *testing.T) (bases []int64, per map[int64][]stored) {
	t.Helper()
	per = map[int64][]stored{}
	matches, _ := filepath.Glob(filepath.Join(f.dir, "*"+logExt))
	for _, m := range matches {
		base, _, _ := parseSegmentName(filepath.Base(m))
		bases = append(bases, base)
	}
	for _, w := range f.want {
		seg := bases[0]
		for _, b := range bases {
			if b <= w.base {
				seg = b
			}
		}
		per[seg] = append(per[seg], w)
	}
	return bases, per
}

// reopenAndCheck opens the log and checks that exactly the first keep
// batches of want survived, byte for byte, with dense offsets.
func (f recoveryFixture) reopenAndCheck(t *testing.T, clean bool, keep int) *Log {
	t.Helper()
	l := openLog(t, f.dir, f.cfg, Options{CleanShutdown: clean})
	checkInvariants(t, l)
	wantEnd := int64(0)
	if keep > 0 {
		wantEnd = f.want[keep-1].last + 1
	}
	if got := l.LogEndOffset(); got != wantEnd {
		t.Fatalf("log end %d, want %d (%d batches)", got, wantEnd, keep)
	}
	sameBatches(t, readAll(t, l, 0), f.want[:keep])
	// The recovered log takes appends at the right offset.
	info, err := l.Append(batchOf(2, 5, 10, 0), 100, -1)
	if err != nil || info.FirstOffset != wantEnd {
		t.Fatalf("append after recovery: %+v, %v", info, err)
	}
	checkInvariants(t, l)
	return l
}

// batchAt returns the index in batches of the batch covering position pos
// of their segment, and the position where it starts.
func batchAt(batches []stored, pos int64) (int, int64) {
	start := int64(0)
	for i, b := range batches {
		if pos < start+int64(len(b.data)) {
			return i, start
		}
		start += int64(len(b.data))
	}
	return len(batches), start
}

func TestRecoverActiveSegmentDamage(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	type damage func(t *testing.T, path string, batches []stored) int // returns surviving batches of the segment
	for _, tc := range []struct {
		name   string
		clean  bool // Close before damaging and reopen as clean (tail damage only)
		damage damage
	}{
		{"flip random byte", false, func(t *testing.T, path string, batches []stored) int {
			data := readFile(t, path)
			for {
				pos := rng.Int64N(int64(len(data)))
				i, start := batchAt(batches, pos)
				if rel := pos - start; rel >= 12 && rel < 16 {
					continue // the leader epoch field is not covered by the CRC
				}
				data[pos] ^= byte(1 + rng.IntN(255))
				writeFile(t, path, data)
				return i
			}
		}},
		{"truncate mid-batch", false, func(t *testing.T, path string, batches []stored) int {
			data := readFile(t, path)
			i := rng.IntN(len(batches))
			_, start := batchAt(batches, 0)
			for _, b := range batches[:i] {
				start += int64(len(b.data))
			}
			cut := start + 1 + rng.Int64N(int64(len(batches[i].data))-1)
			writeFile(t, path, data[:cut])
			return i
		}},
		{"append garbage", false, func(t *testing.T, path string, batches []stored) int {
			garbage := make([]byte, 1+rng.IntN(500))
			for i := range garbage {
				garbage[i] = byte(rng.Uint32())
			}
			writeFile(t, path, append(readFile(t, path), garbage...))
			return len(batches)
		}},
		{"zero-fill tail", false, func(t *testing.T, path string, batches []stored) int {
			data := readFile(t, path)
			orig := bytes.Clone(data)
			n := 1 + rng.IntN(len(data))
			copy(data[len(data)-n:], make([]byte, n))
			writeFile(t, path, data)
			// Bytes that were zero already do not count as damage.
			first := len(data) - n
			for first < len(data) && orig[first] == 0 {
				first++
			}
			i, _ := batchAt(batches, int64(first))
			return i
		}},
		{"zero-extended after power loss", false, func(t *testing.T, path string, batches []stored) int {
			writeFile(t, path, append(readFile(t, path), make([]byte, 4096)...))
			return len(batches)
		}},
		{"whole file zeroed", false, func(t *testing.T, path string, batches []stored) int {
			writeFile(t, path, make([]byte, len(readFile(t, path))))
			return 0
		}},
		{"clean: garbage after the last batch", true, func(t *testing.T, path string, batches []stored) int {
			writeFile(t, path, append(readFile(t, path), bytes.Repeat([]byte{0x5a}, 100)...))
			return len(batches)
		}},
		{"clean: last batch cut short", true, func(t *testing.T, path string, batches []stored) int {
			data := readFile(t, path)
			writeFile(t, path, data[:len(data)-7])
			return len(batches) - 1
		}},
		{"clean: zero-extended", true, func(t *testing.T, path string, batches []stored) int {
			writeFile(t, path, append(readFile(t, path), make([]byte, 100)...))
			return len(batches)
		}},
		{"clean: last batch corrupt", true, func(t *testing.T, path string, batches []stored) int {
			data := readFile(t, path)
			data[len(data)-3] ^= 0x10
			writeFile(t, path, data)
			return len(batches) - 1
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newRecoveryFixture(t, tc.clean)
			bases, per := f.segmentBatches(t)
			active := bases[len(bases)-1]
			kept := tc.damage(t, segmentPath(f.dir, active), per[active])
			keep := len(f.want) - len(per[active]) + kept
			f.reopenAndCheck(t, tc.clean, keep)
		})
	}
}

func TestRecoverMiddleSegmentDropsLaterOnes(t *testing.T) {
	f := newRecoveryFixture(t, false)
	bases, per := f.segmentBatches(t)
	if len(bases) < 4 {
		t.Fatalf("fixture has %d segments", len(bases))
	}
	mid := bases[1]
	data := readFile(t, segmentPath(f.dir, mid))
	i, start := batchAt(per[mid], int64(len(data)/2))
	data[start+crcCoveredPos] ^= 1
	writeFile(t, segmentPath(f.dir, mid), data)
	keep := len(per[bases[0]]) + i
	l := f.reopenAndCheck(t, false, keep)
	for _, s := range l.Segments() {
		if s.BaseOffset > mid {
			t.Errorf("segment %d after the damaged one survived", s.BaseOffset)
		}
	}
	if e := l.LatestEpoch(); e != 100 {
		t.Errorf("latest epoch %d after appending with 100", e)
	}
}

// crcCoveredPos is a batch position inside the CRC-covered attributes.
const crcCoveredPos = 22

func TestRecoverHoleBetweenSegments(t *testing.T) {
	f := newRecoveryFixture(t, false)
	bases, per := f.segmentBatches(t)
	// Lose the tail of a closed segment at a batch boundary, as an
	// unflushed closed segment may after a power loss.
	seg := bases[1]
	batches := per[seg]
	size := int64(0)
	for _, b := range batches[:len(batches)-1] {
		size += int64(len(b.data))
	}
	if err := os.Truncate(segmentPath(f.dir, seg), size); err != nil {
		t.Fatal(err)
	}
	f.reopenAndCheck(t, false, len(per[bases[0]])+len(batches)-1)
}

func TestReopenClean(t *testing.T) {
	f := newRecoveryFixture(t, true)
	// Clean open trusts closed segments and loads their indexes lazily.
	l := openLog(t, f.dir, f.cfg, Options{CleanShutdown: true})
	for _, s := range l.segs[:len(l.segs)-1] {
		if s.loaded {
			t.Errorf("segment %d's index was loaded at open", s.base)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = f.reopenAndCheck(t, true, len(f.want))
	if e, end := l.EndOffsetForEpoch(2); e != 2 || end != f.want[24].base {
		t.Errorf("EndOffsetForEpoch(2) = (%d, %d), want (2, %d)", e, end, f.want[24].base)
	}
}

func TestReopenUncleanAfterFlush(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.SegmentBytes = 1000
	l, err := Open(dir, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := appendBatches(t, l, 30, 2, 0, 60, 1)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	want = append(want, appendBatches(t, l, 10, 2, 0, 60, 2)...)
	if err := l.FlushIfDue(); err != nil { // rolled segments only
		t.Fatal(err)
	}
	rp := l.RecoveryPoint()
	segs := l.Segments()
	if rp != segs[len(segs)-1].BaseOffset {
		t.Fatalf("recovery point %d, want the active base %d", rp, segs[len(segs)-1].BaseOffset)
	}
	abandon(l)
	l2 := openLog(t, dir, cfg, Options{})
	checkInvariants(t, l2)
	sameBatches(t, readAll(t, l2, 0), want)
	if l2.RecoveryPoint() != l2.LogEndOffset() {
		t.Fatalf("recovery point %d after recovery, log end %d", l2.RecoveryPoint(), l2.LogEndOffset())
	}
}

func TestRecoverBrokenIndexAndCheckpointFiles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		clean  bool
		break_ func(t *testing.T, dir string, bases []int64)
	}{
		{"offset index garbage", true, func(t *testing.T, dir string, bases []int64) {
			writeFile(t, filepath.Join(dir, segmentFileName(bases[0], indexExt)), bytes.Repeat([]byte{0xff}, 24))
		}},
		{"offset index odd size", true, func(t *testing.T, dir string, bases []int64) {
			writeFile(t, filepath.Join(dir, segmentFileName(bases[1], indexExt)), []byte{1, 2, 3})
		}},
		{"time index missing", true, func(t *testing.T, dir string, bases []int64) {
			os.Remove(filepath.Join(dir, segmentFileName(bases[0], timeIndexExt)))
		}},
		{"time index points beyond segment", true, func(t *testing.T, dir string, bases []int64) {
			writeFile(t, filepath.Join(dir, segmentFileName(bases[0], timeIndexExt)), []byte{0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0})
		}},
		{"active index garbage", true, func(t *testing.T, dir string, bases []int64) {
			writeFile(t, filepath.Join(dir, segmentFileName(bases[len(bases)-1], indexExt)), bytes.Repeat([]byte{7}, 16))
		}},
		{"all index files gone", false, func(t *testing.T, dir string, bases []int64) {
			for _, b := range bases {
				os.Remove(filepath.Join(dir, segmentFileName(b, indexExt)))
				os.Remove(filepath.Join(dir, segmentFileName(b, timeIndexExt)))
			}
		}},
		{"epoch checkpoint garbage", true, func(t *testing.T, dir string, bases []int64) {
			writeFile(t, filepath.Join(dir, epochCheckpoint), []byte("garbage"))
		}},
		{"recovery point garbage", false, func(t *testing.T, dir string, bases []int64) {
			writeFile(t, filepath.Join(dir, recoveryPointFile), []byte("x"))
		}},
		{"leftovers", true, func(t *testing.T, dir string, bases []int64) {
			writeFile(t, filepath.Join(dir, segmentFileName(99999, indexExt)), nil)
			writeFile(t, filepath.Join(dir, segmentFileName(5, logExt)+deletedSuffix), []byte("old"))
			writeFile(t, filepath.Join(dir, recoveryPointFile+tmpSuffix), []byte("0\n"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newRecoveryFixture(t, true)
			bases, _ := f.segmentBatches(t)
			tc.break_(t, f.dir, bases)
			l := f.reopenAndCheck(t, tc.clean, len(f.want))
			if e, end := l.EndOffsetForEpoch(2); e != 2 || end != f.want[24].base {
				t.Errorf("EndOffsetForEpoch(2) = (%d, %d), want (2, %d)", e, end, f.want[24].base)
			}
			// Offset and timestamp lookups work in every segment.
			for i := 0; i < len(f.want); i += 7 {
				w := f.want[i]
				b, err := l.Read(w.last, 1, 1<<62, true)
				if err != nil || !bytes.Equal(b, w.data) {
					t.Fatalf("Read(%d) = %d bytes, %v", w.last, len(b), err)
				}
				if off, _, ok, err := l.OffsetForTimestamp(maxTsOf(w.data)); err != nil || !ok || off > w.last {
					t.Fatalf("OffsetForTimestamp(%d) = %d, %v, %v", maxTsOf(w.data), off, ok, err)
				}
			}
			if m, _ := filepath.Glob(filepath.Join(f.dir, "*"+deletedSuffix)); len(m) != 0 {
				t.Errorf("leftover files remain: %v", m)
			}
			if _, err := os.Stat(filepath.Join(f.dir, segmentFileName(99999, indexExt))); !os.IsNotExist(err) {
				t.Errorf("orphan index file remains: %v", err)
			}
		})
	}
}

func TestRecoverLogStartBeyondEnd(t *testing.T) {
	f := newRecoveryFixture(t, false)
	end := f.want[len(f.want)-1].last + 1
	writeFile(t, filepath.Join(f.dir, logStartOffsetFile), []byte("0\n1000\n"))
	l := openLog(t, f.dir, f.cfg, Options{})
	if l.LogStartOffset() != 1000 || l.LogEndOffset() != 1000 || end >= 1000 {
		t.Fatalf("start %d, end %d", l.LogStartOffset(), l.LogEndOffset())
	}
	checkInvariants(t, l)
}

func TestEmptySegmentsAndDirs(t *testing.T) {
	dir := t.TempDir()
	l := openLog(t, dir, testConfig(), Options{})
	l.Close()
	l = openLog(t, dir, testConfig(), Options{CleanShutdown: true})
	if l.LogEndOffset() != 0 {
		t.Fatal("empty log has data")
	}
	abandon(l)
	l = openLog(t, dir, testConfig(), Options{})
	checkInvariants(t, l)
	// A zero-length segment left by a crash right after a roll.
	appendBatches(t, l, 3, 1, 0, 10, 0)
	abandon(l)
	writeFile(t, segmentPath(dir, 3), nil)
	l = openLog(t, dir, testConfig(), Options{})
	checkInvariants(t, l)
	if len(l.Segments()) != 2 || l.LogEndOffset() != 3 {
		t.Fatalf("segments %+v", l.Segments())
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

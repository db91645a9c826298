package log

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/record"
)

// TestConcurrentAppendReadRetention runs one appender against readers,
// retention, flushes and timestamp lookups (run it with -race). Readers
// check every batch they get against what the appender wrote.
func TestConcurrentAppendReadRetention(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	cfg := testConfig()
	cfg.SegmentBytes, cfg.IndexIntervalBytes, cfg.RetentionBytes = 4000, 300, 12000
	cfg.FileDeleteDelay = 5 * time.Millisecond
	l := openLog(t, t.TempDir(), cfg, Options{})

	var written sync.Map // base offset -> batch bytes
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	fail := func(err error) {
		select {
		case errs <- err:
		default:
		}
		done.Store(true)
	}

	wg.Add(1)
	go func() { // appender
		defer wg.Done()
		defer done.Store(true)
		rng := rand.New(rand.NewPCG(seed, 1))
		next := int64(0)
		for i := 0; i < 1500 && !done.Load(); i++ {
			b := batchOf(1+rng.IntN(4), int64(i), 20+rng.IntN(100), i)
			// Publish the batch as it will be stored before it can be read.
			want := bytes.Clone(b)
			record.SetBaseOffset(want, next)
			record.SetLeaderEpoch(want, int32(i/500))
			written.Store(next, want)
			info, err := l.Append(b, int32(i/500), -1)
			if err != nil || info.FirstOffset != next {
				fail(fmt.Errorf("append at %d: %+v, %v", next, info, err))
				return
			}
			next = info.LastOffset + 1
		}
	}()
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func(r int) { // reader
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(10+r)))
			for !done.Load() {
				start, end := l.LogStartOffset(), l.LogEndOffset()
				if end == start {
					continue
				}
				off := start + rng.Int64N(end-start)
				if err := checkRead(l, &written, off, 1+rng.IntN(3000)); err != nil {
					fail(err)
					return
				}
			}
		}(r)
	}
	wg.Add(1)
	go func() { // retention, flushes, lookups
		defer wg.Done()
		for !done.Load() {
			if _, err := l.EnforceRetention(); err != nil {
				fail(err)
				return
			}
			if err := l.FlushIfDue(); err != nil {
				fail(err)
				return
			}
			if _, _, _, err := l.OffsetForTimestamp(int64(rand.IntN(1500))); err != nil {
				fail(err)
				return
			}
			if _, _, _, err := l.MaxTimestamp(); err != nil {
				fail(err)
				return
			}
			l.Segments()
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkInvariants(t, l)
	if l.LogStartOffset() == 0 {
		t.Error("retention never ran")
	}
}

// checkRead reads at off and compares every batch with what was written.
func checkRead(l *Log, written *sync.Map, off int64, maxBytes int) error {
	b, err := l.Read(off, maxBytes, math.MaxInt64, true)
	if errors.Is(err, ErrOffsetOutOfRange) {
		return nil // retention moved the start meanwhile
	}
	if err != nil {
		return err
	}
	first := true
	_, err = record.Split(b, func(batch []byte, h *record.Header) error {
		if first && (h.BaseOffset > off || h.NextOffset() <= off) {
			return errors.New("first batch does not hold the offset read")
		}
		first = false
		w, ok := written.Load(h.BaseOffset)
		if !ok || !bytes.Equal(w.([]byte), batch) {
			return errors.New("batch differs from the one appended")
		}
		return nil
	})
	return err
}

// TestConcurrentTruncateAndRead truncates and appends while readers read
// (with -race): reads must never fail other than out of range, and always
// start with the batch holding the offset.
func TestConcurrentTruncateAndRead(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes, cfg.IndexIntervalBytes, cfg.FileDeleteDelay = 3000, 200, time.Millisecond
	l := openLog(t, t.TempDir(), cfg, Options{})
	var done atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer done.Store(true)
		for i := 0; i < 200; i++ {
			for j := 0; j < 10; j++ {
				if _, err := l.Append(batchOf(2, int64(i), 50, j), int32(i), -1); err != nil {
					errs <- err
					return
				}
			}
			if err := l.TruncateTo(l.LogEndOffset() - 7); err != nil {
				errs <- err
				return
			}
		}
	}()
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				end := l.LogEndOffset()
				if end == 0 {
					continue
				}
				off := rand.Int64N(end)
				b, err := l.Read(off, 500, math.MaxInt64, true)
				if errors.Is(err, ErrOffsetOutOfRange) {
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				if len(b) > 0 {
					h, _ := record.ParseHeader(b)
					if h.BaseOffset > off || h.NextOffset() <= off {
						errs <- fmt.Errorf("read at %d returned batch %d..%d", off, h.BaseOffset, h.LastOffset())
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkInvariants(t, l)
}

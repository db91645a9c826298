package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// newClient returns a kgo client seeded with addr, closed at cleanup.
// STRATA_TEST_LOG=debug turns on kgo's logging.
func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(addr), kgo.RetryTimeout(15 * time.Second)}
	if os.Getenv("STRATA_TEST_LOG") == "debug" {
		stamp := func() string { return time.Now().UTC().Format("15:04:05.000000 ") }
		base = append(base, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelDebug, stamp)))
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func newAdmin(t *testing.T, addr string) *kadm.Client {
	return kadm.NewClient(newClient(t, addr))
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func createTopic(t *testing.T, addr, name string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := newAdmin(t, addr).CreateTopic(testCtx(t, 10*time.Second), partitions, 1, configs, name)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", name, err, resp.Err)
	}
}

// seed returns a random source whose seed is logged so that a failure can
// be replayed (STRATA_CHAOS_SEED overrides it).
func seed(t *testing.T) *rand.Rand {
	t.Helper()
	s := rand.Uint64()
	if env := os.Getenv("STRATA_CHAOS_SEED"); env != "" {
		if _, err := fmt.Sscan(env, &s); err != nil {
			t.Fatalf("STRATA_CHAOS_SEED: %v", err)
		}
	}
	t.Logf("seed %d (replay with STRATA_CHAOS_SEED=%d)", s, s)
	return rand.New(rand.NewPCG(s, s))
}

// offsets is a partition -> offset map, e.g. log end offsets.
type offsets map[int32]int64

// endOffsets lists the log end offsets (high watermarks) of topic.
func endOffsets(t *testing.T, adm *kadm.Client, topic string) offsets {
	t.Helper()
	lo, err := adm.ListEndOffsets(testCtx(t, 10*time.Second), topic)
	return listed(t, "end", lo, err)
}

// startOffsets lists the log start offsets of topic.
func startOffsets(t *testing.T, adm *kadm.Client, topic string) offsets {
	t.Helper()
	lo, err := adm.ListStartOffsets(testCtx(t, 10*time.Second), topic)
	return listed(t, "start", lo, err)
}

func listed(t *testing.T, what string, lo kadm.ListedOffsets, err error) offsets {
	t.Helper()
	if err == nil {
		err = lo.Error()
	}
	if err != nil {
		t.Fatalf("list %s offsets: %v", what, err)
	}
	out := offsets{}
	lo.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// consumeRange reads every record of the given partitions from offset 0 up
// to (excluding) the given end offsets, and fails the test unless the
// offsets come back dense: 0, 1, ..., end-1, each exactly once.
func consumeRange(t *testing.T, addr, topic string, ends offsets) map[int32][]*kgo.Record {
	t.Helper()
	want := map[int32]kgo.Offset{}
	got := map[int32][]*kgo.Record{}
	remaining := 0
	for p, end := range ends {
		got[p] = nil
		if end > 0 {
			want[p] = kgo.NewOffset().At(0)
			remaining++
		}
	}
	if remaining == 0 {
		return got
	}
	cl := newClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: want}),
		kgo.FetchMaxWait(100*time.Millisecond))
	defer cl.Close()
	ctx := testCtx(t, 30*time.Second)
	for remaining > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consume %s: %d partitions not read to their end %v: %v", topic, remaining, ends, ctx.Err())
		}
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("fetch %s/%d: %v", topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			next := int64(len(got[r.Partition]))
			end := ends[r.Partition]
			switch {
			case r.Offset != next:
				t.Fatalf("partition %d: offsets not dense: got offset %d, want %d", r.Partition, r.Offset, next)
			case r.Offset >= end:
				t.Fatalf("partition %d: offset %d at or beyond the end offset %d", r.Partition, r.Offset, end)
			}
			got[r.Partition] = append(got[r.Partition], r)
			if r.Offset == end-1 {
				remaining--
			}
		})
	}
	return got
}

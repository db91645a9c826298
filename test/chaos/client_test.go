package chaos

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// offsets is a partition -> offset map, e.g. log end offsets.
type offsets map[int32]int64

// endOffsets lists the log end offsets (high watermarks) of topic.
func endOffsets(t *testing.T, adm *kadm.Client, topic string) offsets {
	t.Helper()
	lo, err := adm.ListEndOffsets(brokertest.Context(t, 10*time.Second), topic)
	return listed(t, "end", lo, err)
}

// startOffsets lists the log start offsets of topic.
func startOffsets(t *testing.T, adm *kadm.Client, topic string) offsets {
	t.Helper()
	lo, err := adm.ListStartOffsets(brokertest.Context(t, 10*time.Second), topic)
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
	cl := brokertest.Client(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: want}),
		kgo.FetchMaxWait(100*time.Millisecond))
	defer cl.Close()
	ctx := brokertest.Context(t, 30*time.Second)
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

package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// consumer reads a fixed set of partitions directly (no group), from the
// offsets the run started at, and records each record's end-to-end latency.
type consumer struct {
	cl *kgo.Client
	st *runState
}

// assignPartitions deals partitions to n consumers round-robin, each
// starting at the partition's end offset as listed before producing began.
func assignPartitions(parts []topicPartition, ends map[string]map[int32]int64, n int) []map[string]map[int32]kgo.Offset {
	out := make([]map[string]map[int32]kgo.Offset, n)
	for i := range out {
		out[i] = make(map[string]map[int32]kgo.Offset)
	}
	for i, tp := range parts {
		m := out[i%n]
		if m[tp.Topic] == nil {
			m[tp.Topic] = make(map[int32]kgo.Offset)
		}
		m[tp.Topic][tp.Partition] = kgo.NewOffset().At(ends[tp.Topic][tp.Partition])
	}
	return out
}

func newConsumer(cfg *RunConfig, st *runState, assigned map[string]map[int32]kgo.Offset) (*consumer, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Bootstrap...),
		kgo.ConsumePartitions(assigned),
		// A short max wait bounds how long an idle partition's fetch
		// holds a connection; data is returned as soon as it arrives
		// either way (min bytes 1).
		kgo.FetchMaxWait(500 * time.Millisecond),
	}, cfg.ClientOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("bench: consumer client: %w", err)
	}
	return &consumer{cl: cl, st: st}, nil
}

// run polls until ctx ends.
func (c *consumer) run(ctx context.Context) {
	for {
		fs := c.cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		fs.EachError(func(t string, p int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			c.st.consumeErrs.Add(1)
			c.st.noteErr(fmt.Errorf("fetch %s/%d: %w", t, p, err))
		})
		now := c.st.now()
		inWin := c.st.inWindow(now)
		var bytes uint64
		fs.EachRecord(func(r *kgo.Record) {
			c.st.consumed.Add(1)
			if len(r.Value) < stampBytes {
				c.st.foreign.Add(1)
				return
			}
			sent := time.Duration(binary.BigEndian.Uint64(r.Value))
			if c.st.inWindow(sent) {
				c.st.e2e.RecordDuration(now - sent)
			}
			bytes += uint64(len(r.Key) + len(r.Value))
		})
		if inWin {
			c.st.consumedBytesInWin.Add(bytes)
		}
	}
}

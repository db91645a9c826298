package faults

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// history is everything the clients were told: which records were
// acknowledged at which offsets, and what each read returned. Safe for
// concurrent use.
type history struct {
	mu      sync.Mutex
	acked   map[int32][]ack            // per partition, in acknowledgement order
	failed  map[string]int             // produced but not acknowledged (may or may not be in the log), by error
	reads   map[int32]map[int64]string // every offset any consumer read, and its value
	reused  []string                   // an offset read with two different values
	nreads  int                        // records read, re-reads included
	fetchEr map[string]int             // fetch errors by text
}

type ack struct {
	offset int64
	value  string
}

func newHistory() *history {
	return &history{acked: map[int32][]ack{}, reads: map[int32]map[int64]string{}, fetchEr: map[string]int{}, failed: map[string]int{}}
}

func (h *history) ackedCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, a := range h.acked {
		n += len(a)
	}
	return n
}

// read records that a consumer got value at offset of partition.
func (h *history) read(partition int32, offset int64, value string, who string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.nreads++
	m := h.reads[partition]
	if m == nil {
		m = map[int64]string{}
		h.reads[partition] = m
	}
	if prev, ok := m[offset]; ok && prev != value {
		h.reused = append(h.reused, fmt.Sprintf("partition %d offset %d read as %q and, by %s, as %q", partition, offset, prev, who, value))
		return
	}
	m[offset] = value
}

// producers writes records "W-S" (writer W, sequence S) with idempotent
// acks=all kgo clients, writer W sending sequence S to partition S mod
// partitions, so that within a partition each writer's sequences must
// appear in increasing order.
type producers struct {
	h       *history
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	clients []*kgo.Client
}

func startProducers(t *testing.T, seeds []string, h *history, topic string, partitions int32, writers int) *producers {
	ctx, cancel := context.WithCancel(context.Background())
	ps := &producers{h: h, cancel: cancel}
	for w := range writers {
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.RequiredAcks(kgo.AllISRAcks()), // idempotent: kgo's default
			kgo.RecordDeliveryTimeout(2*time.Minute), kgo.MaxBufferedRecords(5000),
			kgo.ProduceRequestTimeout(3*time.Second), kgo.RequestTimeoutOverhead(2*time.Second),
			kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
			kgo.MetadataMinAge(100*time.Millisecond), kgo.ProducerLinger(time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		ps.clients = append(ps.clients, cl)
		ps.wg.Add(1)
		go func() {
			defer ps.wg.Done()
			for seq := 0; ctx.Err() == nil; seq++ {
				p := int32(seq % int(partitions))
				r := &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%d-%d", w, seq)}
				cl.Produce(ctx, r, func(r *kgo.Record, err error) {
					h.mu.Lock()
					defer h.mu.Unlock()
					if err != nil {
						h.failed[err.Error()]++
						return
					}
					h.acked[r.Partition] = append(h.acked[r.Partition], ack{offset: r.Offset, value: string(r.Value)})
				})
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	t.Cleanup(func() {
		cancel()
		for _, cl := range ps.clients {
			cl.Close()
		}
	})
	return ps
}

// stop ends producing and waits for every record in flight to be
// acknowledged or to fail.
func (ps *producers) stop(timeout time.Duration) error {
	ps.cancel()
	ps.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for _, cl := range ps.clients {
		if err := cl.Flush(ctx); err != nil {
			return fmt.Errorf("flush: %w", err)
		}
	}
	return nil
}

// consumers are members of one consumer group reading the topic from its
// start and recording every record in the history.
type consumers struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startConsumers(t *testing.T, seeds []string, h *history, topic, group string, members int) *consumers {
	ctx, cancel := context.WithCancel(context.Background())
	cs := &consumers{cancel: cancel}
	for i := range members {
		cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond),
			kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(500*time.Millisecond),
			kgo.RequestTimeoutOverhead(2*time.Second), kgo.MetadataMinAge(250*time.Millisecond),
			kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
		if err != nil {
			t.Fatal(err)
		}
		who := fmt.Sprintf("group member %d", i)
		cs.wg.Add(1)
		go func() {
			defer cs.wg.Done()
			defer cl.Close() // leaves the group, committing what was polled
			for ctx.Err() == nil {
				fs := cl.PollFetches(ctx)
				fs.EachError(func(_ string, _ int32, err error) {
					if !errors.Is(err, context.Canceled) {
						h.mu.Lock()
						h.fetchEr[err.Error()]++
						h.mu.Unlock()
					}
				})
				fs.EachRecord(func(r *kgo.Record) { h.read(r.Partition, r.Offset, string(r.Value), who) })
			}
		}()
	}
	t.Cleanup(cs.stop)
	return cs
}

func (cs *consumers) stop() {
	cs.cancel()
	cs.wg.Wait()
}

// readAll reads every partition from its start up to end with a fresh,
// group-less consumer and returns what it read.
func readAll(seeds []string, topic string, end map[int32]int64, timeout time.Duration) (map[int32][]ack, error) {
	offsets := map[int32]kgo.Offset{}
	for p, e := range end {
		if e > 0 {
			offsets[p] = kgo.NewOffset().AtStart()
		}
	}
	out := map[int32][]ack{}
	if len(offsets) == 0 {
		return out, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := func() bool {
		for p, e := range end {
			if n := len(out[p]); e > 0 && (n == 0 || out[p][n-1].offset < e-1) {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out, fmt.Errorf("read to the end offsets %v: %w", end, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < end[r.Partition] {
				out[r.Partition] = append(out[r.Partition], ack{offset: r.Offset, value: string(r.Value)})
			}
		})
	}
	return out, nil
}

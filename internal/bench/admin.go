package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// adminTimeout bounds each administrative call (ping, create, delete, list).
const adminTimeout = 30 * time.Second

// admin wraps a kadm client on its own kgo client.
type admin struct {
	cl  *kgo.Client
	adm *kadm.Client
}

// dialAdmin checks that some bootstrap address accepts TCP connections (so
// an unreachable server is one plain error, not a client retrying until a
// timeout) and returns an admin client on it.
func dialAdmin(ctx context.Context, bootstrap []string, opts ...kgo.Opt) (*admin, error) {
	if err := reachable(ctx, bootstrap); err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(bootstrap...), kgo.RequestRetries(3)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("bench: client: %w", err)
	}
	a := &admin{cl: cl, adm: kadm.NewClient(cl)}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := a.adm.ListBrokers(pctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("bench: bootstrap %s does not answer Kafka requests: %w", strings.Join(bootstrap, ","), err)
	}
	return a, nil
}

func reachable(ctx context.Context, bootstrap []string) error {
	var errs []string
	d := net.Dialer{Timeout: 3 * time.Second}
	for _, addr := range bootstrap {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		errs = append(errs, err.Error())
	}
	return fmt.Errorf("bench: bootstrap %s unreachable: %s", strings.Join(bootstrap, ","), strings.Join(errs, "; "))
}

func (a *admin) close() { a.cl.Close() }

// randomSuffix names fresh topics so that runs never meet old data.
func randomSuffix() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// createTopics creates n topics of p partitions with replication factor 1
// and returns their names. It waits until every partition has a leader in
// Metadata, since some servers answer CreateTopics before that.
func (a *admin) createTopics(ctx context.Context, prefix string, n int, p int32) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	base := fmt.Sprintf("%s-%s", prefix, randomSuffix())
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("%s-%d", base, i)
	}
	resp, err := a.adm.CreateTopics(ctx, p, 1, nil, names...)
	if err != nil {
		return nil, fmt.Errorf("bench: create topics: %w", err)
	}
	if err := resp.Error(); err != nil {
		return nil, fmt.Errorf("bench: create topics: %w", err)
	}
	for {
		parts, err := a.partitions(ctx, names)
		if err == nil && len(parts) == n*int(p) {
			return names, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("bench: topics %s not ready: %w", base, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// topicPartition is one partition of one topic.
type topicPartition struct {
	Topic     string
	Partition int32
}

// partitions lists every partition of the topics, sorted, failing if a
// topic is unknown or a partition has no leader.
func (a *admin) partitions(ctx context.Context, topics []string) ([]topicPartition, error) {
	md, err := a.adm.Metadata(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("bench: metadata: %w", err)
	}
	var out []topicPartition
	for _, t := range topics {
		td, ok := md.Topics[t]
		if !ok || td.Err != nil {
			err := errors.New("not in metadata")
			if ok {
				err = td.Err
			}
			return nil, fmt.Errorf("bench: topic %s: %w", t, err)
		}
		for _, pd := range td.Partitions {
			if pd.Err != nil || pd.Leader < 0 {
				return nil, fmt.Errorf("bench: topic %s partition %d has no leader", t, pd.Partition)
			}
			out = append(out, topicPartition{t, pd.Partition})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out, nil
}

// endOffsets returns the next offset of every partition, where consumers
// start so they read exactly what this run produces. Retriable errors (a
// server still electing leaders for new partitions) are retried until
// adminTimeout.
func (a *admin) endOffsets(ctx context.Context, topics []string) (map[string]map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	for {
		out, err := a.listEndOffsets(ctx, topics)
		if err == nil || !kerr.IsRetriable(err) {
			return out, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (a *admin) listEndOffsets(ctx context.Context, topics []string) (map[string]map[int32]int64, error) {
	listed, err := a.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("bench: list end offsets: %w", err)
	}
	out := make(map[string]map[int32]int64)
	var firstErr error
	listed.Each(func(o kadm.ListedOffset) {
		if o.Err != nil && firstErr == nil {
			firstErr = fmt.Errorf("bench: end offset of %s/%d: %w", o.Topic, o.Partition, o.Err)
		}
		if out[o.Topic] == nil {
			out[o.Topic] = make(map[int32]int64)
		}
		out[o.Topic][o.Partition] = o.Offset
	})
	return out, firstErr
}

// prime writes one record of a single byte (too short to carry a stamp, so
// consumers skip it) to every partition and waits for the acknowledgements.
// A server's first append to a partition can cost more than the rest
// (files created, a leader-epoch checkpoint written and synced); priming
// keeps that one-off cost out of a steady-state measurement.
func prime(ctx context.Context, bootstrap []string, parts []topicPartition, opts ...kgo.Opt) error {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(bootstrap...), kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.NoCompression())}, opts...)...)
	if err != nil {
		return fmt.Errorf("bench: prime: %w", err)
	}
	defer cl.Close()
	var firstErr error
	var mu sync.Mutex
	for _, tp := range parts {
		r := &kgo.Record{Topic: tp.Topic, Partition: tp.Partition, Value: []byte{0}}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = fmt.Errorf("bench: prime %s/%d: %w", tp.Topic, tp.Partition, err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("bench: prime: %w", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return firstErr
}

// deleteTopics removes topics this package created.
func (a *admin) deleteTopics(ctx context.Context, topics []string) error {
	ctx, cancel := context.WithTimeout(ctx, adminTimeout)
	defer cancel()
	resp, err := a.adm.DeleteTopics(ctx, topics...)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return fmt.Errorf("bench: delete topics: %w", err)
	}
	return nil
}

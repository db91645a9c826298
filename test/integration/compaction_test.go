package integration

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-db/strata/internal/broker"
	"github.com/strata-db/strata/internal/broker/brokertest"
)

// TestCompaction writes 100,000 records over 1,000 keys, with tombstones,
// to a compacted topic whose cleaning is held back by min.compaction.lag.ms,
// then lets the cleaner run and reads the topic back from the start with
// kgo (and kcat, if installed): exactly the latest record of each key
// remains, at the offset it was written at; deleted keys remain as
// tombstones before delete.retention.ms and are gone after it; the log
// shrinks. Idempotent producers write batches the cleaner filters in
// place; plain ones write batches it merges.
func TestCompaction(t *testing.T) {
	b := brokertest.Start(t, func(c *broker.Config) {
		c.Static = map[string]string{"log.cleaner.backoff.ms": "50"}
	})
	adm := brokertest.Admin(t, b.KafkaAddr())
	for _, tc := range []struct {
		name           string
		idempotent     bool
		retentionMs    string
		tombstonesKept bool
	}{
		{"idempotent/tombstones-kept", true, "3600000", true},
		{"plain/tombstones-removed", false, "0", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := brokertest.Context(t, 3*time.Minute)
			topic := "compacted-" + fmt.Sprint(tc.idempotent)
			brokertest.CreateTopic(t, adm, topic, 1, map[string]*string{
				"cleanup.policy":            kadm.StringPtr("compact"),
				"segment.bytes":             kadm.StringPtr("1048576"),
				"segment.ms":                kadm.StringPtr("500"),
				"min.cleanable.dirty.ratio": kadm.StringPtr("0.01"),
				"delete.retention.ms":       kadm.StringPtr(tc.retentionMs),
				"min.compaction.lag.ms":     kadm.StringPtr("3600000"), // hold the cleaner back
			})
			opts := []kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(2 * time.Millisecond)}
			if !tc.idempotent {
				opts = append(opts, kgo.DisableIdempotentWrite())
			}
			cl := brokertest.Client(t, b.KafkaAddr(), opts...)
			latest := produceUpdates(ctx, t, cl, brokertest.Rand(t))
			time.Sleep(600 * time.Millisecond) // past segment.ms: the next append rolls
			sentinel := produce(ctx, t, cl, &kgo.Record{Key: []byte("sentinel"), Value: []byte("end")})
			latest["sentinel"] = sentinel

			before := partitionSize(ctx, t, adm, topic)
			if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
				{Op: kadm.SetConfig, Name: "min.compaction.lag.ms", Value: kadm.StringPtr("0")},
			}, topic); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			var diff string
			for {
				diff = compareCompacted(consumeUpTo(ctx, t, b.KafkaAddr(), topic, sentinel.Offset), latest, tc.tombstonesKept)
				if diff == "" {
					break
				}
				select {
				case <-ctx.Done():
					t.Fatalf("never compacted: %s", diff)
				case <-time.After(200 * time.Millisecond):
				}
			}
			compacted := time.Since(start)
			// The sizes are summed over the replicas, and each replica
			// cleans its own log: the followers may finish after the
			// leader the consumer read.
			after := partitionSize(ctx, t, adm, topic)
			for deadline := time.Now().Add(30 * time.Second); after*10 > before && time.Now().Before(deadline); {
				time.Sleep(200 * time.Millisecond)
				after = partitionSize(ctx, t, adm, topic)
			}
			t.Logf("100000 records over 1000 keys: %d bytes before cleaning, %d after, compacted within %v (every replica within %v)",
				before, after, compacted.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
			if after*10 > before {
				t.Fatalf("log shrank from %d to only %d bytes", before, after)
			}
			if diff := kcatCompare(ctx, t, b.KafkaAddr(), topic, latest, tc.tombstonesKept); diff != "" {
				t.Fatalf("kcat: %s", diff)
			}
		})
	}
}

// TestCompactedTopicRejectsKeylessRecords: as Kafka, a record without a key
// cannot be produced to a compacted topic.
func TestCompactedTopicRejectsKeylessRecords(t *testing.T) {
	b := brokertest.Start(t)
	adm := brokertest.Admin(t, b.KafkaAddr())
	ctx := brokertest.Context(t, 30*time.Second)
	brokertest.CreateTopic(t, adm, "keyed", 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact,delete")})
	for _, codec := range []kgo.CompressionCodec{kgo.NoCompression(), kgo.ZstdCompression()} {
		cl := brokertest.Client(t, b.KafkaAddr(), kgo.DefaultProduceTopic("keyed"), kgo.ProducerBatchCompression(codec),
			kgo.RecordRetries(0))
		err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("no key")}).FirstErr()
		if !errors.Is(err, kerr.InvalidRecord) {
			t.Fatalf("keyless record: %v, want INVALID_RECORD", err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// produceUpdates writes 100,000 records: 99,900 over 1,000 keys in random
// order (2% tombstones), then a tombstone for every key ending in 7. It
// returns the last record written for each key.
func produceUpdates(ctx context.Context, t *testing.T, cl *kgo.Client, rng interface{ IntN(int) int }) map[string]*kgo.Record {
	t.Helper()
	const total, keys = 100_000, 1_000
	recs := make([]*kgo.Record, 0, total)
	for i := range total - keys/10 {
		r := &kgo.Record{Key: fmt.Appendf(nil, "key-%03d", rng.IntN(keys))}
		if rng.IntN(100) >= 2 {
			r.Value = fmt.Appendf(nil, "value-%d", i)
		}
		recs = append(recs, r)
	}
	for k := 7; k < keys; k += 10 {
		recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "key-%03d", k)})
	}
	latest := map[string]*kgo.Record{}
	for chunk := range 10 {
		part := recs[chunk*total/10 : (chunk+1)*total/10]
		if err := cl.ProduceSync(ctx, part...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range recs {
		latest[string(r.Key)] = r
	}
	return latest
}

func produce(ctx context.Context, t *testing.T, cl *kgo.Client, r *kgo.Record) *kgo.Record {
	t.Helper()
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return r
}

func partitionSize(ctx context.Context, t *testing.T, adm *kadm.Client, topic string) int64 {
	t.Helper()
	dirs, err := adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	dirs.Each(func(d kadm.DescribedLogDir) {
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			if p.Topic == topic {
				size += p.Size
			}
		})
	})
	return size
}

// consumeUpTo reads the topic's partition 0 from the start up to and
// including offset last with a new kgo client.
func consumeUpTo(ctx context.Context, t *testing.T, addr, topic string, last int64) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(out) == 0 || out[len(out)-1].Offset < last {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume %s: %v", topic, err)
		}
		if errs := fs.Errors(); len(errs) > 0 {
			t.Fatalf("consume %s: %v", topic, errs)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// compareCompacted describes how got differs from the latest record of
// each key ("" if it does not): same offsets, timestamps, values and null
// values; tombstones present only if tombstonesKept.
func compareCompacted(got []*kgo.Record, latest map[string]*kgo.Record, tombstonesKept bool) string {
	seen := map[string]bool{}
	for _, r := range got {
		k := string(r.Key)
		w, ok := latest[k]
		switch {
		case !ok:
			return fmt.Sprintf("unexpected key %q at %d", k, r.Offset)
		case seen[k]:
			return fmt.Sprintf("key %q read twice (offset %d)", k, r.Offset)
		case r.Offset != w.Offset || !bytes.Equal(r.Value, w.Value) || (r.Value == nil) != (w.Value == nil):
			return fmt.Sprintf("key %q: offset %d value %q, want offset %d value %q", k, r.Offset, r.Value, w.Offset, w.Value)
		case r.Timestamp.UnixMilli() != w.Timestamp.UnixMilli():
			return fmt.Sprintf("key %q at %d: timestamp %d, want %d", k, r.Offset, r.Timestamp.UnixMilli(), w.Timestamp.UnixMilli())
		case r.Value == nil && !tombstonesKept:
			return fmt.Sprintf("tombstone of %q at %d still there", k, r.Offset)
		}
		seen[k] = true
	}
	for k, w := range latest {
		if !seen[k] && (w.Value != nil || tombstonesKept) {
			return fmt.Sprintf("%d records read; key %q (offset %d) missing", len(got), k, w.Offset)
		}
	}
	return ""
}

// kcatCompare reads the topic with kcat (librdkafka) and compares it like
// compareCompacted; it skips when kcat is not installed.
func kcatCompare(ctx context.Context, t *testing.T, addr, topic string, latest map[string]*kgo.Record, tombstonesKept bool) string {
	t.Helper()
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Log("kcat not installed; skipping the librdkafka check")
		return ""
	}
	out, err := exec.CommandContext(ctx, "kcat", "-C", "-b", addr, "-t", topic, "-p", "0", "-o", "beginning", "-e", "-q", "-J").Output()
	if err != nil {
		return fmt.Sprintf("kcat: %v", err)
	}
	var got []*kgo.Record
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m struct {
			Offset  int64   `json:"offset"`
			Ts      int64   `json:"ts"`
			Key     *string `json:"key"`
			Payload *string `json:"payload"`
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return fmt.Sprintf("kcat line %q: %v", sc.Text(), err)
		}
		r := &kgo.Record{Offset: m.Offset, Timestamp: time.UnixMilli(m.Ts)}
		if m.Key != nil {
			r.Key = []byte(*m.Key)
		}
		if m.Payload != nil {
			r.Value = []byte(*m.Payload)
		}
		got = append(got, r)
	}
	t.Logf("kcat read %d records", len(got))
	return compareCompacted(got, latest, tombstonesKept)
}

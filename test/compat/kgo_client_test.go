package compat

// franz-go as a client column of its own: kgo writes and reads the codec
// cells (so it checks itself, with the same data as every other client),
// and kgo with kadm drive the other scenarios.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestKgo(t *testing.T) {
	addr := serverAddr(t)
	c := client{
		name:    "kgo",
		opts:    binaryOpts,
		produce: kgoProduce,
		consume: func(t *testing.T, addr, topic string, _ map[int32]int64) map[pos]record {
			return kgoConsume(t, addr, topic, "")
		},
	}
	runClient(t, addr, c)
	runScenarios(t, addr, kgoScenarios(c))
	runGroupScenarios(t, addr, kgoGroups())
	runEOSScenarios(t, addr, eosClient{
		name:              "kgo",
		produceIdempotent: kgoProduceIdempotent,
		produceTxns:       kgoProduceTxns,
		consumeP0: func(t *testing.T, addr, topic string, readCommitted bool, n int) []record {
			recs, _ := kgoReadP0(t, addr, topic, readCommitted, n)
			return recs
		},
	})
}

// kgoProduceIdempotent writes recs to partition 0 with kgo's default
// (idempotent) producer.
func kgoProduceIdempotent(t *testing.T, addr, topic string, recs []record) {
	t.Helper()
	cl := brokertest.Client(t, addr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	defer cl.Close()
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = &kgo.Record{Key: r.Key, Value: r.Value, Partition: 0}
	}
	if err := cl.ProduceSync(brokertest.Context(t, 30*time.Second), krs...).FirstErr(); err != nil {
		t.Fatalf("kgo idempotent produce: %v", err)
	}
}

// kgoScenarios drives the non-codec scenarios through kgo and kadm.
func kgoScenarios(c client) scenarioClient {
	return scenarioClient{
		client:       c,
		produceP0:    kgoProduceP0,
		tooLarge:     func(err error) bool { return errors.Is(err, kerr.MessageTooLarge) },
		produceTimed: kgoProduceTimed,
		offsetForTime: func(t *testing.T, addr, topic string, ts time.Time) int64 {
			return kadmOffset(t, addr, topic, 0, func(ctx context.Context, adm *kadm.Client) (kadm.ListedOffsets, error) {
				return adm.ListOffsetsAfterMilli(ctx, ts.UnixMilli(), topic)
			})
		},
		readAt: kgoReadAt,
		listOffsets: func(t *testing.T, addr, topic string, p int32) (int64, int64) {
			first := kadmOffset(t, addr, topic, p, func(ctx context.Context, adm *kadm.Client) (kadm.ListedOffsets, error) {
				return adm.ListStartOffsets(ctx, topic)
			})
			last := kadmOffset(t, addr, topic, p, func(ctx context.Context, adm *kadm.Client) (kadm.ListedOffsets, error) {
				return adm.ListEndOffsets(ctx, topic)
			})
			return first, last
		},
		topics: &topicOps{
			create:   kadmCreateTopic,
			describe: kadmDescribeTopic,
			remove: func(t *testing.T, addr, topic string) error {
				resp, err := brokertest.Admin(t, addr).DeleteTopic(brokertest.Context(t, 10*time.Second), topic)
				if err != nil {
					return err
				}
				return resp.Err
			},
			exists: func(err error) bool { return errors.Is(err, kerr.TopicAlreadyExists) },
		},
		configs: &configOps{
			describe: kadmConfig,
			set: func(t *testing.T, addr, topic, key, value string) {
				t.Helper()
				resps, err := brokertest.Admin(t, addr).AlterTopicConfigs(brokertest.Context(t, 10*time.Second),
					[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: key, Value: &value}}, topic)
				var resp kadm.AlterConfigsResponse
				if err == nil {
					resp, err = resps.On(topic, nil)
				}
				if err == nil {
					err = resp.Err
				}
				if err != nil {
					t.Fatalf("kadm incremental alter %s of %s: %v", key, topic, err)
				}
			},
		},
	}
}

// kgoProduceP0 writes records to partition 0 and waits for their
// acknowledgements. The client-side batch limit is above the broker's so
// that the broker is the one to refuse a record that is too large.
func kgoProduceP0(t *testing.T, addr, topic string, recs []record) error {
	t.Helper()
	cl := brokertest.Client(t, addr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.DisableIdempotentWrite(), kgo.ProducerBatchMaxBytes(4<<20), kgo.RecordRetries(0))
	defer cl.Close()
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = &kgo.Record{Key: r.Key, Value: r.Value, Partition: 0}
		for _, h := range r.Headers {
			krs[i].Headers = append(krs[i].Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
	}
	return cl.ProduceSync(brokertest.Context(t, 30*time.Second), krs...).FirstErr()
}

// kgoReadAt reads the first record of partition 0 from offset.
func kgoReadAt(t *testing.T, addr, topic string, offset int64) (int64, record) {
	t.Helper()
	cl := brokertest.Client(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {0: kgo.NewOffset().At(offset)},
	}), kgo.FetchMaxWait(200*time.Millisecond))
	defer cl.Close()
	ctx := brokertest.Context(t, 30*time.Second)
	for {
		fs := cl.PollRecords(ctx, 1)
		if err := ctx.Err(); err != nil {
			t.Fatalf("kgo read %s from %d: %v", topic, offset, err)
		}
		fs.EachError(func(_ string, p int32, err error) { t.Fatalf("kgo fetch %s/%d: %v", topic, p, err) })
		if recs := fs.Records(); len(recs) > 0 {
			kr := recs[0]
			r := record{Key: kr.Key, Value: kr.Value}
			for _, h := range kr.Headers {
				r.Headers = append(r.Headers, header{h.Key, h.Value})
			}
			return kr.Offset, r
		}
	}
}

// kadmLister is one of kadm's offset listings.
type kadmLister func(ctx context.Context, adm *kadm.Client) (kadm.ListedOffsets, error)

// kadmOffset runs a kadm offsets listing and returns partition p's offset.
func kadmOffset(t *testing.T, addr, topic string, p int32, list kadmLister) int64 {
	t.Helper()
	listed, err := list(brokertest.Context(t, 10*time.Second), brokertest.Admin(t, addr))
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		t.Fatalf("kadm list offsets of %s: %v", topic, err)
	}
	o, ok := listed.Lookup(topic, p)
	if !ok {
		t.Fatalf("kadm list offsets of %s: no partition %d", topic, p)
	}
	return o.Offset
}

func kadmCreateTopic(t *testing.T, addr, topic string, partitions int32, configs map[string]string) error {
	t.Helper()
	cfg := make(map[string]*string, len(configs))
	for k, v := range configs {
		cfg[k] = &v
	}
	resp, err := brokertest.Admin(t, addr).CreateTopic(brokertest.Context(t, 10*time.Second), partitions, replicationFactor(), topicConfigs(cfg), topic)
	if err != nil {
		return err
	}
	return resp.Err
}

// kadmDescribeTopic lists all topics (a request for one topic could
// auto-create it) and returns the topic's partition count.
func kadmDescribeTopic(t *testing.T, addr, topic string) (int, bool) {
	t.Helper()
	tds, err := brokertest.Admin(t, addr).ListTopics(brokertest.Context(t, 10*time.Second))
	if err != nil {
		t.Fatalf("kadm list topics: %v", err)
	}
	td, ok := tds[topic]
	if !ok || td.Err != nil {
		return 0, false
	}
	return len(td.Partitions), true
}

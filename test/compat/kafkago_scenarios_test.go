package compat

// segmentio/kafka-go beyond the codecs: a Writer with a fixed partition,
// a Reader seeked with SetOffset, and the Client's ListOffsets,
// CreateTopics, DeleteTopics, Metadata, DescribeConfigs and
// IncrementalAlterConfigs.

import (
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func kafkagoScenarios(c client) scenarioClient {
	return scenarioClient{
		client: c,
		produceP0: func(t *testing.T, addr, topic string, recs []record) error {
			return kafkagoWriteSync(t, addr, topic, recs, nil)
		},
		tooLarge: func(err error) bool { return errors.Is(err, kafka.MessageSizeTooLarge) },
		produceTimed: func(t *testing.T, addr, topic string, recs []record, ts []time.Time) {
			if err := kafkagoWriteSync(t, addr, topic, recs, ts); err != nil {
				t.Fatalf("kafka-go write: %v", err)
			}
		},
		offsetForTime: func(t *testing.T, addr, topic string, ts time.Time) int64 {
			po := kafkagoListOffsets(t, addr, topic, kafka.TimeOffsetOf(0, ts))
			if len(po.Offsets) != 1 {
				t.Fatalf("kafka-go ListOffsets of %s at %v: offsets %v, want one", topic, ts, po.Offsets)
			}
			for off := range po.Offsets {
				return off
			}
			return 0
		},
		readAt: kafkagoReadAt,
		listOffsets: func(t *testing.T, addr, topic string, p int32) (int64, int64) {
			first := kafkagoListOffsets(t, addr, topic, kafka.FirstOffsetOf(int(p))).FirstOffset
			last := kafkagoListOffsets(t, addr, topic, kafka.LastOffsetOf(int(p))).LastOffset
			return first, last
		},
		topics:  kafkagoTopicOps,
		configs: kafkagoConfigOps,
	}
}

// kafkagoClient is a Client with a Transport of its own (so no cached
// metadata outlives a topic change), closed when the test ends.
func kafkagoClient(t *testing.T, addr string) *kafka.Client {
	transport := &kafka.Transport{}
	t.Cleanup(transport.CloseIdleConnections)
	return &kafka.Client{Addr: kafka.TCP(seeds(addr)...), Transport: transport, Timeout: 10 * time.Second}
}

// kafkagoWriteSync writes recs to partition 0, with timestamps ts unless
// nil, in one synchronous WriteMessages. Its batch limit is above the
// broker's so that the broker is the one to refuse a record that is too
// large. A single failed message's error is returned unwrapped from
// WriteErrors (which has no Unwrap).
func kafkagoWriteSync(t *testing.T, addr, topic string, recs []record, ts []time.Time) error {
	t.Helper()
	return kafkagoWrite(t, addr, topic, recs, ts, nil)
}

// kafkagoWrite is kafkagoWriteSync with the Writer changed by tune
// (unless nil).
func kafkagoWrite(t *testing.T, addr, topic string, recs []record, ts []time.Time, tune func(*kafka.Writer)) error {
	t.Helper()
	transport := &kafka.Transport{}
	defer transport.CloseIdleConnections()
	var errs []error
	info, errLog := kafkagoLoggers("writer", func(err error) { errs = append(errs, err) })
	w := &kafka.Writer{
		Transport:    transport,
		Addr:         kafka.TCP(seeds(addr)...),
		Topic:        topic,
		Balancer:     kafka.BalancerFunc(func(kafka.Message, ...int) int { return 0 }),
		RequiredAcks: kafka.RequireAll,
		BatchSize:    len(recs),
		BatchBytes:   4 << 20,
		BatchTimeout: time.Millisecond,
		MaxAttempts:  1,
		Logger:       info,
		ErrorLogger:  errLog,
	}
	if tune != nil {
		tune(w)
	}
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		msgs[i] = kafka.Message{Key: r.Key, Value: r.Value}
		for _, h := range r.Headers {
			msgs[i].Headers = append(msgs[i].Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
		if ts != nil {
			msgs[i].Time = ts[i]
		}
	}
	err := w.WriteMessages(brokertest.Context(t, 30*time.Second), msgs...)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	var we kafka.WriteErrors
	if errors.As(err, &we) && len(we) == 1 {
		err = we[0]
	}
	if err == nil && len(errs) > 0 {
		err = errs[0]
	}
	return err
}

// kafkagoListOffsets runs one ListOffsets query on partition q.Partition.
func kafkagoListOffsets(t *testing.T, addr, topic string, q kafka.OffsetRequest) kafka.PartitionOffsets {
	t.Helper()
	resp, err := kafkagoClient(t, addr).ListOffsets(brokertest.Context(t, 10*time.Second), &kafka.ListOffsetsRequest{
		Topics: map[string][]kafka.OffsetRequest{topic: {q}},
	})
	if err != nil {
		t.Fatalf("kafka-go ListOffsets %s/%d at %d: %v", topic, q.Partition, q.Timestamp, err)
	}
	pos := resp.Topics[topic]
	if len(pos) != 1 || pos[0].Error != nil {
		t.Fatalf("kafka-go ListOffsets %s/%d at %d: %+v", topic, q.Partition, q.Timestamp, pos)
	}
	return pos[0]
}

// kafkagoReadAt reads the first message of partition 0 from offset.
func kafkagoReadAt(t *testing.T, addr, topic string, offset int64) (int64, record) {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: seeds(addr), Topic: topic, Partition: 0, MinBytes: 1, MaxBytes: 4 << 20, MaxWait: kafkagoMaxWait,
	})
	defer closeLater(t, r)
	if err := r.SetOffset(offset); err != nil {
		t.Fatalf("kafka-go SetOffset %d: %v", offset, err)
	}
	m, err := r.ReadMessage(brokertest.Context(t, 30*time.Second))
	if err != nil {
		t.Fatalf("kafka-go read %s/0 from %d: %v", topic, offset, err)
	}
	rec := record{Key: m.Key, Value: m.Value}
	for _, h := range m.Headers {
		rec.Headers = append(rec.Headers, header{h.Key, h.Value})
	}
	return m.Offset, rec
}

var kafkagoTopicOps = &topicOps{
	create: func(t *testing.T, addr, topic string, partitions int32, configs map[string]string) error {
		tc := kafka.TopicConfig{Topic: topic, NumPartitions: int(partitions), ReplicationFactor: int(replicationFactor())}
		for k, v := range configs {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: k, ConfigValue: v})
		}
		resp, err := kafkagoClient(t, addr).CreateTopics(brokertest.Context(t, 10*time.Second),
			&kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{tc}})
		if err != nil {
			return err
		}
		return resp.Errors[topic]
	},
	// Metadata with no topics lists them all; naming the topic could
	// auto-create it.
	describe: func(t *testing.T, addr, topic string) (int, bool) {
		t.Helper()
		resp, err := kafkagoClient(t, addr).Metadata(brokertest.Context(t, 10*time.Second), &kafka.MetadataRequest{})
		if err != nil {
			t.Fatalf("kafka-go Metadata: %v", err)
		}
		for _, tp := range resp.Topics {
			if tp.Name == topic && tp.Error == nil {
				return len(tp.Partitions), true
			}
		}
		return 0, false
	},
	remove: func(t *testing.T, addr, topic string) error {
		resp, err := kafkagoClient(t, addr).DeleteTopics(brokertest.Context(t, 10*time.Second),
			&kafka.DeleteTopicsRequest{Topics: []string{topic}})
		if err != nil {
			return err
		}
		return resp.Errors[topic]
	},
	exists: func(err error) bool { return errors.Is(err, kafka.TopicAlreadyExists) },
}

var kafkagoConfigOps = &configOps{
	describe: func(t *testing.T, addr, topic, key string) (string, string) {
		t.Helper()
		resp, err := kafkagoClient(t, addr).DescribeConfigs(brokertest.Context(t, 10*time.Second), &kafka.DescribeConfigsRequest{
			Resources: []kafka.DescribeConfigRequestResource{{
				ResourceType: kafka.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{key},
			}},
		})
		if err == nil && len(resp.Resources) == 1 {
			err = resp.Resources[0].Error
		}
		if err != nil {
			t.Fatalf("kafka-go DescribeConfigs %s of %s: %v", key, topic, err)
		}
		for _, e := range resp.Resources[0].ConfigEntries {
			if e.ConfigName == key {
				return e.ConfigValue, kmsg.ConfigSource(e.ConfigSource).String()
			}
		}
		t.Fatalf("kafka-go DescribeConfigs of %s: no %s in %+v", topic, key, resp.Resources)
		return "", ""
	},
	set: func(t *testing.T, addr, topic, key, value string) {
		t.Helper()
		resp, err := kafkagoClient(t, addr).IncrementalAlterConfigs(brokertest.Context(t, 10*time.Second),
			&kafka.IncrementalAlterConfigsRequest{Resources: []kafka.IncrementalAlterConfigsRequestResource{{
				ResourceType: kafka.ResourceTypeTopic, ResourceName: topic,
				Configs: []kafka.IncrementalAlterConfigsRequestConfig{{
					Name: key, Value: value, ConfigOperation: kafka.ConfigOperationSet,
				}},
			}}})
		if err == nil && len(resp.Resources) == 1 {
			err = resp.Resources[0].Error
		}
		if err != nil {
			t.Fatalf("kafka-go IncrementalAlterConfigs %s of %s: %v", key, topic, err)
		}
	},
}

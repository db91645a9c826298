package compat

// IBM/sarama beyond the codecs, at each protocol version: a SyncProducer
// writes to partition 0, Client.GetOffset looks up timestamps, a
// PartitionConsumer reads from an offset, and the ClusterAdmin lists
// offsets, creates, lists and deletes topics, and describes and alters
// configs.

import (
	"errors"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// saramaScenarios drives the non-codec scenarios through sarama's
// SyncProducer, Client, Consumer and ClusterAdmin at the given protocol
// version. The versioned columns leave the group and transaction cells to
// the sarama column.
func saramaScenarios(c client, version sarama.KafkaVersion) scenarioClient {
	sc := scenarioClient{
		client: c,
		produceP0: func(t *testing.T, addr, topic string, recs []record) error {
			return saramaProduceSync(t, version, addr, topic, recs, nil)
		},
		tooLarge: func(err error) bool { return errors.Is(err, sarama.ErrMessageSizeTooLarge) },
		produceTimed: func(t *testing.T, addr, topic string, recs []record, ts []time.Time) {
			if err := saramaProduceSync(t, version, addr, topic, recs, ts); err != nil {
				t.Fatalf("sarama produce: %v", err)
			}
		},
		offsetForTime: func(t *testing.T, addr, topic string, ts time.Time) int64 {
			t.Helper()
			cl := saramaClient(t, version, addr)
			off, err := cl.GetOffset(topic, 0, ts.UnixMilli())
			if err != nil {
				t.Fatalf("sarama GetOffset of %s at %v: %v", topic, ts, err)
			}
			return off
		},
		readAt: func(t *testing.T, addr, topic string, offset int64) (int64, record) {
			return saramaReadAt(t, version, addr, topic, offset)
		},
		listOffsets: func(t *testing.T, addr, topic string, p int32) (int64, int64) {
			return saramaListOffsets(t, version, addr, topic, p)
		},
		topics:  saramaTopicOps(version),
		configs: saramaConfigOps(version),
	}
	if !version.IsAtLeast(sarama.V1_1_0_0) {
		// Like Kafka 4.0, Strata serves DescribeConfigs from v1; sarama
		// gets UNSUPPORTED_VERSION, as it would from Kafka.
		sc.configs = nil
		sc.missing = map[string]string{scConfigs: "sarama sends DescribeConfigs v0 below protocol 1.1; " +
			"Kafka 4.0 and Strata serve v1+ (the client gets UNSUPPORTED_VERSION)"}
	}
	return sc
}

// saramaClient is a client closed when the test ends.
func saramaClient(t *testing.T, version sarama.KafkaVersion, addr string) sarama.Client {
	t.Helper()
	cl, err := sarama.NewClient(seeds(addr), saramaConfig(t, version))
	if err != nil {
		t.Fatalf("sarama client: %v", err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// saramaAdmin is a ClusterAdmin closed when the test ends.
func saramaAdmin(t *testing.T, version sarama.KafkaVersion, addr string) sarama.ClusterAdmin {
	t.Helper()
	adm, err := sarama.NewClusterAdmin(seeds(addr), saramaConfig(t, version))
	if err != nil {
		t.Fatalf("sarama cluster admin: %v", err)
	}
	t.Cleanup(func() { adm.Close() })
	return adm
}

// saramaProduceSync writes recs to partition 0 with a SyncProducer, with
// timestamps ts unless nil. Its message size limit is above the broker's so
// that the broker is the one to refuse a record that is too large (sarama
// reports both as ErrMessageSizeTooLarge).
func saramaProduceSync(t *testing.T, version sarama.KafkaVersion, addr, topic string, recs []record, ts []time.Time) error {
	t.Helper()
	cfg := saramaConfig(t, version)
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	cfg.Producer.MaxMessageBytes = 4 << 20
	cfg.Producer.Retry.Max = 0
	p, err := sarama.NewSyncProducer(seeds(addr), cfg)
	if err != nil {
		t.Fatalf("sarama sync producer: %v", err)
	}
	defer p.Close()
	msgs := make([]*sarama.ProducerMessage, len(recs))
	for i, r := range recs {
		m := &sarama.ProducerMessage{Topic: topic, Partition: 0}
		if r.Key != nil {
			m.Key = sarama.ByteEncoder(r.Key)
		}
		if r.Value != nil {
			m.Value = sarama.ByteEncoder(r.Value)
		}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		if ts != nil {
			m.Timestamp = ts[i]
		}
		msgs[i] = m
	}
	if len(msgs) == 1 {
		// SendMessage returns the message's own error, which
		// SendMessages would wrap in a ProducerErrors without Unwrap.
		_, _, err := p.SendMessage(msgs[0])
		return err
	}
	return p.SendMessages(msgs)
}

// saramaReadAt reads the first message of partition 0 from offset.
func saramaReadAt(t *testing.T, version sarama.KafkaVersion, addr, topic string, offset int64) (int64, record) {
	t.Helper()
	c, err := sarama.NewConsumer(seeds(addr), saramaConfig(t, version))
	if err != nil {
		t.Fatalf("sarama consumer: %v", err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, 0, offset)
	if err != nil {
		t.Fatalf("sarama consume %s/0 from %d: %v", topic, offset, err)
	}
	defer pc.Close()
	select {
	case m := <-pc.Messages():
		r := record{Key: m.Key, Value: m.Value}
		for _, h := range m.Headers {
			r.Headers = append(r.Headers, header{string(h.Key), h.Value})
		}
		return m.Offset, r
	case err := <-pc.Errors():
		t.Fatalf("sarama consume %s/0 from %d: %v", topic, offset, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("sarama consume %s/0 from %d: no message in 30s", topic, offset)
	}
	return 0, record{}
}

// saramaListOffsets asks ClusterAdmin.ListOffsets for the earliest and
// latest offsets of a partition.
func saramaListOffsets(t *testing.T, version sarama.KafkaVersion, addr, topic string, p int32) (int64, int64) {
	t.Helper()
	adm := saramaAdmin(t, version, addr)
	var out [2]int64
	for i, q := range []int64{sarama.OffsetOldest, sarama.OffsetNewest} {
		res, err := adm.ListOffsets(map[string]map[int32]int64{topic: {p: q}}, nil)
		if err != nil {
			t.Fatalf("sarama ListOffsets %s/%d at %d: %v", topic, p, q, err)
		}
		r := res[topic][p]
		if r == nil || r.Err != nil && !errors.Is(r.Err, sarama.ErrNoError) {
			t.Fatalf("sarama ListOffsets %s/%d at %d: result %+v", topic, p, q, r)
		}
		out[i] = r.Offset
	}
	return out[0], out[1]
}

func saramaTopicOps(version sarama.KafkaVersion) *topicOps {
	return &topicOps{
		create: func(t *testing.T, addr, topic string, partitions int32, configs map[string]string) error {
			entries := make(map[string]*string, len(configs))
			for k, v := range configs {
				entries[k] = &v
			}
			return saramaAdmin(t, version, addr).CreateTopic(topic,
				&sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: replicationFactor(), ConfigEntries: entries}, false)
		},
		// ListTopics asks for all topics: a metadata request naming the
		// topic could auto-create it.
		describe: func(t *testing.T, addr, topic string) (int, bool) {
			t.Helper()
			tds, err := saramaAdmin(t, version, addr).ListTopics()
			if err != nil {
				t.Fatalf("sarama ListTopics: %v", err)
			}
			td, ok := tds[topic]
			return int(td.NumPartitions), ok
		},
		remove: func(t *testing.T, addr, topic string) error {
			return saramaAdmin(t, version, addr).DeleteTopic(topic)
		},
		exists: func(err error) bool { return errors.Is(err, sarama.ErrTopicAlreadyExists) },
	}
}

// saramaConfigOps sets configs incrementally from protocol version 2.3,
// which introduced IncrementalAlterConfigs, and with AlterConfigs before.
func saramaConfigOps(version sarama.KafkaVersion) *configOps {
	return &configOps{
		describe: func(t *testing.T, addr, topic, key string) (string, string) {
			t.Helper()
			entries, err := saramaAdmin(t, version, addr).DescribeConfig(sarama.ConfigResource{
				Type: sarama.TopicResource, Name: topic, ConfigNames: []string{key},
			})
			if err != nil {
				t.Fatalf("sarama DescribeConfig %s of %s: %v", key, topic, err)
			}
			for _, e := range entries {
				if e.Name == key {
					return e.Value, saramaSource(e.Source)
				}
			}
			t.Fatalf("sarama DescribeConfig of %s: no %s in %+v", topic, key, entries)
			return "", ""
		},
		set: func(t *testing.T, addr, topic, key, value string) {
			t.Helper()
			adm := saramaAdmin(t, version, addr)
			var err error
			if version.IsAtLeast(sarama.V2_3_0_0) {
				err = adm.IncrementalAlterConfig(sarama.TopicResource, topic, map[string]sarama.IncrementalAlterConfigsEntry{
					key: {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &value},
				}, false)
			} else {
				err = adm.AlterConfig(sarama.TopicResource, topic, map[string]*string{key: &value}, false)
			}
			if err != nil {
				t.Fatalf("sarama alter %s of %s: %v", key, topic, err)
			}
		},
	}
}

// saramaSource names a config source as Kafka does; DescribeConfigs v0
// has only a default flag, so sarama shows other sources as unknown ("").
func saramaSource(s sarama.ConfigSource) string {
	if s == sarama.SourceUnknown {
		return ""
	}
	return kmsg.ConfigSource(s).String()
}

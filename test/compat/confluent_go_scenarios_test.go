package compat

// confluent-kafka-go beyond the codecs: the Producer writes single and
// timed records to partition 0, Consumer.OffsetsForTimes looks up
// timestamps, a Consumer assigned at an offset reads from it, and the
// AdminClient lists offsets, creates, describes (GetMetadata) and deletes
// topics, and describes and incrementally alters configs.

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func confluentScenarios(c client) scenarioClient {
	return scenarioClient{
		client: c,
		produceP0: func(t *testing.T, addr, topic string, recs []record) error {
			return confluentProduceSync(t, addr, topic, recs, nil)
		},
		tooLarge: func(err error) bool {
			var ke kafka.Error
			var local localError
			return errors.As(err, &ke) && ke.Code() == kafka.ErrMsgSizeTooLarge && !errors.As(err, &local)
		},
		produceTimed: func(t *testing.T, addr, topic string, recs []record, ts []time.Time) {
			if err := confluentProduceSync(t, addr, topic, recs, ts); err != nil {
				t.Fatalf("confluent-kafka-go produce: %v", err)
			}
		},
		offsetForTime: confluentOffsetForTime,
		readAt:        confluentReadAt,
		listOffsets: func(t *testing.T, addr, topic string, p int32) (int64, int64) {
			return confluentListOffset(t, addr, topic, p, kafka.EarliestOffsetSpec),
				confluentListOffset(t, addr, topic, p, kafka.LatestOffsetSpec)
		},
		topics:  confluentTopicOps,
		configs: confluentConfigOps,
	}
}

// localError marks an error that librdkafka raised before sending.
type localError struct{ error }

func (e localError) Unwrap() error { return e.error }

// confluentProduceSync writes recs to partition 0 (with timestamps ts
// unless nil) and waits for every delivery report; it returns the first
// error. librdkafka's own message.max.bytes is raised above the broker's
// limit so that the broker is the one to refuse a record that is too large.
func confluentProduceSync(t *testing.T, addr, topic string, recs []record, ts []time.Time) error {
	t.Helper()
	var events []error
	p := confluentProducer(t, addr, kafka.ConfigMap{"message.max.bytes": 4000000, "retries": 0},
		func(err error) { events = append(events, err) })
	reports := make(chan kafka.Event, len(recs))
	for i, r := range recs {
		m := confluentMessage(topic, 0, r)
		if ts != nil {
			m.Timestamp = ts[i]
		}
		if err := p.Produce(m, reports); err != nil {
			return localError{fmt.Errorf("produce record %d: %w", i, err)}
		}
	}
	var first error
	for range recs {
		select {
		case e := <-reports:
			if err := e.(*kafka.Message).TopicPartition.Error; err != nil && first == nil {
				first = err
			}
		case <-time.After(30 * time.Second):
			return errors.New("no delivery report in 30s")
		}
	}
	return first
}

// confluentOffsetForTime asks Consumer.OffsetsForTimes about partition 0.
func confluentOffsetForTime(t *testing.T, addr, topic string, ts time.Time) int64 {
	t.Helper()
	c := confluentConsumer(t, addr)
	got, err := c.OffsetsForTimes([]kafka.TopicPartition{
		{Topic: &topic, Partition: 0, Offset: kafka.Offset(ts.UnixMilli())},
	}, 10000)
	if err == nil && len(got) == 1 {
		err = got[0].Error
	}
	if err != nil {
		t.Fatalf("confluent-kafka-go OffsetsForTimes of %s at %v: %v", topic, ts, err)
	}
	return int64(got[0].Offset)
}

// confluentReadAt assigns partition 0 at offset and returns the first
// message polled.
func confluentReadAt(t *testing.T, addr, topic string, offset int64) (int64, record) {
	t.Helper()
	c := confluentConsumer(t, addr)
	if err := c.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: kafka.Offset(offset)}}); err != nil {
		t.Fatalf("confluent-kafka-go assign: %v", err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		switch e := c.Poll(100).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				t.Fatalf("confluent-kafka-go read %s/0 from %d: %v", topic, offset, e.TopicPartition.Error)
			}
			return int64(e.TopicPartition.Offset), confluentRecord(e)
		case kafka.Error:
			t.Fatalf("confluent-kafka-go read %s/0 from %d: %v", topic, offset, e)
		}
	}
	t.Fatalf("confluent-kafka-go read %s/0 from %d: no message in 30s", topic, offset)
	return 0, record{}
}

// confluentAdmin is an AdminClient closed when the test ends.
func confluentAdmin(t *testing.T, addr string) *kafka.AdminClient {
	t.Helper()
	adm, err := kafka.NewAdminClient(confluentConfig(addr, nil))
	if err != nil {
		t.Fatalf("confluent-kafka-go admin client: %v", err)
	}
	t.Cleanup(adm.Close)
	return adm
}

func confluentListOffset(t *testing.T, addr, topic string, p int32, spec kafka.OffsetSpec) int64 {
	t.Helper()
	tp := kafka.TopicPartition{Topic: &topic, Partition: p}
	res, err := confluentAdmin(t, addr).ListOffsets(brokertest.Context(t, 10*time.Second),
		map[kafka.TopicPartition]kafka.OffsetSpec{tp: spec})
	if err != nil {
		t.Fatalf("confluent-kafka-go ListOffsets %s/%d: %v", topic, p, err)
	}
	for rtp, info := range res.ResultInfos {
		if *rtp.Topic == topic && rtp.Partition == p {
			if info.Error.Code() != kafka.ErrNoError {
				t.Fatalf("confluent-kafka-go ListOffsets %s/%d: %v", topic, p, info.Error)
			}
			return int64(info.Offset)
		}
	}
	t.Fatalf("confluent-kafka-go ListOffsets %s/%d: no result in %v", topic, p, res.ResultInfos)
	return 0
}

// topicResultErr is a one-topic admin result's error, or nil.
func topicResultErr(res []kafka.TopicResult, err error) error {
	if err != nil {
		return err
	}
	if len(res) != 1 {
		return fmt.Errorf("%d topic results, want 1", len(res))
	}
	if res[0].Error.Code() != kafka.ErrNoError {
		return res[0].Error
	}
	return nil
}

var confluentTopicOps = &topicOps{
	create: func(t *testing.T, addr, topic string, partitions int32, configs map[string]string) error {
		return topicResultErr(confluentAdmin(t, addr).CreateTopics(brokertest.Context(t, 10*time.Second),
			[]kafka.TopicSpecification{{Topic: topic, NumPartitions: int(partitions), ReplicationFactor: int(replicationFactor()), Config: configs}}))
	},
	// GetMetadata of all topics: naming the topic could auto-create it.
	describe: func(t *testing.T, addr, topic string) (int, bool) {
		t.Helper()
		md, err := confluentAdmin(t, addr).GetMetadata(nil, true, 10000)
		if err != nil {
			t.Fatalf("confluent-kafka-go GetMetadata: %v", err)
		}
		tm, ok := md.Topics[topic]
		if !ok || tm.Error.Code() != kafka.ErrNoError {
			return 0, false
		}
		return len(tm.Partitions), true
	},
	remove: func(t *testing.T, addr, topic string) error {
		return topicResultErr(confluentAdmin(t, addr).DeleteTopics(brokertest.Context(t, 10*time.Second), []string{topic}))
	},
	exists: func(err error) bool {
		var ke kafka.Error
		return errors.As(err, &ke) && ke.Code() == kafka.ErrTopicAlreadyExists
	},
}

// confluentConfigResult is the one resource result of a config call.
func confluentConfigResult(res []kafka.ConfigResourceResult, err error) (kafka.ConfigResourceResult, error) {
	if err != nil {
		return kafka.ConfigResourceResult{}, err
	}
	if len(res) != 1 {
		return kafka.ConfigResourceResult{}, fmt.Errorf("%d resource results, want 1", len(res))
	}
	if res[0].Error.Code() != kafka.ErrNoError {
		return res[0], res[0].Error
	}
	return res[0], nil
}

var confluentConfigOps = &configOps{
	describe: func(t *testing.T, addr, topic, key string) (string, string) {
		t.Helper()
		res, err := confluentConfigResult(confluentAdmin(t, addr).DescribeConfigs(brokertest.Context(t, 10*time.Second),
			[]kafka.ConfigResource{{Type: kafka.ResourceTopic, Name: topic}}))
		if err != nil {
			t.Fatalf("confluent-kafka-go DescribeConfigs of %s: %v", topic, err)
		}
		e, ok := res.Config[key]
		if !ok {
			t.Fatalf("confluent-kafka-go DescribeConfigs of %s: no %s among %v", topic, key, sortedKeys(res.Config))
		}
		src := ""
		if e.Source != kafka.ConfigSourceUnknown {
			src = kmsg.ConfigSource(e.Source).String()
		}
		return e.Value, src
	},
	set: func(t *testing.T, addr, topic, key, value string) {
		t.Helper()
		_, err := confluentConfigResult(confluentAdmin(t, addr).IncrementalAlterConfigs(brokertest.Context(t, 10*time.Second),
			[]kafka.ConfigResource{{Type: kafka.ResourceTopic, Name: topic, Config: []kafka.ConfigEntry{
				{Name: key, Value: value, IncrementalOperation: kafka.AlterConfigOpTypeSet},
			}}}))
		if err != nil {
			t.Fatalf("confluent-kafka-go IncrementalAlterConfigs %s of %s: %v", key, topic, err)
		}
	},
}

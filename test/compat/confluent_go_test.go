package compat

// confluentinc/confluent-kafka-go (cgo, with the librdkafka it bundles as a
// static library): a Producer with acks=all and idempotence off writes with
// compression.codec, a Consumer with partitions assigned directly (no group
// join; librdkafka still wants a group.id) reads. librdkafka picks the
// codecs it may use from the broker's ApiVersions (zstd needs Produce v7+).

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

func TestConfluentGo(t *testing.T) {
	addr := serverAddr(t)
	c := client{
		name:    "confluent-kafka-go",
		opts:    binaryOpts,
		produce: confluentProduce,
		consume: confluentConsume,
	}
	runClient(t, addr, c)
	runScenarios(t, addr, confluentScenarios(c))
	runGroupScenarios(t, addr, confluentGroups())
	runEOSScenarios(t, addr, confluentEOS())
}

// confluentConfig is the common configuration; STRATA_TEST_LOG=debug turns
// on librdkafka's debug log (to stderr).
func confluentConfig(addr string, extra kafka.ConfigMap) *kafka.ConfigMap {
	hp, sec := splitAddr(addr)
	cfg := kafka.ConfigMap{"bootstrap.servers": hp, "client.id": "strata-compat"}
	for k, v := range sec.librdkafka() {
		cfg[k] = v
	}
	if debugLogs() {
		cfg["debug"] = "broker,protocol,topic,msg,fetch"
	}
	for k, v := range extra {
		cfg[k] = v
	}
	return &cfg
}

// confluentProducer returns a producer closed when the test ends; errors
// that librdkafka reports outside delivery reports go to fail.
func confluentProducer(t *testing.T, addr string, extra kafka.ConfigMap, fail func(error)) *kafka.Producer {
	t.Helper()
	base := kafka.ConfigMap{"acks": "all", "enable.idempotence": false}
	for k, v := range extra {
		base[k] = v
	}
	p, err := kafka.NewProducer(confluentConfig(addr, base))
	if err != nil {
		t.Fatalf("confluent-kafka-go producer: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range p.Events() {
			if err, ok := e.(kafka.Error); ok {
				fail(fmt.Errorf("librdkafka error event: %w", err))
			}
		}
	}()
	t.Cleanup(func() {
		p.Close()
		<-done
	})
	return p
}

// confluentMessage turns a record into a message for partition p (or
// kafka.PartitionAny).
func confluentMessage(topic string, p int32, r record) *kafka.Message {
	m := &kafka.Message{TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: p}, Key: r.Key, Value: r.Value}
	for _, h := range r.Headers {
		m.Headers = append(m.Headers, kafka.Header{Key: h.Key, Value: h.Value})
	}
	return m
}

func confluentRecord(m *kafka.Message) record {
	r := record{Key: m.Key, Value: m.Value}
	for _, h := range m.Headers {
		r.Headers = append(r.Headers, header{h.Key, h.Value})
	}
	return r
}

func confluentProduce(t *testing.T, addr, topic, codec string, recs []record) map[pos]record {
	t.Helper()
	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}
	p := confluentProducer(t, addr, kafka.ConfigMap{"compression.codec": codec, "linger.ms": 5}, fail)
	reports := make(chan kafka.Event, 1000)
	sent := make(map[pos]record, len(recs))
	var wg sync.WaitGroup
	wg.Go(func() {
		for range recs {
			m := (<-reports).(*kafka.Message)
			if err := m.TopicPartition.Error; err != nil {
				fail(err)
				continue
			}
			at := pos{m.TopicPartition.Partition, int64(m.TopicPartition.Offset)}
			if _, dup := sent[at]; dup {
				fail(fmt.Errorf("two records acknowledged at %v", at))
			}
			sent[at] = recs[m.Opaque.(int)]
		}
	})
	for i, r := range recs {
		m := confluentMessage(topic, kafka.PartitionAny, r)
		m.Opaque = i
		for {
			err := p.Produce(m, reports)
			if err == nil {
				break
			}
			if kerr, ok := err.(kafka.Error); !ok || kerr.Code() != kafka.ErrQueueFull {
				t.Fatalf("confluent-kafka-go produce record %d: %v", i, err)
			}
			p.Flush(100) // the local queue is full: let it drain
		}
	}
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(errs) > 0 {
		t.Fatalf("confluent-kafka-go produce: %d errors, first: %v", len(errs), errs[0])
	}
	if len(sent) != len(recs) {
		t.Fatalf("confluent-kafka-go produce: %d of %d records acknowledged", len(sent), len(recs))
	}
	return sent
}

// confluentConsumer returns a consumer closed when the test ends. It never
// joins its group or commits: partitions are assigned directly.
func confluentConsumer(t *testing.T, addr string) *kafka.Consumer {
	t.Helper()
	c, err := kafka.NewConsumer(confluentConfig(addr, kafka.ConfigMap{
		"group.id":           fmt.Sprintf("strata-compat-%d", time.Now().UnixNano()),
		"enable.auto.commit": false,
		"fetch.wait.max.ms":  200,
	}))
	if err != nil {
		t.Fatalf("confluent-kafka-go consumer: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close confluent-kafka-go consumer: %v", err)
		}
	})
	return c
}

// confluentConsume assigns every non-empty partition from offset 0 and
// polls until each has delivered its last record.
func confluentConsume(t *testing.T, addr, topic string, ends map[int32]int64) map[pos]record {
	t.Helper()
	c := confluentConsumer(t, addr)
	var assign []kafka.TopicPartition
	for p, end := range ends {
		if end > 0 {
			assign = append(assign, kafka.TopicPartition{Topic: &topic, Partition: p, Offset: 0})
		}
	}
	if err := c.Assign(assign); err != nil {
		t.Fatalf("confluent-kafka-go assign: %v", err)
	}
	col := newCollector("confluent-kafka-go read " + topic)
	remaining := len(assign)
	deadline := time.Now().Add(2 * time.Minute)
	for remaining > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("confluent-kafka-go read %d records of %s: timed out with %d partitions unfinished",
				col.count(), topic, remaining)
		}
		switch e := c.Poll(100).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				t.Fatalf("confluent-kafka-go read %s: %v", topic, e.TopicPartition.Error)
			}
			p, off := e.TopicPartition.Partition, int64(e.TopicPartition.Offset)
			col.add(pos{p, off}, confluentRecord(e))
			if off == ends[p]-1 {
				remaining--
			}
		case kafka.Error:
			t.Fatalf("confluent-kafka-go read %s: %v", topic, e)
		case nil:
		default:
			if debugLogs() {
				fmt.Fprintf(os.Stderr, "[confluent-kafka-go] event %v\n", e)
			}
		}
	}
	return col.result(t)
}

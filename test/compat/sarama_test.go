package compat

// IBM/sarama: an AsyncProducer with acks=all writes, a plain (group-less)
// Consumer reads each partition. config.Version picks the request versions;
// it is run at three, all with record batches v2 (Strata serves Produce v3+
// and Fetch v4+, like Kafka 4.0).

import (
	"fmt"
	"log"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func TestSarama(t *testing.T) {
	if debugLogs() {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.Lmicroseconds)
	}
	versions := []struct {
		name    string
		version sarama.KafkaVersion
		codecs  []string
	}{
		// Kafka 4.0's protocol: Produce v10, Fetch v12 (flexible).
		{"sarama", sarama.V4_0_0_0, nil},
		// Produce v7, Fetch v10: the oldest setting that allows zstd.
		{"sarama-2.1", sarama.V2_1_0_0, nil},
		// Produce v3, Fetch v5: the oldest versions that carry record
		// batches v2 and the oldest Strata serves. No zstd before 2.1.
		{"sarama-0.11", sarama.V0_11_0_0, []string{"none", "gzip", "snappy", "lz4"}},
	}
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			addr := serverAddr(t)
			c := client{
				name:       v.name,
				noCodecWhy: "sarama sends zstd only from protocol version 2.1",
				opts:       binaryOpts,
				codecs:     v.codecs,
				produce: func(t *testing.T, addr, topic, codec string, recs []record) map[pos]record {
					return saramaProduce(t, v.version, addr, topic, codec, recs)
				},
				consume: func(t *testing.T, addr, topic string, ends map[int32]int64) map[pos]record {
					return saramaConsume(t, v.version, addr, topic, ends)
				},
			}
			runClient(t, addr, c)
			runScenarios(t, addr, saramaScenarios(c, v.version))
			runGroupScenarios(t, addr, saramaGroups(v.name, v.version))
			runEOSScenarios(t, addr, saramaEOS(v.name, v.version))
		})
	}
}

func saramaConfig(t *testing.T, version sarama.KafkaVersion) *sarama.Config {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = version
	cfg.ClientID = "strata-compat"
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Idempotent = false
	cfg.Producer.Flush.Frequency = 5 * time.Millisecond
	cfg.Producer.Flush.Bytes = 512 << 10
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.Fetch.Default = 1 << 20
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	if err := cfg.Validate(); err != nil {
		t.Fatalf("sarama config: %v", err)
	}
	return cfg
}

func saramaProduce(t *testing.T, version sarama.KafkaVersion, addr, topic, codec string, recs []record) map[pos]record {
	t.Helper()
	cfg := saramaConfig(t, version)
	if err := cfg.Producer.Compression.UnmarshalText([]byte(codec)); err != nil {
		t.Fatal(err)
	}
	p, err := sarama.NewAsyncProducer(saramaBrokers(t, cfg, addr), cfg)
	if err != nil {
		t.Fatalf("sarama producer: %v", err)
	}
	sent := make(map[pos]record, len(recs))
	var errs, dups []error // each written by one goroutine
	var wg sync.WaitGroup
	wg.Go(func() {
		for m := range p.Successes() {
			at := pos{m.Partition, m.Offset}
			if _, dup := sent[at]; dup {
				dups = append(dups, fmt.Errorf("two records acknowledged at %v", at))
			}
			sent[at] = recs[m.Metadata.(int)]
		}
	})
	wg.Go(func() {
		for e := range p.Errors() {
			errs = append(errs, e)
		}
	})
	for i, r := range recs {
		m := &sarama.ProducerMessage{Topic: topic, Metadata: i}
		if r.Key != nil {
			m.Key = sarama.ByteEncoder(r.Key)
		}
		if r.Value != nil {
			m.Value = sarama.ByteEncoder(r.Value)
		}
		for _, h := range r.Headers {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
		}
		p.Input() <- m
	}
	p.AsyncClose() // flushes, then closes Successes and Errors
	wg.Wait()
	if errs = append(errs, dups...); len(errs) > 0 {
		t.Fatalf("sarama produce: %d errors, first: %v", len(errs), errs[0])
	}
	if len(sent) != len(recs) {
		t.Fatalf("sarama produce: %d of %d records acknowledged", len(sent), len(recs))
	}
	return sent
}

// saramaConsume reads the partitions in parallel, one PartitionConsumer each.
func saramaConsume(t *testing.T, version sarama.KafkaVersion, addr, topic string, ends map[int32]int64) map[pos]record {
	t.Helper()
	cfg := saramaConfig(t, version)
	c, err := sarama.NewConsumer(saramaBrokers(t, cfg, addr), cfg)
	if err != nil {
		t.Fatalf("sarama consumer: %v", err)
	}
	defer c.Close()
	col := newCollector("sarama read " + topic)
	var wg sync.WaitGroup
	for p, end := range ends {
		if end == 0 {
			continue
		}
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatalf("sarama consume %s/%d: %v", topic, p, err)
		}
		wg.Go(func() {
			defer pc.AsyncClose()
			timeout := time.After(time.Minute)
			for {
				select {
				case m := <-pc.Messages():
					r := record{Key: m.Key, Value: m.Value}
					for _, h := range m.Headers {
						r.Headers = append(r.Headers, header{string(h.Key), h.Value})
					}
					col.add(pos{m.Partition, m.Offset}, r)
					if m.Offset >= end-1 {
						return
					}
				case e := <-pc.Errors():
					col.fail(e)
					return
				case <-timeout:
					col.fail(fmt.Errorf("partition %d: timed out before offset %d", p, end))
					return
				}
			}
		})
	}
	wg.Wait()
	return col.result(t)
}

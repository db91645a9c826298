package compat

// confluent-kafka-go's exactly-once scenarios (eos_test.go). A Producer
// with enable.idempotence=true writes idempotently; one with
// transactional.id as well runs every transaction with InitTransactions
// (once), BeginTransaction, Produce, and CommitTransaction or
// AbortTransaction, after waiting for each record's delivery report, so
// that an aborted transaction has its records in the log (librdkafka
// purges records still queued when it aborts). A Consumer with partition 0
// assigned directly reads, with isolation.level set explicitly either way
// (librdkafka's default is read_committed).

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/strata-db/strata/internal/broker/brokertest"
)

// confluentEOS is confluent-kafka-go's view of the exactly-once scenarios.
func confluentEOS() eosClient {
	return eosClient{
		name:              "confluent-kafka-go",
		produceIdempotent: confluentProduceIdempotent,
		produceFailover:   confluentProduceFailover,
		produceTxns:       confluentProduceTxns,
		consumeP0:         confluentConsumeP0,
	}
}

// confluentProduceP0 writes recs to partition 0 of topic with p and waits
// for their delivery reports.
func confluentProduceP0(t *testing.T, p *kafka.Producer, topic string, recs []record) error {
	t.Helper()
	reports := make(chan kafka.Event, len(recs))
	for i, r := range recs {
		m := confluentMessage(topic, 0, r)
		m.Opaque = i
		if err := p.Produce(m, reports); err != nil {
			return fmt.Errorf("produce record %d: %w", i, err)
		}
	}
	timeout := time.After(time.Minute)
	for range recs {
		select {
		case e := <-reports:
			m := e.(*kafka.Message)
			if err := m.TopicPartition.Error; err != nil {
				return fmt.Errorf("record %d: %w", m.Opaque.(int), err)
			}
		case <-timeout:
			return fmt.Errorf("timed out waiting for the delivery reports")
		}
	}
	return nil
}

// confluentErrors collects the errors librdkafka reports outside delivery
// reports; check fails the test if there were any.
type confluentErrors struct {
	mu   sync.Mutex
	errs []error
}

func (e *confluentErrors) fail(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.errs = append(e.errs, err)
}

// check fails the test if librdkafka reported errors.
func (e *confluentErrors) check(t *testing.T, what string) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.errs) > 0 {
		t.Fatalf("%s: %d errors, first: %v", what, len(e.errs), e.errs[0])
	}
}

// confluentProduceIdempotent writes recs to partition 0 with an idempotent
// producer.
func confluentProduceIdempotent(t *testing.T, addr, topic string, recs []record) {
	t.Helper()
	var errs confluentErrors
	p := confluentProducer(t, addr, kafka.ConfigMap{"enable.idempotence": true, "linger.ms": 5}, errs.fail)
	if err := confluentProduceP0(t, p, topic, recs); err != nil {
		t.Fatalf("confluent-kafka-go idempotent produce: %v", err)
	}
	errs.check(t, "confluent-kafka-go idempotent produce")
}

// confluentProduceFailover is confluentProduceIdempotent for
// failover/leader-kill: librdkafka's error events about losing the
// connection to the killed leader are logged, not failures.
func confluentProduceFailover(t *testing.T, addr, topic string, recs []record) {
	t.Helper()
	var errs confluentErrors
	p := confluentProducer(t, addr, kafka.ConfigMap{"enable.idempotence": true, "linger.ms": 5}, func(err error) {
		if failoverTransient(err.Error()) {
			t.Logf("expected while the leader is down: %v", err)
			return
		}
		errs.fail(err)
	})
	if err := confluentProduceP0(t, p, topic, recs); err != nil {
		t.Fatalf("confluent-kafka-go idempotent produce: %v", err)
	}
	errs.check(t, "confluent-kafka-go idempotent produce")
}

// confluentProduceTxns runs txns with one transactional producer.
func confluentProduceTxns(t *testing.T, addr, topic, txnID string, txns []eosTxn) {
	t.Helper()
	var errs confluentErrors
	p := confluentProducer(t, addr, kafka.ConfigMap{
		"enable.idempotence": true, "transactional.id": txnID, "linger.ms": 5,
	}, errs.fail)
	ctx := brokertest.Context(t, time.Minute)
	if err := p.InitTransactions(ctx); err != nil {
		t.Fatalf("confluent-kafka-go InitTransactions: %v", err)
	}
	for i, tx := range txns {
		if err := p.BeginTransaction(); err != nil {
			t.Fatalf("confluent-kafka-go transaction %d: begin: %v", i, err)
		}
		if err := confluentProduceP0(t, p, topic, tx.recs); err != nil {
			t.Fatalf("confluent-kafka-go transaction %d: %v", i, err)
		}
		end, endName := p.AbortTransaction, "abort"
		if tx.commit {
			end, endName = p.CommitTransaction, "commit"
		}
		if err := end(ctx); err != nil {
			t.Fatalf("confluent-kafka-go transaction %d: %s: %v", i, endName, err)
		}
	}
	errs.check(t, "confluent-kafka-go transactions")
}

// confluentConsumeP0 reads n records of partition 0 from offset 0 with
// isolation.level set to the level asked for.
func confluentConsumeP0(t *testing.T, addr, topic string, readCommitted bool, n int) []record {
	t.Helper()
	level := "read_uncommitted"
	if readCommitted {
		level = "read_committed"
	}
	c, err := kafka.NewConsumer(confluentConfig(addr, kafka.ConfigMap{
		"group.id":           fmt.Sprintf("strata-compat-%d", time.Now().UnixNano()),
		"enable.auto.commit": false,
		"fetch.wait.max.ms":  200,
		"isolation.level":    level,
	}))
	if err != nil {
		t.Fatalf("confluent-kafka-go consumer: %v", err)
	}
	defer func() {
		if err := c.Close(); err != nil {
			t.Errorf("close confluent-kafka-go consumer: %v", err)
		}
	}()
	if err := c.Assign([]kafka.TopicPartition{{Topic: &topic, Partition: 0, Offset: 0}}); err != nil {
		t.Fatalf("confluent-kafka-go assign: %v", err)
	}
	out := make([]record, 0, n)
	deadline := time.Now().Add(time.Minute)
	for len(out) < n {
		if time.Now().After(deadline) {
			t.Fatalf("confluent-kafka-go %s read of %s/0: timed out with %d of %d records", level, topic, len(out), n)
		}
		switch e := c.Poll(100).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				t.Fatalf("confluent-kafka-go %s read of %s/0: %v", level, topic, e.TopicPartition.Error)
			}
			out = append(out, confluentRecord(e))
		case kafka.Error:
			t.Fatalf("confluent-kafka-go %s read of %s/0: %v", level, topic, e)
		}
	}
	return out
}

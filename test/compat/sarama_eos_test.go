package compat

// sarama's exactly-once scenarios (eos_test.go), in the "sarama" column
// (protocol 4.0). A SyncProducer with Producer.Idempotent (which sarama
// allows only with acks=all and Net.MaxOpenRequests=1) writes
// idempotently; with Producer.Transaction.ID as well, one SyncProducer runs
// every transaction with BeginTxn, SendMessages and CommitTxn or AbortTxn.
// SendMessages waits for the records' acks, so an aborted transaction has
// its records in the log. A plain Consumer with Consumer.IsolationLevel
// reads partition 0 from the oldest offset.

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// saramaEOS is the exactly-once client of one sarama column; the versioned
// columns leave these cells to the "sarama" column.
func saramaEOS(name string, version sarama.KafkaVersion) eosClient {
	if name != "sarama" {
		return eosClient{name: name, missing: map[string]string{
			scIdempotent:    "covered by the sarama column",
			scReadCommitted: "covered by the sarama column",
		}}
	}
	return eosClient{
		name: name,
		produceIdempotent: func(t *testing.T, addr, topic string, recs []record) {
			saramaProduceIdempotent(t, version, addr, topic, recs)
		},
		// sarama's default of 3 retries 100 ms apart gives up during an
		// election; 40 retries 500 ms apart outlast one.
		produceFailover: func(t *testing.T, addr, topic string, recs []record) {
			saramaProduceIdempotent(t, version, addr, topic, recs, func(cfg *sarama.Config) {
				cfg.Producer.Retry.Max = 40
				cfg.Producer.Retry.Backoff = 500 * time.Millisecond
			})
		},
		produceTxns: func(t *testing.T, addr, topic, txnID string, txns []eosTxn) {
			saramaProduceTxns(t, version, addr, topic, txnID, txns)
		},
		consumeP0: func(t *testing.T, addr, topic string, readCommitted bool, n int) []record {
			return saramaConsumeP0(t, version, addr, topic, readCommitted, n)
		},
	}
}

// saramaEOSProducer returns an idempotent SyncProducer writing to the
// partition each message names, transactional if txnID is not empty.
func saramaEOSProducer(t *testing.T, version sarama.KafkaVersion, addr, txnID string, tune ...func(*sarama.Config)) sarama.SyncProducer {
	t.Helper()
	cfg := saramaConfig(t, version)
	cfg.Producer.Idempotent = true
	cfg.Producer.Transaction.ID = txnID
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	for _, f := range tune {
		f(cfg)
	}
	p, err := sarama.NewSyncProducer(seeds(addr), cfg)
	if err != nil {
		t.Fatalf("sarama producer (idempotent, transactional id %q): %v", txnID, err)
	}
	return p
}

// saramaP0Messages are recs as messages for partition 0 of topic.
func saramaP0Messages(topic string, recs []record) []*sarama.ProducerMessage {
	msgs := make([]*sarama.ProducerMessage, len(recs))
	for i, r := range recs {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Partition: 0,
			Key: sarama.ByteEncoder(r.Key), Value: sarama.ByteEncoder(r.Value)}
	}
	return msgs
}

// saramaProduceIdempotent writes recs to partition 0 with an idempotent
// SyncProducer.
func saramaProduceIdempotent(t *testing.T, version sarama.KafkaVersion, addr, topic string, recs []record, tune ...func(*sarama.Config)) {
	t.Helper()
	p := saramaEOSProducer(t, version, addr, "", tune...)
	err := p.SendMessages(saramaP0Messages(topic, recs))
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("sarama idempotent produce: %v", err)
	}
}

// saramaProduceTxns runs txns with one transactional SyncProducer.
func saramaProduceTxns(t *testing.T, version sarama.KafkaVersion, addr, topic, txnID string, txns []eosTxn) {
	t.Helper()
	p := saramaEOSProducer(t, version, addr, txnID)
	closed := false
	defer func() { // a second Close panics
		if !closed {
			p.Close()
		}
	}()
	if !p.IsTransactional() {
		t.Fatal("sarama producer with a transactional id is not transactional")
	}
	for i, tx := range txns {
		if err := p.BeginTxn(); err != nil {
			t.Fatalf("sarama transaction %d: begin: %v", i, err)
		}
		if err := p.SendMessages(saramaP0Messages(topic, tx.recs)); err != nil {
			t.Fatalf("sarama transaction %d: produce: %v", i, err)
		}
		end, endName := p.AbortTxn, "abort"
		if tx.commit {
			end, endName = p.CommitTxn, "commit"
		}
		if err := end(); err != nil {
			t.Fatalf("sarama transaction %d: %s: %v (status %v)", i, endName, err, p.TxnStatus())
		}
	}
	closed = true
	if err := p.Close(); err != nil {
		t.Fatalf("sarama transactional producer: close: %v", err)
	}
}

// saramaConsumeP0 reads n records of partition 0 from the oldest offset
// with Consumer.IsolationLevel set to the level asked for.
func saramaConsumeP0(t *testing.T, version sarama.KafkaVersion, addr, topic string, readCommitted bool, n int) []record {
	t.Helper()
	cfg := saramaConfig(t, version)
	cfg.Consumer.IsolationLevel = sarama.ReadUncommitted
	if readCommitted {
		cfg.Consumer.IsolationLevel = sarama.ReadCommitted
	}
	c, err := sarama.NewConsumer(seeds(addr), cfg)
	if err != nil {
		t.Fatalf("sarama consumer: %v", err)
	}
	defer c.Close()
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatalf("sarama consume %s/0: %v", topic, err)
	}
	defer pc.AsyncClose()
	level := map[bool]string{true: "read_committed", false: "read_uncommitted"}[readCommitted]
	out := make([]record, 0, n)
	timeout := time.After(time.Minute)
	for len(out) < n {
		select {
		case m := <-pc.Messages():
			out = append(out, record{Key: m.Key, Value: m.Value})
		case e := <-pc.Errors():
			t.Fatalf("sarama %s read of %s/0: %v", level, topic, e)
		case <-timeout:
			t.Fatalf("sarama %s read of %s/0: timed out with %d of %d records", level, topic, len(out), n)
		}
	}
	return out
}

package compat

// The JavaScript clients' exactly-once scenarios (eos_test.go). Both
// drivers write idempotently with produce --idempotent true, run
// transactions with produce-txns and read with consume-isolated (formats in
// drivers/js/common.mjs): kafkajs with producer({idempotent: true}),
// producer({transactionalId}).transaction() and a Consumer with
// readUncommitted set either way; confluent-kafka-javascript with
// librdkafka's enable.idempotence, transactional.id and isolation.level
// through its node-rdkafka style API.

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// eos returns the exactly-once scenarios' view of the client.
func (c jsClient) eos() eosClient {
	return eosClient{
		name: c.name,
		produceIdempotent: func(t *testing.T, addr, topic string, recs []record) {
			c.produceIdempotent(t, addr, topic, recs)
		},
		produceFailover: func(t *testing.T, addr, topic string, recs []record) {
			c.produceIdempotent(t, addr, topic, recs, "--failover", "true")
		},
		produceTxns: c.produceTxns,
		consumeP0:   c.consumeIsolated,
		missing:     map[string]string{},
	}
}

// produceIdempotent writes recs to partition 0 with the client's
// idempotent producer (with the driver's args added); every record must be
// acknowledged, in input order.
func (c jsClient) produceIdempotent(t *testing.T, addr, topic string, recs []record, args ...string) {
	t.Helper()
	p0 := int32(0)
	ds := c.produce(t, addr, topic, "none", jsInput(recs, &p0, nil), append([]string{"--idempotent", "true"}, args...)...)
	for i, d := range ds {
		if d.Error != nil {
			t.Fatalf("%s idempotent produce: record %d: %v", c.name, i, d.Error)
		}
		if d.Partition != 0 || d.Offset != int64(i) {
			t.Fatalf("%s idempotent produce: record %d acknowledged at %v, want %v", c.name, i, pos{d.Partition, d.Offset}, pos{0, int64(i)})
		}
	}
}

// jsTxn is a line of produce-txns' input.
type jsTxn struct {
	Commit  bool       `json:"commit"`
	Records []jsRecord `json:"records"`
}

// produceTxns runs txns with the driver's produce-txns: one transactional
// producer of id txnID, each transaction's records to partition 0.
func (c jsClient) produceTxns(t *testing.T, addr, topic, txnID string, txns []eosTxn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "txns.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	p0 := int32(0)
	for _, tx := range txns {
		if err := enc.Encode(jsTxn{Commit: tx.commit, Records: jsInput(tx.recs, &p0, nil)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		t.Fatal(err)
	}
	out := jsDecode[struct {
		Txn       int      `json:"txn"`
		Commit    bool     `json:"commit"`
		Delivered int      `json:"delivered"`
		Error     *jsError `json:"error"`
	}](t, c.run(t, 2*time.Minute, "produce-txns", addr, topic, "--txns", path, "--transactional-id", txnID))
	for i, o := range out {
		if o.Error != nil {
			t.Fatalf("%s transaction %d (commit %v): %v", c.name, o.Txn, o.Commit, o.Error)
		}
		if o.Txn != i || o.Commit != txns[i].commit || o.Delivered != len(txns[i].recs) {
			t.Fatalf("%s transaction %d: report %+v, want transaction %d, commit %v, %d records delivered",
				c.name, i, o, i, txns[i].commit, len(txns[i].recs))
		}
	}
	if len(out) != len(txns) {
		t.Fatalf("%s produce-txns reported %d transactions, want %d", c.name, len(out), len(txns))
	}
}

// consumeIsolated reads n records of partition 0 from offset 0 with the
// driver's consume-isolated at the given isolation level; their offsets
// must rise.
func (c jsClient) consumeIsolated(t *testing.T, addr, topic string, readCommitted bool, n int) []record {
	t.Helper()
	level := "read_uncommitted"
	if readCommitted {
		level = "read_committed"
	}
	lines := c.run(t, 2*time.Minute, "consume-isolated", addr, topic, "--partition", "0",
		"--isolation", level, "--count", strconv.Itoa(n))
	out := make([]record, 0, len(lines))
	last := int64(-1)
	for _, m := range jsDecode[jsRead](t, lines) {
		if m.Error != nil {
			t.Fatalf("%s %s read of %s/0 after %d records: %v", c.name, level, topic, len(out), m.Error)
		}
		if m.Partition == nil || *m.Partition != 0 {
			t.Fatalf("%s %s read of %s/0: record %d is not of partition 0", c.name, level, topic, len(out))
		}
		if m.Offset <= last {
			t.Fatalf("%s %s read of %s/0: record %d at offset %d, after offset %d",
				c.name, level, topic, len(out), m.Offset, last)
		}
		last = m.Offset
		out = append(out, m.record())
	}
	return out
}

package compat

// The Python clients' exactly-once scenarios (eos_test.go). ck.py writes
// idempotently through produce with enable.idempotence=true, runs
// transactions with produce-txns (transactional.id, init_transactions,
// begin_transaction, commit_transaction, abort_transaction) and reads with
// consume-isolated, which sets isolation.level explicitly either way.
// kafka-python 2.0.2 has neither producer, and its consumer has no
// isolation level: its fetcher always asks for read_uncommitted and hands
// control batches' records to the application.

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// eos returns the exactly-once scenarios' view of the client.
func (c pyClient) eos() eosClient {
	e := eosClient{name: c.name, missing: map[string]string{}}
	if c.noIdempotence != "" {
		e.missing[scIdempotent] = c.noIdempotence
		// failover/leader-kill: acks=all (the driver's default), one
		// request in flight so that retries keep the order, and enough
		// retries to outlast an election.
		e.produceAcksAll = func(t *testing.T, addr, topic string, recs []record) error {
			return c.produceTo0(t, addr, topic, recs, nil, "retries=100", "retry_backoff_ms=250",
				"max_in_flight_requests_per_connection=1")
		}
	} else {
		e.produceIdempotent = c.produceIdempotent
	}
	if c.noTransactions == "" {
		e.produceTxns = c.produceTxns
	}
	if c.noIsolation != "" {
		e.missing[scReadCommitted] = c.noIsolation
	} else {
		e.consumeP0 = c.consumeIsolated
	}
	return e
}

// produceIdempotent writes recs to partition 0 with the client's
// idempotent producer; every record must be acknowledged.
func (c pyClient) produceIdempotent(t *testing.T, addr, topic string, recs []record) {
	t.Helper()
	if err := c.produceTo0(t, addr, topic, recs, nil, c.idempotentConf...); err != nil {
		t.Fatalf("%s idempotent produce: %v", c.name, err)
	}
}

// pyTxn is a line of produce-txns' input.
type pyTxn struct {
	Commit  bool       `json:"commit"`
	Records []pyRecord `json:"records"`
}

// produceTxns runs txns with the driver's produce-txns: one transactional
// producer of id txnID, each transaction's records to partition 0.
func (c pyClient) produceTxns(t *testing.T, addr, topic, txnID string, txns []eosTxn) {
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
		if err := enc.Encode(pyTxn{Commit: tx.commit, Records: pyInput(c.writable(tx.recs), &p0, nil)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	out := pyDecode[struct {
		Txn       int      `json:"txn"`
		Commit    bool     `json:"commit"`
		Delivered int      `json:"delivered"`
		Error     *pyError `json:"error"`
	}](t, c.run(t, 2*time.Minute, "produce-txns", addr, topic, "--in", path, "--transactional-id", txnID))
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
func (c pyClient) consumeIsolated(t *testing.T, addr, topic string, readCommitted bool, n int) []record {
	t.Helper()
	level := "read_uncommitted"
	if readCommitted {
		level = "read_committed"
	}
	lines := c.run(t, time.Minute, "consume-isolated", addr, topic, "--partition", "0",
		"--isolation", level, "--count", strconv.Itoa(n))
	out := make([]record, 0, len(lines))
	last := int64(-1)
	for _, m := range pyDecode[struct {
		pyRecord
		Error *pyError `json:"error"`
	}](t, lines) {
		if m.Error != nil {
			t.Fatalf("%s %s read of %s/0: %v", c.name, level, topic, m.Error)
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

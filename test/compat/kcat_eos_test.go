package compat

// kcat's exactly-once scenarios (eos_test.go). `kcat -P -X
// enable.idempotence=true` writes idempotently. `kcat -P -X
// transactional.id=ID` writes all its input in one transaction, committed
// when its input ends and aborted when it gets a termination signal
// (kcat 1.6 and later), so each transaction is one kcat run with the same
// transactional id. `kcat -C -X isolation.level=...` reads, the level set
// explicitly either way (librdkafka's default is read_committed).

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
)

// kcatEOS is kcat's view of the exactly-once scenarios.
func kcatEOS() eosClient {
	return eosClient{
		name:              "kcat",
		produceIdempotent: kcatProduceIdempotent,
		produceFailover:   kcatProduceFailover,
		produceTxns:       kcatProduceTxns,
		consumeP0:         kcatConsumeP0,
	}
}

// kcatInput is kcat -K '\t' input for recs: key<TAB>value lines.
func kcatInput(t *testing.T, recs []record) []byte {
	t.Helper()
	var in bytes.Buffer
	for i, r := range recs {
		if r.Key == nil || r.Value == nil || len(r.Headers) > 0 ||
			bytes.ContainsAny(r.Key, "\t\n") || bytes.ContainsAny(r.Value, "\t\n") {
			t.Fatalf("record %d cannot be written by kcat: %s", i, show(r.Key))
		}
		in.Write(r.Key)
		in.WriteByte('\t')
		in.Write(r.Value)
		in.WriteByte('\n')
	}
	return in.Bytes()
}

// kcatProduceIdempotent writes recs to partition 0 with one idempotent
// kcat.
func kcatProduceIdempotent(t *testing.T, addr, topic string, recs []record) {
	t.Helper()
	cmd := kcatCommand(t, append(kcatArgs("-P", addr, topic), "-p", "0", "-K", `\t`,
		"-X", "enable.idempotence=true", "-X", "linger.ms=5")...)
	cmd.Stdin = bytes.NewReader(kcatInput(t, recs))
	runKcat(t, cmd)
}

// kcatProduceFailover is kcatProduceIdempotent for failover/leader-kill:
// the lines about losing the connection to the killed leader are no
// failure.
func kcatProduceFailover(t *testing.T, addr, topic string, recs []record) {
	t.Helper()
	cmd := kcatCommand(t, append(kcatArgs("-P", addr, topic), "-p", "0", "-K", `\t`,
		"-X", "enable.idempotence=true", "-X", "linger.ms=5")...)
	cmd.Stdin = bytes.NewReader(kcatInput(t, recs))
	if _, err := execKcatIgnoring(t, cmd, failoverTransient); err != nil {
		t.Fatal(err)
	}
}

// kcatProduceTxns runs each transaction as one transactional kcat run.
func kcatProduceTxns(t *testing.T, addr, topic, txnID string, txns []eosTxn) {
	t.Helper()
	for i, tx := range txns {
		args := append(kcatArgs("-P", addr, topic), "-p", "0", "-K", `\t`,
			"-X", "transactional.id="+txnID, "-X", "linger.ms=5")
		if tx.commit {
			cmd := kcatCommand(t, args...)
			cmd.Stdin = bytes.NewReader(kcatInput(t, tx.recs))
			runKcat(t, cmd)
			continue
		}
		kcatAbortTxn(t, addr, topic, i, args, tx.recs)
	}
}

// kcatAbortTxn runs a transactional kcat that writes recs and keeps its
// input open; once the records are in the log (so that the abort has
// records to abort, not queued ones to purge), it sends kcat SIGTERM and
// closes its input, and kcat aborts the transaction.
//
// kcat 1.7.1 reads its input with fread in blocks of 1024 bytes (its issue
// #343, fixed later), so it holds back the lines of a partial block until
// the block fills or the input ends; and once signalled it fails on any
// record still to come. 1024 empty lines after the records, which kcat
// skips, push every record through and leave only empty lines behind.
func kcatAbortTxn(t *testing.T, addr, topic string, txn int, args []string, recs []record) {
	t.Helper()
	adm := brokertest.Admin(t, addr)
	ctx := brokertest.Context(t, 30*time.Second)
	endOf := func() int64 {
		listed, err := adm.ListEndOffsets(ctx, topic)
		if err == nil {
			err = listed.Error()
		}
		o, ok := listed.Lookup(topic, 0)
		if err != nil || !ok {
			t.Fatalf("list end offset of %s/0: %v (found %v)", topic, err, ok)
		}
		return o.Offset
	}
	want := endOf() + int64(len(recs))
	deadline := time.Now().Add(20 * time.Second)

	stdin, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cmd := kcatCommand(t, args...)
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stderr = stdin, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	stop := func() { // kills kcat unless it has exited, so that stderr is complete
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}
	defer stop()
	if _, err := w.Write(append(kcatInput(t, recs), bytes.Repeat([]byte("\n"), 1024)...)); err != nil {
		t.Fatalf("transaction %d: write to kcat: %v", txn, err)
	}
	for end := endOf(); end < want; end = endOf() {
		if time.Until(deadline) < 0 {
			stop()
			t.Fatalf("transaction %d: end offset %d, want %d: kcat's records did not reach the log; stderr ends:\n%s",
				txn, end, want, tail(stderr.String(), 40))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("transaction %d: SIGTERM: %v", txn, err)
	}
	w.Close()
	err = cmd.Wait()
	if problems := kcatProblems(stderr.String()); err != nil || len(problems) > 0 ||
		!strings.Contains(stderr.String(), "Aborting transaction due to termination signal") {
		t.Fatalf("transaction %d: kcat %v: %v\n%s\nstderr ends:\n%s", txn, args[:min(6, len(args))], err,
			strings.Join(problems, "\n"), tail(stderr.String(), 40))
	}
}

// kcatProblems are kcat's error lines in stderr, as execKcat sees them.
func kcatProblems(stderr string) []string {
	var out []string
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, "% ERROR") || strings.HasPrefix(line, "% Delivery failed") ||
			strings.HasPrefix(line, "%0|") || strings.HasPrefix(line, "%1|") ||
			strings.HasPrefix(line, "%2|") || strings.HasPrefix(line, "%3|") {
			out = append(out, line)
		}
	}
	return out
}

// kcatConsumeP0 reads partition 0 from its start with the given isolation
// level until it has n records or reaches the partition's end (-e: the
// end offset, or the last stable offset for read_committed); their offsets
// must rise.
func kcatConsumeP0(t *testing.T, addr, topic string, readCommitted bool, n int) []record {
	t.Helper()
	level := "read_uncommitted"
	if readCommitted {
		level = "read_committed"
	}
	out := runKcat(t, kcatCommand(t, append(kcatArgs("-C", addr, topic), "-p", "0", "-o", "beginning",
		"-c", fmt.Sprint(n), "-e", "-J", "-X", "isolation.level="+level)...))
	var recs []record
	last := int64(-1)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var m kcatMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("kcat output line %q: %v", sc.Bytes(), err)
		}
		if len(m.Headers) > 0 {
			t.Fatalf("kcat %s read of %s/0: record %d has headers %v; none were written", level, topic, len(recs), m.Headers)
		}
		if m.Partition != 0 || m.Offset <= last {
			t.Fatalf("kcat %s read of %s/0: record %d at %d@%d, after offset %d",
				level, topic, len(recs), m.Partition, m.Offset, last)
		}
		last = m.Offset
		recs = append(recs, record{Key: strBytes(m.Key), Value: strBytes(m.Payload)})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return recs
}

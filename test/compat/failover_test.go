package compat

// failover/leader-kill (cluster mode only): the client writes
// failoverRecords records to partition 0 of a topic with replication
// factor 3 and min.insync.replicas 2, with acks=all, while the test
// SIGKILLs the partition's leader once a few of them are acknowledged;
// the client must carry on with the new leader, and every record must be
// acknowledged. The killed node is restarted once the client is done, and
// the cell ends when it is back in the ISR, so the next test meets a
// whole cluster. kgo then reads partition 0:
//
//   - an idempotent producer (eosClient.produceIdempotent): every record
//     exactly once, in the order written;
//   - a producer without idempotence (produceAcksAll, one request in
//     flight, retries on): every record at least once, their first
//     copies in the order written. A retry of a request whose response
//     was lost with the leader writes its records again, so duplicates
//     are allowed and counted in the log.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	scFailover = "failover/leader-kill"
	// failoverRecords is how many records a client writes; the leader is
	// killed once failoverKillAt of them are acknowledged.
	failoverRecords = 50000
	failoverKillAt  = 1000
	// failoverPadding is added to each value, so that even the fastest
	// client needs seconds for the records.
	failoverPadding = 200
	// isrTimeout bounds how long the restarted node may take to be back
	// in the ISR of the topic.
	isrTimeout = time.Minute
)

// runFailoverCell registers the failover cell of a client: skipped in
// single-node mode, without a matrix entry, so the single-node matrix
// has no such row.
func runFailoverCell(t *testing.T, addr string, c eosClient) {
	switch {
	case compatCluster == nil:
		t.Run(scFailover, func(t *testing.T) { t.Skip("n/a: needs " + clusterEnv + "=3") })
	case c.produceFailover != nil || c.produceIdempotent != nil || c.produceAcksAll != nil:
		cell(t, c.name, scFailover, func(t *testing.T) { runFailover(t, addr, c) })
	default:
		why, ok := c.missing[scIdempotent]
		if !ok {
			t.Fatalf("%s: %s: the client offers no producer for it and no reason why", c.name, scFailover)
		}
		unsupported(c.name, scFailover, why)
	}
}

func runFailover(t *testing.T, addr string, c eosClient) {
	topic := eosTopic(t, addr, c.name, scFailover)
	leader := partitionLeader(t, addr, topic, 0)
	recs := textRecords("failover", failoverRecords)
	pad := strings.Repeat("p", failoverPadding)
	for i := range recs {
		recs[i].Value = append(recs[i].Value, pad...)
	}
	adm := brokertest.Admin(t, addr)
	if _, err := adm.ListEndOffsets(brokertest.Context(t, 10*time.Second), topic); err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	var produceErr error
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done) // also when the driver fails the test and exits the goroutine
		switch {
		case c.produceFailover != nil:
			c.produceFailover(t, addr, topic, recs)
		case c.produceIdempotent != nil:
			c.produceIdempotent(t, addr, topic, recs)
		default:
			produceErr = c.produceAcksAll(t, addr, topic, recs)
		}
	}()
	at := waitEndOffset(t, adm, topic, failoverKillAt, done)
	select {
	case <-done:
		if produceErr != nil || t.Failed() {
			t.Fatalf("%s produce failed before the leader kill: %.2000v", c.name, produceErr)
		}
		t.Fatalf("%s acknowledged all %d records before the leader could be killed (end offset %d seen): "+
			"raise failoverRecords", c.name, failoverRecords, at)
	default:
	}
	compatCluster.Kill(t, leader)
	t.Logf("%v: killed node %d, the leader of %s/0, at end offset %d", time.Since(start).Round(time.Millisecond), leader, topic, at)
	<-done
	t.Logf("%v: %s done writing %d records", time.Since(start).Round(time.Millisecond), c.name, failoverRecords)
	took := compatCluster.Restart(t, leader)
	t.Logf("%v: node %d restarted, ready after %v", time.Since(start).Round(time.Millisecond), leader, took.Round(time.Millisecond))
	defer waitFullISR(t, addr, topic)
	if t.Failed() {
		return
	}
	if produceErr != nil {
		t.Fatalf("%s produce across the leader kill: %.2000s", c.name, produceErr)
	}
	end := endOffsets(t, addr, topic)[0]
	got, _ := kgoReadP0(t, addr, topic, false, int(end))
	if c.produceAcksAll == nil {
		checkSequence(t, c.name+" wrote across a leader kill, kgo read", recs, got)
		return
	}
	checkAtLeastOnce(t, c.name+" wrote across a leader kill, kgo read", recs, got)
}

// checkAtLeastOnce checks that got holds every record of want, the first
// copy of each in want's order, and nothing else; it logs duplicates.
func checkAtLeastOnce(t *testing.T, what string, want, got []record) {
	t.Helper()
	index := make(map[string]int, len(want))
	for i, r := range want {
		index[string(r.Key)] = i
	}
	next, dups := 0, 0
	for j, g := range got {
		i, ok := index[string(g.Key)]
		switch {
		case !ok:
			t.Fatalf("%s: record %d has unknown key %s", what, j, show(g.Key))
		case i < next:
			dups++
		case i > next:
			t.Fatalf("%s: record %d is %d; record %d is missing or out of order", what, j, i, next)
		default:
			if d := diff(want[i], g); d != "" {
				t.Fatalf("%s: record %d: %s", what, i, d)
			}
			next++
		}
	}
	if next != len(want) {
		t.Fatalf("%s: %d of %d records read", what, next, len(want))
	}
	t.Logf("%s: all %d records, %d duplicates written by retries", what, len(want), dups)
}

// partitionLeader is the node id leading topic's partition p.
func partitionLeader(t *testing.T, addr, topic string, p int32) int32 {
	t.Helper()
	md, err := brokertest.Admin(t, addr).Metadata(brokertest.Context(t, 10*time.Second), topic)
	if err != nil {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	pd, ok := md.Topics[topic].Partitions[p]
	if !ok || pd.Err != nil || pd.Leader < 0 {
		t.Fatalf("metadata of %s: partition %d: %+v", topic, p, pd)
	}
	return pd.Leader
}

// waitEndOffset waits until partition 0 of topic has an end offset of at
// least n, or until done is closed, and returns the last end offset seen.
func waitEndOffset(t *testing.T, adm *kadm.Client, topic string, n int64, done <-chan struct{}) int64 {
	t.Helper()
	ctx := brokertest.Context(t, time.Minute)
	var at int64
	for ctx.Err() == nil {
		if listed, err := adm.ListEndOffsets(ctx, topic); err == nil {
			if o, ok := listed.Lookup(topic, 0); ok && o.Err == nil {
				at = o.Offset
			}
		}
		if at >= n {
			return at
		}
		select {
		case <-done:
			return at
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("end offset of %s/0 still %d after a minute, want %d", topic, at, n)
	return at
}

// waitFullISR waits until every partition of topic has all its replicas
// in the ISR, so that a restarted node is a full member again.
func waitFullISR(t *testing.T, addr, topic string) {
	t.Helper()
	// kgo answers a Metadata request younger than MetadataMinAge (5 s by
	// default) from its cache, which would show a short ISR for that long.
	adm := kadm.NewClient(brokertest.Client(t, addr, kgo.MetadataMinAge(10*time.Millisecond)))
	ctx := brokertest.Context(t, isrTimeout)
	start := time.Now()
	var last string
	for {
		if last = isrShort(ctx, adm, topic); last == "" {
			t.Logf("%s: every ISR full %v after the restart", topic, time.Since(start).Round(time.Millisecond))
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: ISR not full %v after the restart: %s", topic, isrTimeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// isrShort describes the first partition of topic whose ISR lacks a
// replica, or returns "" when there is none.
func isrShort(ctx context.Context, adm *kadm.Client, topic string) string {
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return err.Error()
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return fmt.Sprintf("topic missing: %v", td.Err)
	}
	for _, p := range td.Partitions.Sorted() {
		if p.Err != nil || p.Leader < 0 || len(p.ISR) != len(p.Replicas) {
			return fmt.Sprintf("partition %d: leader %d, ISR %v of replicas %v (%v)", p.Partition, p.Leader, p.ISR, p.Replicas, p.Err)
		}
	}
	return ""
}

// failoverTransient reports whether a client's error line is about losing
// the connection to a node, which failover/leader-kill expects.
func failoverTransient(line string) bool {
	for _, m := range []string{"Connection refused", "connection refused", "Broker transport failure",
		"Disconnected", "connection reset", "All broker connections are down"} {
		if strings.Contains(line, m) {
			return true
		}
	}
	return false
}

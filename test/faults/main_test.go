// Package faults is the cluster's fault checker, in the spirit of Jepsen's
// Kafka queue workload: three `strata server` processes on loopback, a
// topic with replication factor 3 and min.insync.replicas 2, idempotent
// acks=all producers and a consumer group running continuously, and one
// fault per round chosen at random (SIGKILL of a partition leader or of
// the active controller, SIGSTOP pauses longer than the session timeout,
// network partitions between nodes, a full disk). Each fault heals after a
// short random time and the next round starts once every ISR is full
// again. Afterwards every replica's log is read from disk and the history
// is checked: no acknowledged record lost, none duplicated, per-partition
// order kept, no offset holding two different records, no consumer read of
// a record that is later absent (above the high watermark).
//
//	go test ./test/faults                           20 rounds (CI)
//	STRATA_FAULT_ROUNDS=200 go test -timeout 60m ./test/faults -run TestFaults -v
//	STRATA_TEST_SEED=N ...                          replays a schedule
package faults

import (
	"fmt"
	"os"
	"testing"

	"github.com/strata-db/strata/test/clustertest"
)

// strataBin is the binary built by TestMain.
var strataBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	bin, dir, err := clustertest.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	strataBin = bin
	return m.Run()
}

// Package cluster runs three `strata server` processes on loopback as a
// cluster and checks what phase A of the cluster issue promises: the
// metadata quorum, brokers in zones seen from every node, placement over
// the brokers, per-partition leaders, failover of the active controller,
// a restarted node rejoining, and clear start-up errors for bad input.
//
// The binary is built once per test run (TestMain). Server logs go to a
// file per process and are printed when a test fails (always with
// STRATA_CLUSTER_LOGS set).
package cluster

import (
	"fmt"
	"os"
	"testing"

	"github.com/strata-db/strata/test/clustertest"
)

// strataBin is the binary built by TestMain.
var strataBin string

func TestMain(m *testing.M) {
	bin, dir, err := clustertest.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
	strataBin = bin
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

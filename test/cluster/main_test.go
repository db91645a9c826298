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
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// strataBin is the binary built by TestMain.
var strataBin string

func TestMain(m *testing.M) {
	code, err := buildAndRun(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func buildAndRun(m *testing.M) (int, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return 0, fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	dir, err := os.MkdirTemp("", "strata-cluster-bin-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	strataBin = filepath.Join(dir, "strata")
	cmd := exec.Command("go", "build", "-o", strataBin, "./cmd/strata")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("build strata: %w\n%s", err, out)
	}
	return m.Run(), nil
}

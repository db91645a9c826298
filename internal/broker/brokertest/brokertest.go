// Package brokertest starts real Strata nodes for tests: in-process on
// loopback ports, or as a separate strata process that a test can kill.
package brokertest

import (
	"log/slog"
	"os"
	"testing"

	"github.com/strata-db/strata/internal/broker"
)

// Start runs a single-node cluster in a temporary data directory on free
// loopback ports and closes it when the test ends (with STRATA_TEST_CLUSTER
// set, a multi-node cluster: cluster.go). mutate may change the
// config before start (a mutate that sets Static replaces the short
// initial rebalance delay tests get by default).
func Start(t testing.TB, mutate ...func(*broker.Config)) *broker.Broker {
	t.Helper()
	cfg := baseConfig(t, mutate)
	if n := clusterSize(); n > 1 {
		return startCluster(t, cfg, n)
	}
	b, err := broker.Start(cfg)
	if err != nil {
		t.Fatalf("start broker: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close broker: %v", err)
		}
	})
	return b
}

// baseConfig is a node's config on loopback ports and a temporary data
// directory, changed by mutate.
func baseConfig(t testing.TB, mutate []func(*broker.Config)) broker.Config {
	cfg := broker.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.HTTP = "127.0.0.1:0"
	cfg.Logger = Logger()
	// Kafka waits 3 s before a new group's first rebalance; tests need no
	// such wait for members that start together.
	cfg.Static = map[string]string{"group.initial.rebalance.delay.ms": "200"}
	for _, m := range mutate {
		m(&cfg)
	}
	return cfg
}

// Logger logs warnings and errors to stderr, or everything when
// STRATA_TEST_LOG=debug.
func Logger() *slog.Logger {
	level := slog.LevelWarn
	if os.Getenv("STRATA_TEST_LOG") == "debug" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

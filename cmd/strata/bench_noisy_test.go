package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/strata-db/strata/internal/bench"
)

// TestBenchNoisySmoke runs `strata bench noisy --control` for a few seconds
// against a freshly built binary: it must set up both tenants (and A's
// twin on the control node), throttle A on both nodes and measure B. The
// targets themselves are a benchmark's figures (README), not this test's.
func TestBenchNoisySmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts a server")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "strata")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "out")
	mustStrata(t, "bench", "noisy", "--strata-bin", bin, "--out", out, "--work-dir", dir,
		"--quota-mbps", "1", "--duration", "3s", "--warmup", "1s", "--partitions", "2", "--rounds", "2", "--control")
	raw, err := os.ReadFile(filepath.Join(out, "noisy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res bench.NoisyResult
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatal(err)
	}
	t.Logf("A %.2f MB/s under a 1 MB/s quota; B p99 %.2f ms alone, %.2f ms with A",
		res.AShared.AckRateMBps, res.BAlone.E2E.P99Ms, res.BShared.E2E.P99Ms)
	if a := res.AShared.AckRateMBps; a <= 0 || a > 3 {
		t.Errorf("A, offered 10 MB/s, acknowledged at %.2f MB/s under a 1 MB/s quota", a)
	}
	if res.BAlone.E2E.Count == 0 || res.BShared.E2E.Count == 0 {
		t.Errorf("no end-to-end latency of B measured")
	}
	if a := res.AControl.AckRateMBps; a <= 0 || a > 3 {
		t.Errorf("A on the control node, offered 10 MB/s, acknowledged at %.2f MB/s under a 1 MB/s quota", a)
	}
	if len(res.Rounds) != 2 {
		t.Fatalf("%d rounds, want 2", len(res.Rounds))
	}
	// The pooled histograms hold every round's records.
	for name, pooled := range map[string]uint64{"alone": res.BAlone.E2E.Count, "with A": res.BShared.E2E.Count, "with A elsewhere": res.BControl.E2E.Count} {
		var sum uint64
		for _, r := range res.Rounds {
			switch name {
			case "alone":
				sum += r.BAlone.E2E.Count
			case "with A":
				sum += r.BShared.E2E.Count
			default:
				sum += r.BControl.E2E.Count
			}
		}
		if pooled != sum {
			t.Errorf("B %s: pooled %d latencies, the rounds %d", name, pooled, sum)
		}
	}
}

package bench

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// startKfake runs an in-process single-broker kfake for one test.
func startKfake(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

func TestRunEndToEndAgainstKfake(t *testing.T) {
	addr := startKfake(t)
	cfg := DefaultRunConfig()
	cfg.Bootstrap = []string{addr}
	cfg.MBps, cfg.Partitions, cfg.Keys = 4, 6, 100
	cfg.Warmup, cfg.Duration = 500*time.Millisecond, 2*time.Second
	var progress []string
	cfg.Progress = func(s string) { progress = append(progress, s) }
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The report a command line writes, read back as JSON.
	path := filepath.Join(t.TempDir(), "run.json")
	if err := WriteJSON(path, res); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	var got RunResult
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", raw)
	if !got.TargetReached || got.InMBps < 3.6 || got.InMBps > 4.4 || got.OutMBps < 3.6 || got.OutMBps > 4.4 {
		t.Errorf("throughput in %.2f out %.2f MB/s, want 4 (reached %v)", got.InMBps, got.OutMBps, got.TargetReached)
	}
	if got.ProduceErrors+got.ConsumeErrors != 0 || got.Missing != 0 || got.Acked == 0 || got.Consumed != got.Acked {
		t.Errorf("records produced %d acked %d consumed %d missing %d errors %d/%d",
			got.Produced, got.Acked, got.Consumed, got.Missing, got.ProduceErrors, got.ConsumeErrors)
	}
	// 4 MB/s of 1 KiB for 2 s: about 8192 records measured.
	for name, s := range map[string]LatencySummary{"e2e": got.E2E, "ack": got.Ack} {
		if s.Count < 7000 || s.Count > 9500 {
			t.Errorf("%s count %d, want ~8192", name, s.Count)
		}
		if !(s.P50Ms > 0 && s.P50Ms <= s.P95Ms && s.P95Ms <= s.P99Ms && s.P99Ms <= s.P999Ms && s.P999Ms <= s.MaxMs && s.MaxMs < 2000) {
			t.Errorf("%s latencies not ordered or not sane: %+v", name, s)
		}
	}
	if got.E2E.P50Ms < got.Ack.P50Ms/10 {
		t.Errorf("e2e p50 %.3f ms far below ack p50 %.3f ms", got.E2E.P50Ms, got.Ack.P50Ms)
	}
	w := got.Workload
	if w.Partitions != 6 || w.TargetMBps != 4 || w.Acks != "all" || w.Keys != 100 || w.Bootstrap != addr {
		t.Errorf("workload echo %+v", w)
	}
	if len(progress) < 2 {
		t.Errorf("progress lines: %q", progress)
	}
	if got.ClientCPUSeconds <= 0 {
		t.Errorf("client cpu %.2f s", got.ClientCPUSeconds)
	}
}

func TestRunOnExistingTopicAndShortfall(t *testing.T) {
	addr := startKfake(t)
	ctx := context.Background()
	adm, err := dialAdmin(ctx, []string{addr})
	if err != nil {
		t.Fatal(err)
	}
	defer adm.close()
	topics, err := adm.createTopics(ctx, "existing", 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultRunConfig()
	cfg.Bootstrap, cfg.Topic = []string{addr}, topics[0]
	// A target no loopback broker reaches in 300 ms with one in-flight
	// request and tiny batches: the run must say it fell short.
	cfg.MBps, cfg.RecordSize, cfg.BatchBytes, cfg.MaxInflight = 100_000, 64, 512, 1
	cfg.Warmup, cfg.Duration = 0, 300*time.Millisecond
	res, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.TargetReached || !strings.Contains(strings.Join(res.Notes, " "), "NOT reached") {
		t.Errorf("shortfall not reported: in %.1f MB/s, notes %q", res.InMBps, res.Notes)
	}
	if res.Workload.Partitions != 3 {
		t.Errorf("partitions of existing topic: %d", res.Workload.Partitions)
	}
	// The existing topic is kept.
	if _, err := adm.partitions(ctx, topics); err != nil {
		t.Errorf("existing topic deleted: %v", err)
	}
}

func TestRunBadInput(t *testing.T) {
	addr := startKfake(t)
	closed := func() string { // a port nothing listens on
		a, err := freeLoopbackAddr()
		if err != nil {
			t.Fatal(err)
		}
		return a
	}()
	cases := []struct {
		name string
		edit func(*RunConfig)
		want string
	}{
		{"unreachable", func(c *RunConfig) { c.Bootstrap = []string{closed} }, "unreachable"},
		{"unknown topic", func(c *RunConfig) { c.Topic = "no-such-topic" }, "no-such-topic"},
		{"zero duration", func(c *RunConfig) { c.Duration = 0 }, "duration"},
		{"bad acks and partitions", func(c *RunConfig) { c.Acks, c.Partitions = 2, 0 }, "acks 2"},
		{"tiny record", func(c *RunConfig) { c.RecordSize = 4 }, "record size"},
		{"bad codec", func(c *RunConfig) { c.Compression = "brotli" }, "brotli"},
		{"bad partitioner", func(c *RunConfig) { c.Partitioner = "random" }, "partitioner"},
		{"batch below record", func(c *RunConfig) { c.BatchBytes = 1000 }, "batch size 1000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultRunConfig()
			cfg.Bootstrap = []string{addr}
			cfg.Duration, cfg.Warmup = 200*time.Millisecond, 0
			tc.edit(&cfg)
			start := time.Now()
			_, err := Run(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			if time.Since(start) > 15*time.Second {
				t.Errorf("took %s to fail", time.Since(start))
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	for in, want := range map[string]float64{"20": 20, "20MB/s": 20, "unlimited": 0, "Unlimited": 0, "0.5": 0.5} {
		if got, err := ParseThroughput(in); err != nil || got != want {
			t.Errorf("ParseThroughput(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"fast", "-3", ""} {
		if _, err := ParseThroughput(bad); err == nil {
			t.Errorf("ParseThroughput(%q) accepted", bad)
		}
	}
	for in, want := range map[string]int16{"all": -1, "-1": -1, "0": 0, "1": 1} {
		if got, err := ParseAcks(in); err != nil || got != want {
			t.Errorf("ParseAcks(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseAcks("2"); err == nil {
		t.Error("acks 2 accepted")
	}
}

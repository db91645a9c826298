package bench

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sampleReport is a comparison of two systems on three workloads; strata
// misses the 100 MB/s target and beats kfake-mem elsewhere.
func sampleReport() *Report {
	res := func(target, in, p50, p99 float64) *RunResult {
		r := &RunResult{
			Workload: Workload{TargetMBps: target, Partitions: 12, RecordSize: 1024},
			InMBps:   in, OutMBps: in, Acked: 1000, Consumed: 1000,
			E2E: LatencySummary{Count: 1000, P50Ms: p50, P95Ms: p99 * 0.8, P99Ms: p99, P999Ms: p99 * 1.2, MaxMs: p99 * 1.5},
			Ack: LatencySummary{Count: 1000, P99Ms: p99 / 2},
		}
		r.judge(&RunConfig{MBps: target, Drain: time.Second})
		return r
	}
	usage := ServerUsage{CPUSeconds: 1.5, CPUCores: 0.3, IdleRSSBytes: 30 * MB, PeakRSSBytes: 90 * MB}
	return &Report{
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), ElapsedS: 42, Preset: "quick",
		Machine: Machine{CPUs: 2, CPUModel: "Test CPU", MemoryMB: 4096, Kernel: "6.1", GoArch: "linux/amd64", Go: "go1.26"},
		Limits:  MachineLimits{LoopbackMBps: 2000, DiskWriteMBps: 500, Fsync: LatencySummary{P50Ms: 0.5, P99Ms: 2}},
		Systems: []string{"strata", "kfake-mem"},
		Workload: Workload{RecordSize: 1024, Partitioner: "sticky", Acks: "all", Compression: "none",
			BatchBytes: 1 << 20, MaxInflight: 5, Producers: 1, Consumers: 1, Topics: 1, DurationS: 4, WarmupS: 1},
		Points: []PointResult{
			{System: "strata", Point: GridPoint{20, 12}, Result: res(20, 20, 0.3, 1.5), Server: usage},
			{System: "kfake-mem", Point: GridPoint{20, 12}, Result: res(20, 20, 0.4, 7.2), Server: usage},
			{System: "kfake-mem", Point: GridPoint{100, 12}, Result: res(100, 99, 2, 1600), Server: usage},
			{System: "strata", Point: GridPoint{100, 12}, Result: res(100, 80, 5, 40), Server: usage},
			{System: "strata", Point: GridPoint{0, 12}, Result: res(0, 300, 50, 900), Server: usage},
			{System: "kfake-mem", Point: GridPoint{0, 12}, Error: "bench: kfake-mem exited"},
			{System: "strata", Point: GridPoint{20, 1200}, Result: res(20, 20, 1, 3.5), Server: usage},
		},
	}
}

func TestMarkdownReport(t *testing.T) {
	rep := sampleReport()
	rep.Targets = CheckTargets(rep)
	var b strings.Builder
	if err := WriteMarkdown(&b, rep); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"| workload | strata | kfake-mem |",
		"| 12 partitions, 20 MB/s | 1.50 ms | 7.20 ms |",
		"| 12 partitions, 100 MB/s | 40.0 ms (80 MB/s*) | 1.60 s |",
		"| 12 partitions, unlimited | 900 ms (300 MB/s) | failed |",
		"| 12 | unlimited | kfake-mem |" + strings.Repeat(" |", 12) + " bench: kfake-mem exited |",
		"loopback TCP 2000 MB/s",
		"target 100 MB/s NOT reached",
		"| p99 e2e < 2.00 ms at 20 MB/s, 12 partitions | 1.50 ms | yes |",
		"| p99 e2e < 15.0 ms at 100 MB/s, 12 partitions | 40.0 ms (target not reached: 80 MB/s) | **no** |",
		"| p99 e2e < 4.00 ms at 20 MB/s, 1200 partitions | 3.50 ms | yes |",
		"| unlimited, 12 partitions: > 250 MB/s | 300 MB/s | yes |",
		"| unlimited, 12 partitions: >= 50% of loopback TCP | 15% (300 of 2000 MB/s) | **no** |",
		"| p99 e2e never above kfake-mem's | below or equal on 2 of 2 workloads | yes |",
		"| RSS with 1200 idle partitions < 200 MiB | 30 MiB | yes |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q\n%s", want, md)
		}
	}
	// Rows of the detail table are grouped by workload in run order.
	if i, j := strings.Index(md, "| 12 | 100 MB/s | kfake-mem"), strings.Index(md, "| 12 | 20 MB/s | kfake-mem"); i < j {
		t.Error("detail rows not in workload order")
	}
}

func TestRunMarkdown(t *testing.T) {
	r := sampleReport().Points[3].Result
	var b strings.Builder
	if err := WriteRunMarkdown(&b, r); err != nil {
		t.Fatal(err)
	}
	if s := b.String(); !strings.Contains(s, "| 80.0 | 80.0 | 5.00 ms |") || !strings.Contains(s, "**Note:** target 100 MB/s NOT reached") {
		t.Errorf("run markdown:\n%s", s)
	}
}

func TestSVGIsWellFormedWithALinePerSystem(t *testing.T) {
	var b strings.Builder
	if err := WriteSVG(&b, sampleReport()); err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(strings.NewReader(b.String()))
	counts := map[string]int{}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG not well-formed: %v\n%s", err, b.String())
		}
		if se, ok := tok.(xml.StartElement); ok {
			counts[se.Name.Local]++
		}
	}
	// Panels: 12 and 1200 partitions. Series: strata in both, kfake-mem in
	// the first; each series has a p95 and a p99 polyline.
	if counts["polyline"] != 2*3 {
		t.Errorf("%d polylines, want 6", counts["polyline"])
	}
	if counts["circle"] != 6 { // 3+2 points at 12, 1 at 1200
		t.Errorf("%d markers, want 6", counts["circle"])
	}
	var empty strings.Builder
	if err := WriteSVG(&empty, &Report{}); err != nil || !strings.Contains(empty.String(), "no results") {
		t.Errorf("empty report SVG: %v %q", err, empty.String())
	}
}

func TestJSONRoundTrip(t *testing.T) {
	rep := sampleReport()
	path := filepath.Join(t.TempDir(), "r.json")
	if err := WriteJSON(path, rep); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Points) != len(rep.Points) || back.Points[0].Result.E2E.P99Ms != 1.5 || back.Limits.LoopbackMBps != 2000 {
		t.Errorf("round trip lost figures: %+v", back.Points[0])
	}
	for _, key := range []string{`"p99_ms"`, `"p99_9_ms"`, `"in_mb_s"`, `"target_reached"`, `"peak_rss_bytes"`, `"loopback_tcp_mb_s"`, `"fsync_latency"`} {
		if !strings.Contains(string(raw), key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
	if err := WriteJSON(filepath.Join(t.TempDir(), "no", "such", "dir.json"), rep); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

func TestFormatting(t *testing.T) {
	cases := []struct {
		ms   float64
		want string
	}{{0.123, "0.12 ms"}, {2.716, "2.72 ms"}, {27.34, "27.3 ms"}, {136.4, "136 ms"}, {1620, "1.62 s"}}
	for _, tc := range cases {
		if got := fmtMs(tc.ms); got != tc.want {
			t.Errorf("fmtMs(%v) = %q, want %q", tc.ms, got, tc.want)
		}
	}
	for _, tc := range []struct{ v, want float64 }{{0, 1}, {207, 250}, {96, 100}, {101, 150}, {3.3, 4}} {
		if got := niceCeil(tc.v); got != tc.want {
			t.Errorf("niceCeil(%v) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// WriteJSON writes v, indented, to path.
func WriteJSON(path string, v any) error {
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("bench: encode %s: %w", path, err)
	}
	if err := os.WriteFile(path, append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

// fmtMs shows a latency with about three significant digits.
func fmtMs(ms float64) string {
	switch {
	case ms >= 1000:
		return fmt.Sprintf("%.2f s", ms/1000)
	case ms >= 100:
		return fmt.Sprintf("%.0f ms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1f ms", ms)
	}
	return fmt.Sprintf("%.2f ms", ms)
}

func fmtMiB(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/MB) }

func targetLabel(mbps float64) string {
	if mbps == 0 {
		return "unlimited"
	}
	return fmt.Sprintf("%g MB/s", mbps)
}

// describeWorkload is the one-line form of the knobs a report's rows share.
func describeWorkload(w Workload) string {
	s := fmt.Sprintf("%d B random values", w.RecordSize)
	if w.Keys > 0 {
		s += fmt.Sprintf(", %d keys", w.Keys)
	} else {
		s += ", no keys, " + w.Partitioner + " partitioner"
	}
	s += fmt.Sprintf(", acks=%s, compression %s, linger %gms, batch %d B, %d in flight, %d producer(s), %d consumer(s), %d topic(s), warm-up %gs then %gs measured",
		w.Acks, w.Compression, w.LingerMs, w.BatchBytes, w.MaxInflight, w.Producers, w.Consumers, w.Topics, w.WarmupS, w.DurationS)
	return s
}

// WriteRunMarkdown writes one run's figures as a short Markdown table.
func WriteRunMarkdown(w io.Writer, r *RunResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Workload: %s, %d partitions, target %s, bootstrap %s. 1 MB = 2^20 bytes.\n\n",
		describeWorkload(r.Workload), r.Workload.Partitions, targetLabel(r.Workload.TargetMBps), r.Workload.Bootstrap)
	b.WriteString("| in MB/s | out MB/s | e2e p50 | e2e p95 | e2e p99 | e2e p99.9 | e2e max | ack p50 | ack p99 | ack max | records | errors | client cpu-s |\n")
	b.WriteString("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	fmt.Fprintf(&b, "| %.1f | %.1f | %s | %s | %s | %s | %s | %s | %s | %s | %d | %d | %.1f |\n",
		r.InMBps, r.OutMBps, fmtMs(r.E2E.P50Ms), fmtMs(r.E2E.P95Ms), fmtMs(r.E2E.P99Ms), fmtMs(r.E2E.P999Ms),
		fmtMs(r.E2E.MaxMs), fmtMs(r.Ack.P50Ms), fmtMs(r.Ack.P99Ms), fmtMs(r.Ack.MaxMs), r.Acked,
		r.ProduceErrors+r.ConsumeErrors, r.ClientCPUSeconds)
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n**Note:** %s\n", n)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes a comparison: the machine and its limits, a p99
// table with a column per system, every figure per (workload, system), and
// the targets.
func WriteMarkdown(w io.Writer, rep *Report) error {
	var b strings.Builder
	m := rep.Machine
	fmt.Fprintf(&b, "Preset `%s`, %s, %.0f s. Machine: %d CPUs (%s), %d MiB RAM, Linux %s, %s, %s.\n\n",
		rep.Preset, rep.Started.Format("2006-01-02 15:04 MST"), rep.ElapsedS, m.CPUs, m.CPUModel, m.MemoryMB, m.Kernel, m.Go, m.GoArch)
	l := rep.Limits
	fmt.Fprintf(&b, "Machine limits, same run: loopback TCP %.0f MB/s (one stream); sequential write %.0f MB/s; fsync of 4 KiB p50 %s, p99 %s, max %s (%s).\n\n",
		l.LoopbackMBps, l.DiskWriteMBps, fmtMs(l.Fsync.P50Ms), fmtMs(l.Fsync.P99Ms), fmtMs(l.Fsync.MaxMs), l.DiskDir)
	fmt.Fprintf(&b, "Workload: %s. Clients and servers share the machine. 1 MB = 2^20 bytes. `*` = target throughput not reached.\n\n", describeWorkload(rep.Workload))
	writeP99Table(&b, rep)
	writeDetailTable(&b, rep)
	if len(rep.Targets) > 0 {
		b.WriteString("\nTargets (issue 4), for `strata`:\n\n| target | measured | met |\n| --- | --- | --- |\n")
		for _, t := range rep.Targets {
			met := "yes"
			if !t.Met {
				met = "**no**"
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", t.Target, t.Got, met)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// points returns the report's grid points in run order, deduplicated.
func (rep *Report) points() []GridPoint {
	var out []GridPoint
	seen := map[GridPoint]bool{}
	for _, p := range rep.Points {
		if !seen[p.Point] {
			seen[p.Point] = true
			out = append(out, p.Point)
		}
	}
	return out
}

func writeP99Table(b *strings.Builder, rep *Report) {
	b.WriteString("p99 end-to-end latency (achieved throughput when the target was missed or unlimited):\n\n| workload |")
	for _, s := range rep.Systems {
		fmt.Fprintf(b, " %s |", s)
	}
	b.WriteString("\n| --- |" + strings.Repeat(" ---: |", len(rep.Systems)) + "\n")
	for _, pt := range rep.points() {
		fmt.Fprintf(b, "| %d partitions, %s |", pt.Partitions, targetLabel(pt.MBps))
		for _, s := range rep.Systems {
			r := findResult(rep, s, pt)
			switch {
			case r == nil:
				b.WriteString(" failed |")
			case pt.MBps == 0:
				fmt.Fprintf(b, " %s (%.0f MB/s) |", fmtMs(r.E2E.P99Ms), r.InMBps)
			case !r.TargetReached:
				fmt.Fprintf(b, " %s (%.0f MB/s*) |", fmtMs(r.E2E.P99Ms), r.InMBps)
			default:
				fmt.Fprintf(b, " %s |", fmtMs(r.E2E.P99Ms))
			}
		}
		b.WriteString("\n")
	}
}

func writeDetailTable(b *strings.Builder, rep *Report) {
	b.WriteString("\nAll figures (e2e: send to receive; ack: send to acknowledgement; server: the server process during the workload):\n\n")
	b.WriteString("| partitions | target | system | in MB/s | out MB/s | e2e p50 | e2e p95 | e2e p99 | e2e p99.9 | e2e max | ack p99 | server cpu-s | server cores | idle RSS | peak RSS | notes |\n")
	b.WriteString("| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	rows := append([]PointResult(nil), rep.Points...)
	order := map[GridPoint]int{}
	for i, pt := range rep.points() {
		order[pt] = i
	}
	sort.SliceStable(rows, func(i, j int) bool { return order[rows[i].Point] < order[rows[j].Point] })
	for _, p := range rows {
		fmt.Fprintf(b, "| %d | %s | %s |", p.Point.Partitions, targetLabel(p.Point.MBps), p.System)
		r := p.Result
		if r == nil {
			b.WriteString(strings.Repeat(" |", 12) + " " + escapeCell(p.Error) + " |\n")
			continue
		}
		star := ""
		if !r.TargetReached {
			star = "*"
		}
		notes := strings.Join(r.Notes, "; ")
		if p.Error != "" {
			notes = strings.TrimPrefix(notes+"; "+p.Error, "; ")
		}
		fmt.Fprintf(b, " %.1f%s | %.1f | %s | %s | %s | %s | %s | %s | %.1f | %.2f | %s | %s | %s |\n",
			r.InMBps, star, r.OutMBps, fmtMs(r.E2E.P50Ms), fmtMs(r.E2E.P95Ms), fmtMs(r.E2E.P99Ms), fmtMs(r.E2E.P999Ms),
			fmtMs(r.E2E.MaxMs), fmtMs(r.Ack.P99Ms), p.Server.CPUSeconds, p.Server.CPUCores,
			fmtMiB(p.Server.IdleRSSBytes), fmtMiB(p.Server.PeakRSSBytes), escapeCell(notes))
	}
}

func escapeCell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}

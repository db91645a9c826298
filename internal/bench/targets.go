package bench

import (
	"fmt"
	"strings"
)

// The figures issue 4 sets for Strata on a 2-core machine, single node,
// 1 KiB random values, no compression, acks=all.
const (
	targetSystem        = "strata"
	peerSystem          = "kfake-mem"
	targetUnlimitedMBps = 250
	targetLoopbackShare = 0.5
	targetIdleRSSBytes  = 200 * MB
	targetIdlePartition = 1200
)

// latencyTargets are the p99 end-to-end ceilings per workload.
var latencyTargets = []struct {
	point GridPoint
	p99Ms float64
}{
	{GridPoint{20, 12}, 2},
	{GridPoint{100, 12}, 15},
	{GridPoint{20, 1200}, 4},
}

// TargetCheck is one target against what the report measured.
type TargetCheck struct {
	Target string `json:"target"`
	Got    string `json:"got"`
	Met    bool   `json:"met"`
}

// CheckTargets compares the "strata" system's figures with the issue's
// targets. Targets whose workload the report did not run are left out.
func CheckTargets(rep *Report) []TargetCheck {
	var out []TargetCheck
	for _, lt := range latencyTargets {
		r := findResult(rep, targetSystem, lt.point)
		if r == nil {
			continue
		}
		out = append(out, TargetCheck{
			Target: fmt.Sprintf("p99 e2e < %s at %s, %d partitions", fmtMs(lt.p99Ms), targetLabel(lt.point.MBps), lt.point.Partitions),
			Got:    fmtMs(r.E2E.P99Ms) + reachedSuffix(r),
			Met:    r.E2E.P99Ms < lt.p99Ms && r.TargetReached && r.E2E.Count > 0,
		})
	}
	if r := findResult(rep, targetSystem, GridPoint{0, 12}); r != nil {
		out = append(out, TargetCheck{
			Target: fmt.Sprintf("unlimited, 12 partitions: > %d MB/s", targetUnlimitedMBps),
			Got:    fmt.Sprintf("%.0f MB/s", r.InMBps),
			Met:    r.InMBps > targetUnlimitedMBps,
		})
		if lb := rep.Limits.LoopbackMBps; lb > 0 {
			out = append(out, TargetCheck{
				Target: fmt.Sprintf("unlimited, 12 partitions: >= %.0f%% of loopback TCP", 100*targetLoopbackShare),
				Got:    fmt.Sprintf("%.0f%% (%.0f of %.0f MB/s)", 100*r.InMBps/lb, r.InMBps, lb),
				Met:    r.InMBps >= targetLoopbackShare*lb,
			})
		}
	}
	if c, ok := peerCheck(rep); ok {
		out = append(out, c)
	}
	for _, p := range rep.Points {
		if p.System == targetSystem && p.Point.Partitions == targetIdlePartition && p.Server.IdleRSSBytes > 0 {
			out = append(out, TargetCheck{
				Target: fmt.Sprintf("RSS with %d idle partitions < %s", targetIdlePartition, fmtMiB(targetIdleRSSBytes)),
				Got:    fmtMiB(p.Server.IdleRSSBytes),
				Met:    p.Server.IdleRSSBytes < targetIdleRSSBytes,
			})
			break
		}
	}
	return out
}

// peerCheck: on every workload both ran, Strata's p99 is not above kfake's.
func peerCheck(rep *Report) (TargetCheck, bool) {
	var compared int
	var worse []string
	for _, p := range rep.Points {
		if p.System != targetSystem || p.Result == nil {
			continue
		}
		peer := findResult(rep, peerSystem, p.Point)
		if peer == nil || peer.E2E.Count == 0 {
			continue
		}
		compared++
		if p.Result.E2E.P99Ms > peer.E2E.P99Ms {
			worse = append(worse, fmt.Sprintf("%s@%d: %s vs %s", targetLabel(p.Point.MBps), p.Point.Partitions,
				fmtMs(p.Result.E2E.P99Ms), fmtMs(peer.E2E.P99Ms)))
		}
	}
	if compared == 0 {
		return TargetCheck{}, false
	}
	got := fmt.Sprintf("below or equal on %d of %d workloads", compared-len(worse), compared)
	if len(worse) > 0 {
		got += "; above on " + strings.Join(worse, ", ")
	}
	return TargetCheck{Target: "p99 e2e never above " + peerSystem + "'s", Got: got, Met: len(worse) == 0}, true
}

func findResult(rep *Report, system string, pt GridPoint) *RunResult {
	for _, p := range rep.Points {
		if p.System == system && p.Point == pt && p.Result != nil {
			return p.Result
		}
	}
	return nil
}

func reachedSuffix(r *RunResult) string {
	if r.TargetReached {
		return ""
	}
	return fmt.Sprintf(" (target not reached: %.0f MB/s)", r.InMBps)
}

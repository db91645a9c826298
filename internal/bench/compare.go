package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// idleSettle is how long a server gets after its topics are created before
// its idle memory is read.
const idleSettle = 500 * time.Millisecond

// GridPoint is one workload of a comparison.
type GridPoint struct {
	MBps       float64 `json:"target_mb_s"` // 0: unlimited
	Partitions int32   `json:"partitions"`
}

// Preset is a named grid with its timings.
type Preset struct {
	Name     string        `json:"name"`
	Points   []GridPoint   `json:"points"`
	Warmup   time.Duration `json:"-"`
	Duration time.Duration `json:"-"`
	// Probe is how long each machine-limit probe runs.
	Probe time.Duration `json:"-"`
}

// Presets returns the named grids: "quick" (four workloads, under two
// minutes for three systems) and "full" (throughput {5, 20, 50, 100 MB/s,
// unlimited} x partitions {12, 120, 1200}).
func Presets() map[string]Preset {
	full := Preset{Name: "full", Warmup: 3 * time.Second, Duration: 10 * time.Second, Probe: 3 * time.Second}
	for _, p := range []int32{12, 120, 1200} {
		for _, t := range []float64{5, 20, 50, 100, 0} {
			full.Points = append(full.Points, GridPoint{MBps: t, Partitions: p})
		}
	}
	return map[string]Preset{
		"quick": {
			Name: "quick", Warmup: time.Second, Duration: 4 * time.Second, Probe: time.Second,
			Points: []GridPoint{{20, 12}, {100, 12}, {0, 12}, {20, 1200}},
		},
		"full": full,
	}
}

// CompareConfig is a side-by-side run of one grid against several systems.
type CompareConfig struct {
	Preset Preset
	// Base holds every knob but throughput, partitions and timings, which
	// come from the preset; its Bootstrap is ignored.
	Base    RunConfig
	Systems []System
	// WorkDir holds the disk probes' files; it should be on the same
	// file system as the systems' data directories.
	WorkDir  string
	Logger   *slog.Logger
	Progress func(string) // one line per event; nil for silence
}

// ServerUsage is what one system's process spent on one workload.
type ServerUsage struct {
	CPUSeconds float64 `json:"cpu_s"`
	// CPUCores is CPUSeconds over the workload's wall time: 1.0 is one
	// core busy throughout.
	CPUCores float64 `json:"cpu_cores"`
	// IdleRSSBytes is the resident set after the workload's topics were
	// created and a record written to each partition, before the load.
	IdleRSSBytes int64 `json:"idle_rss_bytes"`
	// PeakRSSBytes is the high-water mark during the workload; when
	// PeakIsLifetime it could not be reset and covers the process's life.
	PeakRSSBytes   int64 `json:"peak_rss_bytes"`
	PeakIsLifetime bool  `json:"peak_is_lifetime,omitempty"`
}

// PointResult is one system on one grid point.
type PointResult struct {
	System string      `json:"system"`
	Point  GridPoint   `json:"point"`
	Order  int         `json:"order"` // position of this system in the point's rotation
	Result *RunResult  `json:"result,omitempty"`
	Server ServerUsage `json:"server"`
	Error  string      `json:"error,omitempty"`
}

// Report is everything a comparison measured.
type Report struct {
	Started  time.Time     `json:"started"`
	ElapsedS float64       `json:"elapsed_s"`
	Command  string        `json:"command,omitempty"`
	Preset   string        `json:"preset"`
	Machine  Machine       `json:"machine"`
	Limits   MachineLimits `json:"machine_limits"`
	Systems  []string      `json:"systems"`
	Workload Workload      `json:"workload"` // the common knobs; per-point figures override
	Points   []PointResult `json:"points"`
	Targets  []TargetCheck `json:"targets,omitempty"`
}

// Compare probes the machine, then runs each grid point against each
// system in turn, rotating the order from point to point so drift in
// machine load is spread over all systems. Every system is started afresh
// for every point and stopped after it, so no point inherits another's
// data, heap or page cache, and memory figures are per workload. Failures
// of one system on one point are recorded in the report; an error means
// the comparison could not run at all, or was interrupted (the report then
// holds what was measured).
func Compare(ctx context.Context, cfg CompareConfig) (*Report, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	say := cfg.Progress
	if say == nil {
		say = func(string) {}
	}
	if len(cfg.Systems) == 0 || len(cfg.Preset.Points) == 0 {
		return nil, errors.New("bench: compare needs at least one system and one grid point")
	}
	rep := &Report{Started: time.Now(), Preset: cfg.Preset.Name, Machine: DescribeMachine()}
	say(fmt.Sprintf("probing machine limits in %s", cfg.WorkDir))
	lim, err := ProbeLimits(ctx, cfg.WorkDir, cfg.Preset.Probe)
	if err != nil {
		return nil, err
	}
	rep.Limits = lim
	say(fmt.Sprintf("loopback TCP %.0f MB/s, disk write %.0f MB/s, fsync p50 %s p99 %s",
		lim.LoopbackMBps, lim.DiskWriteMBps, fmtMs(lim.Fsync.P50Ms), fmtMs(lim.Fsync.P99Ms)))
	for _, s := range cfg.Systems {
		rep.Systems = append(rep.Systems, s.Name())
	}
	base := cfg.Base
	base.Warmup, base.Duration = cfg.Preset.Warmup, cfg.Preset.Duration
	rep.Workload = base.workload(0)
	rep.Workload.Bootstrap = ""
	for i, pt := range cfg.Preset.Points {
		for k := range cfg.Systems {
			s := cfg.Systems[(i+k)%len(cfg.Systems)]
			pr := runFresh(ctx, base, s, pt, cfg.Logger)
			pr.Order = k
			rep.Points = append(rep.Points, pr)
			say(pointLine(pr))
			if ctx.Err() != nil {
				rep.ElapsedS = time.Since(rep.Started).Seconds()
				return rep, ctx.Err()
			}
		}
	}
	rep.ElapsedS = time.Since(rep.Started).Seconds()
	rep.Targets = CheckTargets(rep)
	return rep, nil
}

// runFresh starts s, runs one point on it and stops it.
func runFresh(ctx context.Context, cfg RunConfig, s System, pt GridPoint, log *slog.Logger) PointResult {
	if err := s.Start(ctx); err != nil {
		return PointResult{System: s.Name(), Point: pt, Error: err.Error()}
	}
	pr := runPoint(ctx, cfg, s, pt)
	if err := s.Stop(); err != nil {
		log.Warn("stopping server", "system", s.Name(), "err", err)
		if pr.Error == "" {
			pr.Error = err.Error()
		}
	}
	return pr
}

// runPoint runs one workload on one freshly started system, charging the
// server's process for the CPU and memory it used while the workload ran.
func runPoint(ctx context.Context, cfg RunConfig, s System, pt GridPoint) PointResult {
	pr := PointResult{System: s.Name(), Point: pt}
	fail := func(err error) PointResult { pr.Error = err.Error(); return pr }
	cfg.Bootstrap, cfg.MBps, cfg.Partitions, cfg.Topic = []string{s.Bootstrap()}, pt.MBps, pt.Partitions, ""
	if err := cfg.Validate(); err != nil {
		return fail(err)
	}
	adm, err := dialAdmin(ctx, cfg.Bootstrap, cfg.ClientOpts...)
	if err != nil {
		return fail(err)
	}
	defer adm.close()
	topics, err := adm.createTopics(ctx, cfg.TopicPrefix, cfg.Topics, cfg.Partitions)
	if err != nil {
		return fail(err)
	}
	// No clean-up: the server is stopped and its data removed after the
	// point.
	// Primed, so the idle figure is of partitions that hold data and the
	// workload measures steady state.
	parts, err := adm.partitions(ctx, topics)
	if err == nil {
		err = prime(ctx, cfg.Bootstrap, parts, cfg.ClientOpts...)
	}
	if err != nil {
		return fail(err)
	}
	time.Sleep(idleSettle)
	before, err := ReadProc(s.PID())
	if err != nil {
		return fail(err)
	}
	pr.Server.IdleRSSBytes = before.RSSBytes
	pr.Server.PeakIsLifetime = ResetPeakRSS(s.PID()) != nil
	start := time.Now()
	pr.Result, err = runOn(ctx, &cfg, adm, topics, false)
	wall := time.Since(start)
	after, perr := ReadProc(s.PID())
	if err == nil {
		err = perr
	}
	pr.Server.CPUSeconds = after.CPUSeconds - before.CPUSeconds
	pr.Server.CPUCores = pr.Server.CPUSeconds / wall.Seconds()
	pr.Server.PeakRSSBytes = after.PeakRSSBytes
	if err != nil {
		pr.Error = err.Error()
	}
	return pr
}

// pointLine is the progress line for one finished point.
func pointLine(pr PointResult) string {
	head := fmt.Sprintf("%-10s %5d partitions %10s:", pr.System, pr.Point.Partitions, targetLabel(pr.Point.MBps))
	if pr.Result == nil {
		return head + " FAILED: " + pr.Error
	}
	r := pr.Result
	line := fmt.Sprintf("%s in %6.1f MB/s  e2e p50 %s p99 %s max %s  server %.1f cpu-s %s peak",
		head, r.InMBps, fmtMs(r.E2E.P50Ms), fmtMs(r.E2E.P99Ms), fmtMs(r.E2E.MaxMs),
		pr.Server.CPUSeconds, fmtMiB(pr.Server.PeakRSSBytes))
	if !r.TargetReached {
		line += "  (target NOT reached)"
	}
	return line
}

package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/strata-db/strata/internal/bench"
)

func benchCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure end-to-end latency and throughput against a Kafka bootstrap address, or side by side with a peer",
	}
	cmd.AddCommand(benchRunCommand(), benchCompareCommand(), benchNoisyCommand(), benchKfakeCommand())
	return cmd
}

// workloadFlags are the knobs `bench run` and `bench compare` share; the
// strings are parsed into cfg by apply.
type workloadFlags struct {
	acks string
}

func addWorkloadFlags(cmd *cobra.Command, cfg *bench.RunConfig, wf *workloadFlags) {
	f := cmd.Flags()
	f.IntVar(&cfg.RecordSize, "record-size", cfg.RecordSize, "value bytes (random; the first 8 carry the send time)")
	f.IntVar(&cfg.Keys, "keys", cfg.Keys, "key space size; 0 sends records without keys")
	f.StringVar(&cfg.Partitioner, "partitioner", cfg.Partitioner, "for unkeyed records: round-robin or sticky")
	f.IntVar(&cfg.Producers, "producers", cfg.Producers, "producer clients, sharing the target throughput")
	f.IntVar(&cfg.Consumers, "consumers", cfg.Consumers, "consumer clients, sharing the partitions")
	f.StringVar(&wf.acks, "acks", "all", "all, 1 or 0")
	f.StringVar(&cfg.Compression, "compression", cfg.Compression, "none, gzip, snappy, lz4 or zstd")
	f.DurationVar(&cfg.Linger, "linger", cfg.Linger, "producer linger")
	f.Int32Var(&cfg.BatchBytes, "batch-size", cfg.BatchBytes, "maximum batch bytes per partition")
	f.IntVar(&cfg.MaxInflight, "max-inflight", cfg.MaxInflight, "produce requests in flight per broker per producer")
	f.IntVar(&cfg.Topics, "topics", cfg.Topics, "topics to create (each with --partitions partitions)")
}

func (wf *workloadFlags) apply(cfg *bench.RunConfig) error {
	acks, err := bench.ParseAcks(wf.acks)
	if err != nil {
		return err
	}
	cfg.Acks = acks
	return nil
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

func benchRunCommand() *cobra.Command {
	cfg := bench.DefaultRunConfig()
	var wf workloadFlags
	var bootstrap, throughput, jsonPath string
	var saslMechanism, saslUser string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run one workload against a Kafka bootstrap address and report latency and throughput",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := wf.apply(&cfg); err != nil {
				return err
			}
			mbps, err := bench.ParseThroughput(throughput)
			if err != nil {
				return err
			}
			cfg.MBps = mbps
			cfg.Bootstrap = strings.Split(bootstrap, ",")
			if saslMechanism != "" {
				opt, err := bench.SASL(saslMechanism, saslUser, os.Getenv(benchPasswordEnv))
				if err != nil {
					return err
				}
				cfg.ClientOpts = append(cfg.ClientOpts, opt)
			}
			if !quiet {
				cfg.Progress = func(s string) { fmt.Fprintln(os.Stderr, s) }
			}
			ctx, stop := signalContext()
			defer stop()
			res, err := bench.Run(ctx, cfg)
			if err != nil {
				return err
			}
			if jsonPath != "" {
				if err := bench.WriteJSON(jsonPath, res); err != nil {
					return err
				}
			}
			return bench.WriteRunMarkdown(os.Stdout, res)
		},
	}
	f := cmd.Flags()
	f.StringVar(&bootstrap, "bootstrap", strings.Join(cfg.Bootstrap, ","), "Kafka bootstrap HOST:PORT[,HOST:PORT...]")
	f.StringVar(&cfg.Topic, "topic", "", "existing topic to use (default: create fresh topics and delete them after)")
	f.Int32Var(&cfg.Partitions, "partitions", cfg.Partitions, "partitions per created topic")
	f.StringVar(&throughput, "throughput", "20", "target MB/s (1 MB = 2^20 bytes) over all producers, or \"unlimited\"")
	f.DurationVar(&cfg.Duration, "duration", cfg.Duration, "measured window")
	f.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "load before the measured window, not measured")
	f.DurationVar(&cfg.Drain, "drain", cfg.Drain, "how long to wait, after producing, for consumers to catch up")
	f.StringVar(&jsonPath, "json", "", "also write every figure to this JSON file")
	f.BoolVarP(&quiet, "quiet", "q", false, "no per-second progress on stderr")
	f.StringVar(&saslMechanism, "sasl-mechanism", "", "authenticate with PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (the password is read from $"+benchPasswordEnv+")")
	f.StringVar(&saslUser, "sasl-user", "", "SASL user name (a Strata API key)")
	addWorkloadFlags(cmd, &cfg, &wf)
	return cmd
}

// benchPasswordEnv holds `bench run`'s SASL password, kept off the
// command line where other users of the machine could read it.
const benchPasswordEnv = bench.PasswordEnv

func benchCompareCommand() *cobra.Command {
	base := bench.DefaultRunConfig()
	var wf workloadFlags
	var presetName, outDir, workDir, systems, exe string
	cmd := &cobra.Command{
		Use:   "compare",
		Short: "Start Strata and kfake on this machine and run the same grid of workloads against each, alternating",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := wf.apply(&base); err != nil {
				return err
			}
			preset, ok := bench.Presets()[presetName]
			if !ok {
				return fmt.Errorf("bench: preset %q: want one of %s", presetName, strings.Join(presetNames(), ", "))
			}
			if exe == "" {
				var err error
				if exe, err = os.Executable(); err != nil {
					return fmt.Errorf("bench: own executable: %w", err)
				}
			}
			return runCompare(preset, base, outDir, workDir, systems, exe)
		},
	}
	f := cmd.Flags()
	f.StringVar(&presetName, "preset", "quick", "quick (under two minutes) or full (the whole grid)")
	f.StringVar(&outDir, "out", "bench-results", "directory for results.json, results.md, latency.svg and server logs")
	f.StringVar(&workDir, "work-dir", os.TempDir(), "where the servers' data directories and the disk probes go")
	f.StringVar(&systems, "systems", "strata,kfake-mem,kfake-disk", "systems to compare, in order")
	f.StringVar(&exe, "strata-bin", "", "strata binary to run as the server (default: this executable)")
	addWorkloadFlags(cmd, &base, &wf)
	return cmd
}

func presetNames() []string {
	var names []string
	for n := range bench.Presets() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func runCompare(preset bench.Preset, base bench.RunConfig, outDir, workDir, systems, exe string) error {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	root, err := os.MkdirTemp(workDir, "strata-bench-")
	if err != nil {
		return fmt.Errorf("bench: work dir: %w", err)
	}
	defer os.RemoveAll(root)
	var sys []bench.System
	for _, name := range strings.Split(systems, ",") {
		s, err := newSystem(strings.TrimSpace(name), exe, root, outDir)
		if err != nil {
			return err
		}
		sys = append(sys, s)
	}
	ctx, stop := signalContext()
	defer stop()
	rep, err := bench.Compare(ctx, bench.CompareConfig{
		Preset: preset, Base: base, Systems: sys, WorkDir: root,
		Progress: func(s string) { fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), s) },
	})
	if rep == nil {
		return err
	}
	rep.Command = strings.Join(os.Args, " ")
	return writeCompareOutputs(rep, outDir, err)
}

func newSystem(name, exe, root, outDir string) (*bench.ChildServer, error) {
	var s *bench.ChildServer
	switch name {
	case "strata":
		s = bench.StrataServer(exe, root)
	case "kfake-mem":
		s = bench.KfakeServer(exe, root, false)
	case "kfake-disk":
		s = bench.KfakeServer(exe, root, true)
	default:
		return nil, fmt.Errorf("bench: system %q: want strata, kfake-mem or kfake-disk", name)
	}
	s.LogPath = filepath.Join(outDir, name+".log")
	return s, nil
}

// writeCompareOutputs writes what a (possibly interrupted) comparison
// measured, prints the table, and returns runErr.
func writeCompareOutputs(rep *bench.Report, outDir string, runErr error) error {
	if err := bench.WriteJSON(filepath.Join(outDir, "results.json"), rep); err != nil {
		return err
	}
	var md strings.Builder
	if err := bench.WriteMarkdown(&md, rep); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(outDir, "results.md"), []byte(md.String()), 0o644); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	svg, err := os.Create(filepath.Join(outDir, "latency.svg"))
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := bench.WriteSVG(svg, rep); err != nil {
		svg.Close()
		return err
	}
	if err := svg.Close(); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	fmt.Print(md.String())
	fmt.Printf("\nwrote %s/results.json, results.md, latency.svg\n", outDir)
	return runErr
}

func benchKfakeCommand() *cobra.Command {
	var cfg bench.KfakeConfig
	cmd := &cobra.Command{
		Use:    "kfake-server",
		Short:  "Serve franz-go's kfake fake broker on a loopback port (the peer of `bench compare`)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signalContext()
			defer stop()
			return bench.RunKfake(ctx, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:9092", "loopback HOST:PORT")
	f.StringVar(&cfg.DataDir, "data", "", "persist to this directory (default: in memory)")
	f.BoolVar(&cfg.SyncWrites, "sync", false, "fsync every batch (with --data)")
	return cmd
}

func benchNoisyCommand() *cobra.Command {
	base := bench.DefaultRunConfig()
	// Eight rounds of 10 s windows per condition: the quota is enforced
	// over 11 s, and a throttled producer's acknowledgements come in
	// bursts, so A's rate is read over 80 s in all; B's p99 alone drifts
	// from minute to minute, and eight alternating rounds average it out. 64 KiB batches, so
	// that a request is a small share of a second's quota.
	base.Partitions, base.Duration, base.BatchBytes = 6, 10*time.Second, 64<<10
	var wf workloadFlags
	var quota float64
	var outDir, workDir, exe string
	var aNice int
	var aInProcess, control bool
	aIdle := true
	rounds := 8
	cmd := &cobra.Command{
		Use:   "noisy",
		Short: "Noisy neighbour: start a Strata node with two tenants; A produces at ten times its quota while B runs at half of its own",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := wf.apply(&base); err != nil {
				return err
			}
			if exe == "" {
				var err error
				if exe, err = os.Executable(); err != nil {
					return fmt.Errorf("bench: own executable: %w", err)
				}
			}
			if err := os.MkdirAll(outDir, 0o755); err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			root, err := os.MkdirTemp(workDir, "strata-noisy-")
			if err != nil {
				return fmt.Errorf("bench: work dir: %w", err)
			}
			defer os.RemoveAll(root)
			node := func(name string) *bench.ChildServer {
				srv := bench.StrataServer(exe, filepath.Join(root, name))
				srv.Args = []string{"server", "--data", "{data}", "--listen", "{listen}", "--http", "{http}", "--auth", "sasl", "--log-level", "warn"}
				srv.LogPath = filepath.Join(outDir, name+".log")
				return srv
			}
			srv := node("strata-noisy")
			ctx, stop := signalContext()
			defer stop()
			cfg := bench.NoisyConfig{Server: srv, QuotaMBps: quota, Base: base, LoadExe: exe, LoadNice: aNice, LoadIdle: aIdle, Rounds: rounds,
				Progress: func(s string) { fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05"), s) }}
			if aInProcess {
				cfg.LoadExe = ""
			}
			if control {
				cfg.Control = node("strata-noisy-control")
			}
			res, err := bench.Noisy(ctx, cfg)
			if err != nil {
				return err
			}
			if err := bench.WriteJSON(filepath.Join(outDir, "noisy.json"), res); err != nil {
				return err
			}
			md := bench.WriteNoisyMarkdown(res)
			if err := os.WriteFile(filepath.Join(outDir, "noisy.md"), []byte(md), 0o644); err != nil {
				return fmt.Errorf("bench: %w", err)
			}
			fmt.Print(md)
			fmt.Printf("\nwrote %s/noisy.json, noisy.md\n", outDir)
			return nil
		},
	}
	f := cmd.Flags()
	f.Float64Var(&quota, "quota-mbps", 4, "each tenant's produce quota, MB/s")
	f.Int32Var(&base.Partitions, "partitions", base.Partitions, "partitions per tenant's topic")
	f.DurationVar(&base.Duration, "duration", base.Duration, "measured window of each phase of each round")
	f.IntVar(&rounds, "rounds", rounds, "rounds of B alone and B with A (alternating which comes first), pooled")
	f.DurationVar(&base.Warmup, "warmup", base.Warmup, "load before each window, not measured")
	f.StringVar(&outDir, "out", "bench-results", "directory for noisy.json, noisy.md and the server log")
	f.StringVar(&workDir, "work-dir", os.TempDir(), "where the server's data directory goes")
	f.StringVar(&exe, "strata-bin", "", "strata binary to run as the server and as tenant A's clients (default: this executable)")
	f.IntVar(&aNice, "a-nice", 10, "niceness of tenant A's client process, standing for clients on machines of their own")
	f.BoolVar(&aIdle, "a-idle", aIdle, "run tenant A's client process under SCHED_IDLE (chrt --idle), so that it only uses CPU time the server and B leave")
	f.BoolVar(&aInProcess, "a-in-process", false, "run tenant A's clients in this process, beside B's, instead of a process of their own")
	f.BoolVar(&control, "control", false, "also run, every round, B beside A on a second node of this machine: what sharing the cores alone costs B")
	addWorkloadFlags(cmd, &base, &wf)
	return cmd
}

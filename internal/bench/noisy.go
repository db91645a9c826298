package bench

// The noisy-neighbour benchmark (issue 8): two tenants on one Strata node
// under --auth sasl, each with the same produce quota. Tenant B runs at half
// its quota, alone and then with tenant A producing at ten times its quota.
// The figures: A's acknowledged throughput against its quota (the target:
// within 10%), and B's p99 end-to-end latency with A against alone (the
// target: less than 20% higher).
//
// B's latency alone drifts by 10-30% from minute to minute on a shared VM,
// as much as the effect measured, so one window of each says little. The
// benchmark runs Rounds rounds of both, rotating their order (alone, with
// A; with A, alone; ...), and pools each condition's histograms: drift then
// falls on both alike. With a control node, each round also runs B beside
// A on that other node (NoisyConfig.Control).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// NoisyConfig configures the noisy-neighbour benchmark.
type NoisyConfig struct {
	// Server is a Strata node started with --auth sasl and --http {http};
	// Noisy starts and stops it.
	Server *ChildServer
	// QuotaMBps is each tenant's produce quota, MB/s (2^20 bytes).
	QuotaMBps float64
	// Base is the workload of each tenant (bootstrap, throughput and
	// client options are set per phase).
	Base RunConfig
	// LoadExe, when set, is a strata binary that runs tenant A's clients
	// in a process of their own (`strata bench run`) at niceness LoadNice,
	// and under Linux's SCHED_IDLE policy when LoadIdle is set. A's
	// clients then stand for machines of their own, as a noisy
	// neighbour's are: their garbage collection does not pause the process
	// that measures B, and their CPU time comes after the server's and
	// B's on a machine with few cores. Niceness alone does not do that:
	// the kernel (EEVDF) lets a running task finish its slice, and `perf
	// sched` showed A's client threads at niceness 10 holding a core for
	// up to 0.6 ms while the server's threads waited; a SCHED_IDLE task
	// is preempted at once. Empty LoadExe runs them in this process.
	LoadExe  string
	LoadNice int
	LoadIdle bool
	// Control, when set, is a second node, started and stopped like
	// Server, with a tenant of the same quota: every round then also runs
	// B on its node beside A on this other node. B's rise there is what
	// A's load costs B through the machine's shared cores alone, with
	// nothing of the node shared; B's rise with A on its own node, less
	// this, is the node's part.
	Control *ChildServer
	// Rounds is how many windows of each condition are measured and
	// pooled (at least 1).
	Rounds   int
	Progress func(string)
}

// NoisyResult is what the benchmark measured.
type NoisyResult struct {
	QuotaMBps float64 `json:"quota_mb_s"`
	// BAlone, BShared and AShared pool each condition's rounds (poolRuns):
	// summed counts, mean rates, and latencies of the merged histograms;
	// A's latencies are the mean of each figure when its clients ran in a
	// process of their own, which hands back summaries only.
	BAlone  *RunResult `json:"b_alone"`
	BShared *RunResult `json:"b_with_a"`
	AShared *RunResult `json:"a_at_10x"`
	// BControl and AControl pool the rounds' control windows (A on
	// another node); nil without NoisyConfig.Control.
	BControl *RunResult   `json:"b_with_a_elsewhere,omitempty"`
	AControl *RunResult   `json:"a_elsewhere_at_10x,omitempty"`
	Rounds   []NoisyRound `json:"rounds"`
	// AQuotaError is A's acknowledged throughput against its quota,
	// (acked - quota) / quota; BP99Rise is B's pooled p99 end-to-end
	// latency with A against alone, (with - alone) / alone.
	AQuotaError float64 `json:"a_quota_error"`
	BP99Rise    float64 `json:"b_p99_rise"`
	AHeld       bool    `json:"a_held_within_10pct"`
	BUnharmed   bool    `json:"b_p99_rise_below_20pct"`
	// BControlRise is B's pooled p99 with A on another node against
	// alone; 0 without a control.
	BControlRise float64 `json:"b_p99_rise_a_elsewhere,omitempty"`
}

// NoisyRound is one round's windows.
type NoisyRound struct {
	BAlone   *RunResult `json:"b_alone"`
	BShared  *RunResult `json:"b_with_a"`
	AShared  *RunResult `json:"a_at_10x"`
	BP99Rise float64    `json:"b_p99_rise"`
	// The control window, with A on another node; nil without one.
	BControl     *RunResult `json:"b_with_a_elsewhere,omitempty"`
	AControl     *RunResult `json:"a_elsewhere_at_10x,omitempty"`
	BControlRise float64    `json:"b_p99_rise_a_elsewhere,omitempty"`
}

// Noisy runs the benchmark.
func Noisy(ctx context.Context, cfg NoisyConfig) (*NoisyResult, error) {
	progress := cfg.Progress
	if progress == nil {
		progress = func(string) {}
	}
	rounds := max(cfg.Rounds, 1)
	quota := int64(cfg.QuotaMBps * (1 << 20))
	if err := cfg.Server.Start(ctx); err != nil {
		return nil, err
	}
	defer cfg.Server.Stop()
	credsA, err := noisyTenant(ctx, cfg.Server.HTTPAddr(), "noisy-a", quota)
	if err != nil {
		return nil, err
	}
	credsB, err := noisyTenant(ctx, cfg.Server.HTTPAddr(), "noisy-b", quota)
	if err != nil {
		return nil, err
	}
	var credsControl scram.Auth
	if cfg.Control != nil {
		if err := cfg.Control.Start(ctx); err != nil {
			return nil, err
		}
		defer cfg.Control.Stop()
		if credsControl, err = noisyTenant(ctx, cfg.Control.HTTPAddr(), "noisy-a", quota); err != nil {
			return nil, err
		}
	}
	phase := func(name, bootstrap string, a scram.Auth, mbps float64) RunConfig {
		c := cfg.Base
		c.Bootstrap = []string{bootstrap}
		c.MBps = mbps
		c.TopicPrefix = name
		c.ClientOpts = append(append([]kgo.Opt(nil), c.ClientOpts...), kgo.SASL(a.AsSha512Mechanism()))
		c.Progress = func(s string) { progress(name + ": " + s) }
		return c
	}
	alone := func(r int, nr *NoisyRound) error {
		progress(fmt.Sprintf("round %d/%d: tenant B alone at %.1f MB/s (half its quota of %.1f MB/s)", r+1, rounds, cfg.QuotaMBps/2, cfg.QuotaMBps))
		res, err := Run(ctx, phase(fmt.Sprintf("b-alone-%d", r+1), cfg.Server.Bootstrap(), credsB, cfg.QuotaMBps/2))
		if err != nil {
			return fmt.Errorf("bench: B alone: %w", err)
		}
		nr.BAlone = res
		return nil
	}
	// withA runs B on its node beside A, logged in as aAuth, on node srv.
	withA := func(r int, srv *ChildServer, aAuth scram.Auth, where, label string) (a, b *RunResult, err error) {
		progress(fmt.Sprintf("round %d/%d: tenant A at %.1f MB/s (ten times its quota) %s and tenant B at %.1f MB/s", r+1, rounds, 10*cfg.QuotaMBps, where, cfg.QuotaMBps/2))
		var wg sync.WaitGroup
		var errA, errB error
		wg.Go(func() {
			ac := phase(fmt.Sprintf("a-%s-%d", label, r+1), srv.Bootstrap(), aAuth, 10*cfg.QuotaMBps)
			if cfg.LoadExe == "" {
				a, errA = Run(ctx, ac)
				return
			}
			a, errA = runLoadProcess(ctx, cfg.LoadExe, cfg.LoadNice, cfg.LoadIdle, ac, "SCRAM-SHA-512", aAuth, progress)
		})
		wg.Go(func() {
			b, errB = Run(ctx, phase(fmt.Sprintf("b-with-a-%s-%d", label, r+1), cfg.Server.Bootstrap(), credsB, cfg.QuotaMBps/2))
		})
		wg.Wait()
		if errA != nil || errB != nil {
			return nil, nil, fmt.Errorf("bench: A %s with B: %v; B with A: %v", where, errA, errB)
		}
		return a, b, nil
	}
	shared := func(r int, nr *NoisyRound) (err error) {
		nr.AShared, nr.BShared, err = withA(r, cfg.Server, credsA, "on B's node", "noisy")
		return err
	}
	control := func(r int, nr *NoisyRound) (err error) {
		nr.AControl, nr.BControl, err = withA(r, cfg.Control, credsControl, "on another node", "elsewhere")
		return err
	}
	// Each round runs every condition; the order rotates from round to
	// round, so that each condition comes first, second (and third) equally
	// often and drift falls on all alike.
	conds := []func(int, *NoisyRound) error{alone, shared}
	if cfg.Control != nil {
		conds = append(conds, control)
	}
	res := &NoisyResult{QuotaMBps: cfg.QuotaMBps}
	for r := range rounds {
		var nr NoisyRound
		for i := range conds {
			if err := conds[(r+i)%len(conds)](r, &nr); err != nil {
				return nil, err
			}
		}
		nr.BP99Rise = p99Rise(nr.BAlone, nr.BShared)
		line := fmt.Sprintf("round %d/%d: B's p99 %.2f ms alone, %.2f ms with A (%+.1f%%)", r+1, rounds, nr.BAlone.E2E.P99Ms, nr.BShared.E2E.P99Ms, 100*nr.BP99Rise)
		if nr.BControl != nil {
			nr.BControlRise = p99Rise(nr.BAlone, nr.BControl)
			line += fmt.Sprintf(", %.2f ms with A on another node (%+.1f%%)", nr.BControl.E2E.P99Ms, 100*nr.BControlRise)
		}
		progress(line + fmt.Sprintf("; A acknowledged %.2f MB/s", nr.AShared.AckRateMBps))
		res.Rounds = append(res.Rounds, nr)
	}
	pool := func(get func(NoisyRound) *RunResult) *RunResult {
		var rs []*RunResult
		for _, nr := range res.Rounds {
			rs = append(rs, get(nr))
		}
		return poolRuns(rs)
	}
	res.BAlone = pool(func(nr NoisyRound) *RunResult { return nr.BAlone })
	res.BShared = pool(func(nr NoisyRound) *RunResult { return nr.BShared })
	res.AShared = pool(func(nr NoisyRound) *RunResult { return nr.AShared })
	res.AQuotaError = res.AShared.AckRateMBps/cfg.QuotaMBps - 1
	res.BP99Rise = p99Rise(res.BAlone, res.BShared)
	res.AHeld = math.Abs(res.AQuotaError) <= 0.10
	res.BUnharmed = res.BP99Rise < 0.20
	if cfg.Control != nil {
		res.BControl = pool(func(nr NoisyRound) *RunResult { return nr.BControl })
		res.AControl = pool(func(nr NoisyRound) *RunResult { return nr.AControl })
		res.BControlRise = p99Rise(res.BAlone, res.BControl)
	}
	return res, nil
}

// noisyTenant creates a tenant with a produce quota of quota bytes/s on the
// node whose admin API is at api, and a key for it.
func noisyTenant(ctx context.Context, api, name string, quota int64) (scram.Auth, error) {
	var tenant struct {
		ID string `json:"id"`
	}
	if err := adminCall(ctx, api, "POST", "/v1/tenants", map[string]string{"name": name}, &tenant); err != nil {
		return scram.Auth{}, err
	}
	var key struct{ Key, Secret string }
	if err := adminCall(ctx, api, "POST", "/v1/tenants/"+tenant.ID+"/keys", nil, &key); err != nil {
		return scram.Auth{}, err
	}
	if err := adminCall(ctx, api, "PUT", "/v1/tenants/"+tenant.ID+"/quotas", map[string]int64{"produceBytesRate": quota}, nil); err != nil {
		return scram.Auth{}, err
	}
	return scram.Auth{User: key.Key, Pass: key.Secret}, nil
}

// p99Rise is with's p99 end-to-end latency against alone's,
// (with - alone) / alone.
func p99Rise(alone, with *RunResult) float64 { return with.E2E.P99Ms/alone.E2E.P99Ms - 1 }

// poolRuns combines runs of one workload over equal windows: counts are
// summed, rates averaged, and latencies are those of the merged histograms
// when every run has them (runs in this process), else the mean of each
// figure (runs read back from another process's JSON).
func poolRuns(rs []*RunResult) *RunResult {
	p := &RunResult{Workload: rs[0].Workload, TargetReached: true}
	e2e, ack := NewHistogram(), NewHistogram()
	merged := true
	n := float64(len(rs))
	for _, r := range rs {
		p.Produced += r.Produced
		p.Acked += r.Acked
		p.Consumed += r.Consumed
		p.ProduceErrors += r.ProduceErrors
		p.ConsumeErrors += r.ConsumeErrors
		p.Missing += r.Missing
		p.InMBps += r.InMBps / n
		p.AckRateMBps += r.AckRateMBps / n
		p.OutMBps += r.OutMBps / n
		p.ClientCPUSeconds += r.ClientCPUSeconds
		p.TargetReached = p.TargetReached && r.TargetReached
		if p.FirstError == "" {
			p.FirstError = r.FirstError
		}
		p.Notes = append(p.Notes, r.Notes...)
		if r.e2eHist == nil || r.ackHist == nil {
			merged = false
			continue
		}
		e2e.Merge(r.e2eHist)
		ack.Merge(r.ackHist)
	}
	if merged {
		p.E2E, p.Ack, p.e2eHist, p.ackHist = e2e.Summary(), ack.Summary(), e2e, ack
		return p
	}
	for _, r := range rs {
		p.E2E = addSummary(p.E2E, r.E2E, n)
		p.Ack = addSummary(p.Ack, r.Ack, n)
	}
	return p
}

// addSummary adds s/n to every figure of sum but the count, which it adds
// whole, and keeps the larger maximum.
func addSummary(sum, s LatencySummary, n float64) LatencySummary {
	sum.Count += s.Count
	sum.MeanMs += s.MeanMs / n
	sum.P50Ms += s.P50Ms / n
	sum.P95Ms += s.P95Ms / n
	sum.P99Ms += s.P99Ms / n
	sum.P999Ms += s.P999Ms / n
	sum.MaxMs = max(sum.MaxMs, s.MaxMs)
	return sum
}

// PasswordEnv is the environment variable `strata bench run` reads its
// SASL password from.
const PasswordEnv = "STRATA_BENCH_SASL_PASSWORD"

// runLoadProcess runs the workload c as `exe bench run` in a child
// process at niceness nice, under SCHED_IDLE if idle (through nice(1) and
// chrt(1): Linux niceness and policy are per thread, so they must be set
// before the Go runtime starts its threads), passing c's progress lines
// on, and returns the run's result.
func runLoadProcess(ctx context.Context, exe string, nice int, idle bool, c RunConfig, mechanism string, auth scram.Auth, progress func(string)) (*RunResult, error) {
	dir, err := os.MkdirTemp("", "strata-load-")
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "result.json")
	args := append([]string{"-n", strconv.Itoa(nice), exe, "bench", "run", "--json", out,
		"--sasl-mechanism", mechanism, "--sasl-user", auth.User}, runArgs(c)...)
	name := "nice"
	if idle {
		if _, err := exec.LookPath("chrt"); err != nil {
			progress("chrt(1) not found: tenant A's clients run at their niceness only, not under SCHED_IDLE")
		} else {
			name, args = "chrt", append([]string{"--idle", "0", "nice"}, args...)
		}
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), PasswordEnv+"="+auth.Pass)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start load process: %w", err)
	}
	var tail []string // the last lines, for the error
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		c.Progress(sc.Text())
		if tail = append(tail, sc.Text()); len(tail) > 5 {
			tail = tail[1:]
		}
	}
	if err := cmd.Wait(); err != nil {
		return nil, fmt.Errorf("bench: load process: %w: %s", err, strings.Join(tail, "; "))
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("bench: load process result: %w", err)
	}
	var res RunResult
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("bench: load process result: %w", err)
	}
	return &res, nil
}

// runArgs renders c as the flags of `strata bench run` (cmd/strata's
// workload flags).
func runArgs(c RunConfig) []string {
	throughput := "unlimited"
	if c.MBps > 0 {
		throughput = strconv.FormatFloat(c.MBps, 'f', -1, 64)
	}
	a := []string{
		"--bootstrap", strings.Join(c.Bootstrap, ","),
		"--topics", strconv.Itoa(c.Topics),
		"--partitions", strconv.Itoa(int(c.Partitions)),
		"--record-size", strconv.Itoa(c.RecordSize),
		"--keys", strconv.Itoa(c.Keys),
		"--partitioner", c.Partitioner,
		"--producers", strconv.Itoa(c.Producers),
		"--consumers", strconv.Itoa(c.Consumers),
		"--acks", acksName(c.Acks),
		"--compression", c.Compression,
		"--linger", c.Linger.String(),
		"--batch-size", strconv.Itoa(int(c.BatchBytes)),
		"--max-inflight", strconv.Itoa(c.MaxInflight),
		"--duration", c.Duration.String(),
		"--warmup", c.Warmup.String(),
		"--drain", c.Drain.String(),
		"--throughput", throughput,
	}
	if c.Topic != "" {
		a = append(a, "--topic", c.Topic)
	}
	return a
}

// WriteNoisyMarkdown renders a result as a table.
func WriteNoisyMarkdown(r *NoisyResult) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "| tenant, phase | offered MB/s | acked MB/s | e2e p50 ms | p95 | p99 | p99.9 |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	row := func(name string, rr *RunResult) {
		fmt.Fprintf(&b, "| %s | %.1f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", name, rr.Workload.TargetMBps, rr.AckRateMBps,
			rr.E2E.P50Ms, rr.E2E.P95Ms, rr.E2E.P99Ms, rr.E2E.P999Ms)
	}
	n := len(r.Rounds)
	row(fmt.Sprintf("B alone, %d rounds pooled", n), r.BAlone)
	row(fmt.Sprintf("B with A, %d rounds pooled", n), r.BShared)
	row(fmt.Sprintf("A at 10x its quota, %d rounds pooled", n), r.AShared)
	if r.BControl != nil {
		row(fmt.Sprintf("B with A on another node, %d rounds pooled", n), r.BControl)
		row(fmt.Sprintf("A at 10x its quota on another node, %d rounds pooled", n), r.AControl)
	}
	conds := "B alone / with A"
	if r.BControl != nil {
		conds += " / with A elsewhere"
	}
	for i, nr := range r.Rounds {
		runs := []*RunResult{nr.BAlone, nr.BShared}
		rises := fmt.Sprintf("%+.0f%%", 100*nr.BP99Rise)
		if nr.BControl != nil {
			runs = append(runs, nr.BControl)
			rises += fmt.Sprintf(", %+.0f%%", 100*nr.BControlRise)
		}
		figs := func(get func(LatencySummary) float64) string {
			var parts []string
			for _, rr := range runs {
				parts = append(parts, fmt.Sprintf("%.2f", get(rr.E2E)))
			}
			return strings.Join(parts, " / ")
		}
		fmt.Fprintf(&b, "| round %d: %s | | | %s | %s | %s (%s) | %s |\n", i+1, conds,
			figs(func(l LatencySummary) float64 { return l.P50Ms }), figs(func(l LatencySummary) float64 { return l.P95Ms }),
			figs(func(l LatencySummary) float64 { return l.P99Ms }), rises, figs(func(l LatencySummary) float64 { return l.P999Ms }))
	}
	fmt.Fprintf(&b, "\nQuota %.1f MB/s per tenant. A acknowledged %.2f MB/s: %+.1f%% of its quota (target within 10%%: %s). "+
		"B's p99 end-to-end latency, pooled over the rounds, %.2f ms alone, %.2f ms with A: %+.1f%% (target below +20%%: %s).\n",
		r.QuotaMBps, r.AShared.AckRateMBps, 100*r.AQuotaError, met(r.AHeld), r.BAlone.E2E.P99Ms, r.BShared.E2E.P99Ms, 100*r.BP99Rise, met(r.BUnharmed))
	if r.BControl != nil {
		fmt.Fprintf(&b, "With A on another node of the same machine (control; A acknowledged %.2f MB/s there), B's p99 was %.2f ms: %+.1f%% over alone, "+
			"the part of the rise that comes from sharing the machine's cores rather than the node.\n",
			r.AControl.AckRateMBps, r.BControl.E2E.P99Ms, 100*r.BControlRise)
	}
	return b.String()
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

// adminCall sends a JSON request to a node's admin API.
func adminCall(ctx context.Context, addr, method, path string, body, out any) error {
	var rd bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&rd).Encode(body); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, &rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("bench: admin %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("bench: admin %s %s: HTTP %d", method, path, resp.StatusCode)
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	return nil
}

// healthy reports whether a node's /healthz answers 200.
func healthy(ctx context.Context, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/healthz", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

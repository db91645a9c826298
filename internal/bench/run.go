package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// reachedFraction is how close to its target a run must come to count as
// having reached it.
const reachedFraction = 0.95

// Workload echoes a run's knobs in a report.
type Workload struct {
	Bootstrap   string  `json:"bootstrap"`
	Topics      int     `json:"topics"`
	Partitions  int     `json:"partitions"`  // over all topics
	TargetMBps  float64 `json:"target_mb_s"` // 0: unlimited
	RecordSize  int     `json:"record_size"`
	Keys        int     `json:"keys"`
	Partitioner string  `json:"partitioner"`
	Producers   int     `json:"producers"`
	Consumers   int     `json:"consumers"`
	Acks        string  `json:"acks"`
	Compression string  `json:"compression"`
	LingerMs    float64 `json:"linger_ms"`
	BatchBytes  int32   `json:"batch_bytes"`
	MaxInflight int     `json:"max_inflight"`
	DurationS   float64 `json:"duration_s"`
	WarmupS     float64 `json:"warmup_s"`
}

// RunResult is every figure of one run. Throughputs are in MB/s (2^20
// bytes, keys and values) over the measured window: in counts records sent
// inside the window and acknowledged (whenever), so a backlog left by the
// warm-up cannot inflate it; out counts records received inside the
// window. Latencies are of records sent inside the window.
type RunResult struct {
	Workload Workload `json:"workload"`
	// Produced counts Produce calls over the whole run, Acked their
	// successful acknowledgements, Consumed the records read back.
	Produced      uint64  `json:"produced_records"`
	Acked         uint64  `json:"acked_records"`
	Consumed      uint64  `json:"consumed_records"`
	ProduceErrors uint64  `json:"produce_errors"`
	ConsumeErrors uint64  `json:"consume_errors"`
	Missing       uint64  `json:"missing_records"` // acknowledged, not read back by the end of the drain
	InMBps        float64 `json:"in_mb_s"`
	// AckRateMBps counts the bytes whose acknowledgement arrived inside
	// the window, whenever sent: the rate a throttled producer (one that
	// always has a backlog) is let through at.
	AckRateMBps float64 `json:"ack_rate_mb_s"`
	OutMBps     float64 `json:"out_mb_s"`
	// TargetReached is false when the acknowledged throughput fell short
	// of the target by more than 5%: the latency figures then describe an
	// overloaded system, not the target load.
	TargetReached    bool           `json:"target_reached"`
	E2E              LatencySummary `json:"e2e_latency"`
	Ack              LatencySummary `json:"ack_latency"`
	ClientCPUSeconds float64        `json:"client_cpu_s"` // this process, during the run
	FirstError       string         `json:"first_error,omitempty"`
	Notes            []string       `json:"notes,omitempty"`

	// e2eHist and ackHist are the histograms E2E and Ack summarise, for
	// pooling runs; nil in a result read back from JSON.
	e2eHist, ackHist *Histogram
}

func (c *RunConfig) workload(partitions int) Workload {
	return Workload{
		Bootstrap: strings.Join(c.Bootstrap, ","), Topics: c.Topics, Partitions: partitions,
		TargetMBps: c.MBps, RecordSize: c.RecordSize, Keys: c.Keys, Partitioner: c.Partitioner,
		Producers: c.Producers, Consumers: c.Consumers, Acks: acksName(c.Acks),
		Compression: c.Compression, LingerMs: float64(c.Linger) / 1e6, BatchBytes: c.BatchBytes,
		MaxInflight: c.MaxInflight, DurationS: c.Duration.Seconds(), WarmupS: c.Warmup.Seconds(),
	}
}

// Run executes one workload: it creates its topics and writes a record to
// each partition (or checks the given topic), starts consumers at the current end offsets, produces for
// Warmup+Duration, waits for consumers to read what was acknowledged, and
// deletes the topics it created. An error means the run could not be made
// (bad config, server unreachable, unknown topic, nothing acknowledged);
// partial failures are counted in the result instead.
func Run(ctx context.Context, cfg RunConfig) (*RunResult, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	adm, err := dialAdmin(ctx, cfg.Bootstrap, cfg.ClientOpts...)
	if err != nil {
		return nil, err
	}
	defer adm.close()
	topics := []string{cfg.Topic}
	if cfg.Topic == "" {
		if topics, err = adm.createTopics(ctx, cfg.TopicPrefix, cfg.Topics, cfg.Partitions); err != nil {
			return nil, err
		}
		defer func() {
			if err := adm.deleteTopics(context.WithoutCancel(ctx), topics); err != nil {
				cfg.Logger.Warn("could not delete benchmark topics", "err", err)
			}
		}()
	} else {
		cfg.Topics = 1
	}
	return runOn(ctx, &cfg, adm, topics, cfg.Topic == "")
}

// runOn runs the workload on topics that exist; withPrime first writes a
// record to every partition (only to topics the bench created).
func runOn(ctx context.Context, cfg *RunConfig, adm *admin, topics []string, withPrime bool) (*RunResult, error) {
	pctx, cancel := context.WithTimeout(ctx, adminTimeout)
	parts, err := adm.partitions(pctx, topics)
	cancel()
	if err != nil {
		return nil, err
	}
	if withPrime {
		if err := prime(ctx, cfg.Bootstrap, parts, cfg.ClientOpts...); err != nil {
			return nil, err
		}
	}
	ends, err := adm.endOffsets(ctx, topics)
	if err != nil {
		return nil, err
	}
	st := &runState{winStart: cfg.Warmup, winEnd: cfg.Warmup + cfg.Duration, e2e: NewHistogram(), ack: NewHistogram()}
	cs, err := startClients(cfg, st, topics, parts, ends)
	if err != nil {
		return nil, err
	}
	cpuBefore, _ := ReadProc(os.Getpid())
	res := drive(ctx, cfg, st, cs)
	cpuAfter, _ := ReadProc(os.Getpid())
	res.Workload = cfg.workload(len(parts))
	res.ClientCPUSeconds = cpuAfter.CPUSeconds - cpuBefore.CPUSeconds
	res.judge(cfg)
	if res.Acked == 0 && ctx.Err() == nil {
		return res, fmt.Errorf("bench: no record was acknowledged: %s", res.FirstError)
	}
	return res, ctx.Err()
}

// clients holds a run's producers and consumers until drive closes them.
type clients struct {
	producers []*producer
	consumers []*consumer
}

func startClients(cfg *RunConfig, st *runState, topics []string, parts []topicPartition, ends map[string]map[int32]int64) (*clients, error) {
	cs := &clients{}
	n := min(cfg.Consumers, len(parts))
	for _, assigned := range assignPartitions(parts, ends, n) {
		c, err := newConsumer(cfg, st, assigned)
		if err != nil {
			cs.close()
			return nil, err
		}
		cs.consumers = append(cs.consumers, c)
	}
	pay := newPayloads(cfg.RecordSize)
	seed := uint64(time.Now().UnixNano())
	for i := range cfg.Producers {
		p, err := newProducer(cfg, st, topics, pay, seed+uint64(i))
		if err != nil {
			cs.close()
			return nil, err
		}
		cs.producers = append(cs.producers, p)
	}
	return cs, nil
}

func (cs *clients) close() {
	for _, p := range cs.producers {
		p.cl.Close()
	}
	for _, c := range cs.consumers {
		c.cl.Close()
	}
}

// drive runs the clients through warm-up, window and drain, then closes
// them and collects the counters.
func drive(ctx context.Context, cfg *RunConfig, st *runState, cs *clients) *RunResult {
	defer cs.close()
	cctx, stopConsumers := context.WithCancel(ctx)
	var cwg, pwg sync.WaitGroup
	for _, c := range cs.consumers {
		cwg.Go(func() { c.run(cctx) })
	}
	st.origin = time.Now()
	for _, p := range cs.producers {
		p.pacer = NewPacer(cfg.MBps * MB / float64(cfg.Producers))
		pwg.Go(func() { p.run(ctx) })
	}
	stopProgress := progress(cfg, st)
	pwg.Wait()
	drainCtx, cancel := context.WithTimeout(ctx, cfg.Drain)
	defer cancel()
	for _, p := range cs.producers {
		if err := p.flush(drainCtx); err != nil {
			st.noteErr(fmt.Errorf("flush: %w", err))
		}
	}
	for st.consumed.Load() < st.acked.Load()+st.foreign.Load() && drainCtx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	stopProgress()
	stopConsumers()
	cwg.Wait()
	return st.result(cfg)
}

// progress reports once a second until the returned stop is called.
func progress(cfg *RunConfig, st *runState) (stop func()) {
	if cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var lastAcked, lastConsumed uint64
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			a, c := st.acked.Load(), st.consumed.Load()
			recMB := float64(cfg.RecordSize) / MB
			phase := "warm-up"
			if now := st.now(); now >= st.winEnd {
				phase = "drain"
			} else if now >= st.winStart {
				phase = "measure"
			}
			cfg.Progress(fmt.Sprintf("%-7s %5.0fs  in %7.1f MB/s  out %7.1f MB/s  e2e p99 %s  errors %d",
				phase, st.now().Seconds(), float64(a-lastAcked)*recMB, float64(c-lastConsumed)*recMB,
				fmtMs(float64(st.e2e.Quantile(0.99))/1e6), st.produceErrs.Load()+st.consumeErrs.Load()))
			lastAcked, lastConsumed = a, c
		}
	})
	return func() { close(done); wg.Wait() }
}

func (st *runState) result(cfg *RunConfig) *RunResult {
	win := cfg.Duration.Seconds()
	res := &RunResult{
		Produced: st.produced.Load(), Acked: st.acked.Load(), Consumed: st.consumed.Load(),
		ProduceErrors: st.produceErrs.Load(), ConsumeErrors: st.consumeErrs.Load(),
		InMBps:      float64(st.ackedBytesInWin.Load()) / MB / win,
		AckRateMBps: float64(st.bytesAckedDuringWin.Load()) / MB / win,
		OutMBps:     float64(st.consumedBytesInWin.Load()) / MB / win,
		E2E:         st.e2e.Summary(), Ack: st.ack.Summary(),
		e2eHist: st.e2e, ackHist: st.ack,
	}
	if c := res.Consumed - st.foreign.Load(); c < res.Acked {
		res.Missing = res.Acked - c
	}
	st.mu.Lock()
	if st.firstErr != nil {
		res.FirstError = st.firstErr.Error()
	}
	st.mu.Unlock()
	return res
}

// judge decides whether the run reached its target and says what makes
// its figures suspect.
func (r *RunResult) judge(cfg *RunConfig) {
	r.TargetReached = cfg.MBps == 0 || r.InMBps >= reachedFraction*cfg.MBps
	if !r.TargetReached {
		r.Notes = append(r.Notes, fmt.Sprintf("target %g MB/s NOT reached: %.1f MB/s acknowledged (%.0f%%); latency is that of an overloaded system",
			cfg.MBps, r.InMBps, 100*r.InMBps/cfg.MBps))
	}
	if r.InMBps > 0 && r.OutMBps < reachedFraction*r.InMBps {
		r.Notes = append(r.Notes, fmt.Sprintf("consumers fell behind: %.1f MB/s out vs %.1f MB/s in", r.OutMBps, r.InMBps))
	}
	if r.Missing > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d acknowledged records not read back within %s", r.Missing, cfg.Drain))
	}
	if n := r.ProduceErrors + r.ConsumeErrors; n > 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("%d errors, first: %s", n, r.FirstError))
	}
	if r.E2E.Count == 0 {
		r.Notes = append(r.Notes, "no record of the measured window was read back: no end-to-end latency")
	}
}

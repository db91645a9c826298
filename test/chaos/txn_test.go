package chaos

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupTransactSessionSurvivesKills: franz-go's consume-transform-
// produce loop (GroupTransactSession) copies an input topic to an output
// topic while the server is SIGKILLed and restarted at random moments.
// Transactions cut by a kill are completed or aborted by the coordinator
// after the restart, and their offsets with them, so the output read under
// read_committed holds every input record exactly once.
func TestGroupTransactSessionSurvivesKills(t *testing.T) {
	const (
		in, out, group = "etl-in", "etl-out", "etl-chaos"
		partitions     = 4
		kills          = 8
	)
	records := 200_000
	if testing.Short() {
		records = 20_000
	}
	rng := brokertest.Rand(t)
	srv := startServer(t, filepath.Join(t.TempDir(), "data"))
	adm := brokertest.Admin(t, srv.kafkaAddr)
	brokertest.CreateTopic(t, adm, in, partitions, nil)
	brokertest.CreateTopic(t, adm, out, partitions, nil)
	fillInput(t, srv.kafkaAddr, in, records)

	etl := &etlLoop{t: t, addr: srv.kafkaAddr, in: in, out: out, group: group}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); etl.run(stop) }()
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }); <-done }
	t.Cleanup(halt) // also when the test fails midway: the loop logs to t

	for i := range kills {
		etl.waitProgress(t, 30*time.Second)
		time.Sleep(time.Duration(100+rng.IntN(1000)) * time.Millisecond)
		srv.kill()
		before := etl.committed.Load()
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		during := ""
		if rng.IntN(3) == 0 {
			d := time.Duration(rng.IntN(150)) * time.Millisecond
			srv.startKillDuringStartup(d)
			during = ", killed again " + d.String() + " into its restart"
		}
		srv.start()
		t.Logf("kill %d: %d transactions committed before it%s; committing again after %v",
			i+1, before, during, etl.waitProgress(t, 30*time.Second))
	}
	// Let the loop finish the input: the group's committed offsets reach
	// the input's end offsets.
	ends := endOffsets(t, adm, in)
	deadline := time.Now().Add(90 * time.Second)
	for !committedTo(t, adm, group, in, ends) {
		if time.Now().After(deadline) {
			t.Fatalf("group %s did not commit up to %v", group, ends)
		}
		time.Sleep(200 * time.Millisecond)
	}
	halt()

	got := readCommitted(t, srv.kafkaAddr, out, records)
	seen := make([]bool, records)
	for _, v := range got {
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 || i >= records {
			t.Fatalf("foreign record %q in the output", v)
		}
		if seen[i] {
			t.Fatalf("record %d is in the output twice", i)
		}
		seen[i] = true
	}
	if len(got) != records {
		t.Fatalf("output holds %d records, want %d", len(got), records)
	}
	t.Logf("copied %d records exactly once in %d transactions (%d ended without a commit, %d sessions)",
		records, etl.committed.Load(), etl.aborted.Load(), etl.sessions.Load())
}

// fillInput produces values "0".."n-1" to topic, idempotently.
func fillInput(t *testing.T, addr, topic string, n int) {
	t.Helper()
	cl := brokertest.Client(t, addr, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(5*time.Millisecond))
	defer cl.Close()
	ctx := brokertest.Context(t, time.Minute)
	var failed atomic.Value
	for i := range n {
		cl.Produce(ctx, kgo.StringRecord(strconv.Itoa(i)), func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Store(err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err, _ := failed.Load().(error); err != nil {
		t.Fatalf("fill %s: %v", topic, err)
	}
}

// etlLoop runs GroupTransactSession sessions copying in to out; a session
// whose End fails for good is replaced by a new one (which fences it).
type etlLoop struct {
	t                  *testing.T
	addr               string
	in, out, group     string
	committed, aborted atomic.Int64
	sessions           atomic.Int64
}

func (e *etlLoop) run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		e.session(stop)
	}
}

// session runs one session until stop or until it fails for good.
func (e *etlLoop) session(stop <-chan struct{}) {
	e.sessions.Add(1)
	opts := []kgo.Opt{kgo.SeedBrokers(e.addr), kgo.TransactionalID("etl-chaos-tx"),
		kgo.ConsumerGroup(e.group), kgo.ConsumeTopics(e.in), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.DefaultProduceTopic(e.out),
		kgo.TransactionTimeout(20 * time.Second), kgo.SessionTimeout(6 * time.Second),
		kgo.FetchMaxWait(200 * time.Millisecond), kgo.MaxBufferedRecords(20000),
		// Reconnect quickly after a restart, and keep retrying through one:
		// End's errors are final, so a request that runs out of retries
		// while the node is down costs a new session and a rebalance.
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		kgo.RequestRetries(600), kgo.RetryTimeout(30 * time.Second),
		kgo.MetadataMinAge(100 * time.Millisecond)}
	if os.Getenv("STRATA_TEST_LOG") == "debug" {
		stamp := func() string { return time.Now().UTC().Format("15:04:05.000000 ") }
		opts = append(opts, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelDebug, stamp)))
	}
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		e.t.Errorf("new session: %v", err)
		return
	}
	defer sess.Close()
	for {
		select {
		case <-stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		// Small, slow transactions (as if each record took work), so that
		// the kills land in every step of them while the input is copied.
		fs := sess.PollRecords(ctx, 500)
		cancel()
		if fs.IsClientClosed() {
			return
		}
		if err := sess.Begin(); err != nil {
			e.t.Logf("begin: %v; starting a new session", err)
			return
		}
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			n++
			sess.Produce(context.Background(), &kgo.Record{Value: r.Value}, nil)
		})
		if n > 0 {
			time.Sleep(15 * time.Millisecond)
		}
		ectx, ecancel := context.WithTimeout(context.Background(), 30*time.Second)
		committed, err := sess.End(ectx, kgo.TryCommit)
		ecancel()
		switch {
		case err != nil && !errors.Is(err, context.DeadlineExceeded):
			e.t.Logf("end: %v; starting a new session", err)
			e.aborted.Add(1)
			return
		case committed && n > 0:
			e.committed.Add(1)
		case committed:
		default:
			e.aborted.Add(1)
		}
	}
}

// waitProgress waits for the next committed transaction and returns how
// long that took.
func (e *etlLoop) waitProgress(t *testing.T, d time.Duration) time.Duration {
	t.Helper()
	before, begin := e.committed.Load(), time.Now()
	for e.committed.Load() == before {
		if time.Since(begin) > d {
			t.Fatalf("no transaction committed for %v (%d so far)", d, before)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(begin)
}

// committedTo reports whether group's committed offsets of topic reached
// ends.
func committedTo(t *testing.T, adm *kadm.Client, group, topic string, ends offsets) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return false
	}
	for p, end := range ends {
		o, ok := offs.Lookup(topic, p)
		if !ok || o.Err != nil || o.At < end {
			return false
		}
	}
	return true
}

// readCommitted reads topic from the start under read_committed up to its
// last stable offsets and returns the values.
func readCommitted(t *testing.T, addr, topic string, want int) []string {
	t.Helper()
	cl := brokertest.Client(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(100*time.Millisecond))
	defer cl.Close()
	ctx := brokertest.Context(t, time.Minute)
	var mu sync.Mutex
	var got []string
	quietSince := time.Now()
	for {
		pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			t.Fatalf("read %s: %d records of %d", topic, len(got), want)
		}
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			mu.Lock()
			got = append(got, string(r.Value))
			mu.Unlock()
			n++
		})
		if n > 0 {
			quietSince = time.Now()
		}
		// Past the expected count, a quiet second means the end.
		if len(got) >= want && time.Since(quietSince) > time.Second {
			return got
		}
	}
}

package coord

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/log"
)

// fakeIDs hands out producer id blocks from 0 on.
type fakeIDs struct {
	mu   sync.Mutex
	next int64
}

func (f *fakeIDs) AllocateProducerIDs(_ context.Context, size int64) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	first := f.next
	f.next += size
	return first, nil
}

type markerCall struct {
	tenant     string
	part       TxnPartition
	producerID int64
	epoch      int16
	commit     bool
}

// fakeMarkers records the markers written. While hold is non-nil each
// write waits for it to close; while fail is set every write fails.
type fakeMarkers struct {
	mu    sync.Mutex
	calls []markerCall
	hold  chan struct{}
	fail  error
}

func (f *fakeMarkers) WriteTxnMarker(ctx context.Context, tenant string, p TxnPartition, producerID int64, epoch int16, commit bool, _ int32) error {
	f.mu.Lock()
	hold, fail := f.hold, f.fail
	f.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != nil {
		return fail
	}
	f.mu.Lock()
	f.calls = append(f.calls, markerCall{tenant, p, producerID, epoch, commit})
	f.mu.Unlock()
	return nil
}

func (f *fakeMarkers) written() []markerCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]markerCall(nil), f.calls...)
}

func (f *fakeMarkers) set(hold chan struct{}, fail error) {
	f.mu.Lock()
	f.hold, f.fail = hold, fail
	f.mu.Unlock()
}

// fakeClock is a settable time.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// txnEnv is a transaction coordinator on a real log in dir, with one
// partition (0) loaded.
type txnEnv struct {
	t       *testing.T
	dir     string
	c       *TxnCoordinator
	l       *log.Log
	ids     *fakeIDs
	markers *fakeMarkers
	clock   *fakeClock
	mutate  []func(*TxnConfig)
}

func newTxnEnv(t *testing.T, mutate ...func(*TxnConfig)) *txnEnv {
	e := &txnEnv{t: t, dir: t.TempDir(), ids: &fakeIDs{}, markers: &fakeMarkers{},
		clock: &fakeClock{now: time.UnixMilli(1_700_000_000_000)}, mutate: mutate}
	e.open()
	return e
}

func (e *txnEnv) open() {
	t := e.t
	t.Helper()
	l, err := log.Open(e.dir, log.DefaultConfig(), log.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultTxnConfig()
	cfg.Partitions = 1
	cfg.OffsetsPartitions = 1
	cfg.ProducerIDBlock = 3
	cfg.EndTxnWait = 5 * time.Second
	cfg.MarkerRetry = time.Millisecond
	cfg.ProducerIDs, cfg.Markers, cfg.Now = e.ids, e.markers, e.clock.Now
	for _, m := range e.mutate {
		m(&cfg)
	}
	c, err := NewTxn(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Load(0, diskLog{l}, 0); err != nil {
		t.Fatal(err)
	}
	e.c, e.l = c, l
	t.Cleanup(func() { c.Close(); l.Close() })
}

// restart closes the coordinator and its log and loads the log again.
func (e *txnEnv) restart() {
	e.c.Close()
	e.l.Close()
	e.open()
}

func (e *txnEnv) init(id string, timeout time.Duration) ProducerIDAndEpoch {
	e.t.Helper()
	p, err := e.c.InitProducerID(context.Background(), InitRequest{Tenant: "lc-a", Transactional: true, TransactionalID: id, TransactionTimeout: timeout, ProducerID: -1, ProducerEpoch: -1})
	if err != nil {
		e.t.Fatalf("init %s: %v", id, err)
	}
	return p
}

func (e *txnEnv) describe(id string) TxnDescription {
	e.t.Helper()
	return e.c.Describe("lc-a", []string{id})[0]
}

// waitState waits for a transactional id to reach a state.
func (e *txnEnv) waitState(id string, want TxnState) TxnDescription {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		d := e.describe(id)
		if d.Err == nil && d.State == want {
			return d
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: state %v (err %v), want %v", id, d.State, d.Err, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

var (
	partA0 = TxnPartition{Topic: "a", Partition: 0}
	partA1 = TxnPartition{Topic: "a", Partition: 1}
)

package coord

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestInitProducerIDWithoutTransactionalID(t *testing.T) {
	e := newTxnEnv(t)
	seen := map[int64]bool{}
	for range 7 { // blocks of 3: crosses two block boundaries
		p, err := e.c.InitProducerID(context.Background(), InitRequest{Tenant: "lc-a", ProducerID: -1, ProducerEpoch: -1})
		if err != nil || p.Epoch != 0 || seen[p.ProducerID] {
			t.Fatalf("init: %+v %v (seen %v)", p, err, seen)
		}
		seen[p.ProducerID] = true
	}
	// KIP-360 without a transactional id: a fresh id, whatever was named.
	p, err := e.c.InitProducerID(context.Background(), InitRequest{Tenant: "lc-a", ProducerID: 0, ProducerEpoch: 3})
	if err != nil || seen[p.ProducerID] || p.Epoch != 0 {
		t.Fatalf("init naming its producer: %+v %v", p, err)
	}
}

func TestInitProducerIDBadRequests(t *testing.T) {
	e := newTxnEnv(t, func(c *TxnConfig) { c.MaxTimeout = time.Minute })
	tests := []struct {
		name string
		req  InitRequest
		want error
	}{
		{"empty id", InitRequest{Transactional: true, TransactionalID: "", TransactionTimeout: time.Second, ProducerID: -1, ProducerEpoch: -1}, kerr.InvalidRequest},
		{"zero timeout", InitRequest{Transactional: true, TransactionalID: "x", ProducerID: -1, ProducerEpoch: -1}, kerr.InvalidTransactionTimeout},
		{"timeout above max", InitRequest{Transactional: true, TransactionalID: "x", TransactionTimeout: time.Minute + time.Millisecond, ProducerID: -1, ProducerEpoch: -1}, kerr.InvalidTransactionTimeout},
		{"id without epoch", InitRequest{Transactional: true, TransactionalID: "x", TransactionTimeout: time.Second, ProducerID: 4, ProducerEpoch: -1}, kerr.InvalidRequest},
		{"epoch without id", InitRequest{TransactionTimeout: time.Second, ProducerID: -1, ProducerEpoch: 2}, kerr.InvalidRequest},
	}
	for _, tc := range tests {
		tc.req.Tenant = "lc-a"
		p, err := e.c.InitProducerID(context.Background(), tc.req)
		wantErr(t, tc.name, err, tc.want)
		if p.ProducerID != -1 || p.Epoch != -1 {
			t.Fatalf("%s: answered %+v with the error", tc.name, p)
		}
	}
}

// TestZombieFencing: a second producer of a transactional id bumps the
// epoch; the first one's requests are fenced.
func TestZombieFencing(t *testing.T) {
	e := newTxnEnv(t)
	first := e.init("tx", time.Minute)
	if first.Epoch != 0 {
		t.Fatalf("first init: %+v", first)
	}
	second := e.init("tx", time.Minute)
	if second.ProducerID != first.ProducerID || second.Epoch != 1 {
		t.Fatalf("second init: %+v", second)
	}
	wantErr(t, "zombie adds", e.c.AddPartitions("lc-a", "tx", first.ProducerID, first.Epoch, []TxnPartition{partA0}), kerr.ProducerFenced)
	wantErr(t, "zombie ends", e.c.EndTxn(context.Background(), "lc-a", "tx", first.ProducerID, first.Epoch, true), kerr.ProducerFenced)
	wantErr(t, "wrong producer id", e.c.AddPartitions("lc-a", "tx", first.ProducerID+100, second.Epoch, []TxnPartition{partA0}), kerr.InvalidProducerIDMapping)
	wantErr(t, "unknown id", e.c.AddPartitions("lc-a", "nope", first.ProducerID, 0, []TxnPartition{partA0}), kerr.InvalidProducerIDMapping)
	wantErr(t, "other tenant", e.c.AddPartitions("lc-b", "tx", second.ProducerID, second.Epoch, []TxnPartition{partA0}), kerr.InvalidProducerIDMapping)
	wantErr(t, "current producer", e.c.AddPartitions("lc-a", "tx", second.ProducerID, second.Epoch, []TxnPartition{partA0}), nil)
}

func TestCommitWritesMarkersEverywhere(t *testing.T) {
	e := newTxnEnv(t)
	p := e.init("tx", time.Minute)
	ctx := context.Background()
	wantErr(t, "end before a transaction", e.c.EndTxn(ctx, "lc-a", "tx", p.ProducerID, p.Epoch, true), kerr.InvalidTxnState)
	wantErr(t, "add", e.c.AddPartitions("lc-a", "tx", p.ProducerID, p.Epoch, []TxnPartition{partA0, partA1}), nil)
	wantErr(t, "add offsets", e.c.AddOffsets("lc-a", "tx", p.ProducerID, p.Epoch, "g"), nil)
	d := e.describe("tx")
	if d.State != TxnOngoing || len(d.Partitions) != 3 || d.StartMs != e.clock.Now().UnixMilli() {
		t.Fatalf("ongoing: %+v", d)
	}
	wantErr(t, "commit", e.c.EndTxn(ctx, "lc-a", "tx", p.ProducerID, p.Epoch, true), nil)
	d = e.describe("tx")
	if d.State != TxnCompleteCommit || len(d.Partitions) != 0 {
		t.Fatalf("after commit: %+v", d)
	}
	got := e.markers.written()
	if len(got) != 3 {
		t.Fatalf("markers: %+v", got)
	}
	for _, m := range got {
		if !m.commit || m.producerID != p.ProducerID || m.epoch != p.Epoch || m.tenant != "lc-a" {
			t.Fatalf("marker %+v", m)
		}
	}
	if last := got[2].part; !last.Offsets || last.Topic != OffsetsTopic {
		t.Fatalf("offsets partition marker: %+v", last)
	}
	wantErr(t, "commit retried", e.c.EndTxn(ctx, "lc-a", "tx", p.ProducerID, p.Epoch, true), nil)
	wantErr(t, "abort after commit", e.c.EndTxn(ctx, "lc-a", "tx", p.ProducerID, p.Epoch, false), kerr.InvalidTxnState)

	// The next transaction of the same producer, aborted.
	wantErr(t, "add again", e.c.AddPartitions("lc-a", "tx", p.ProducerID, p.Epoch, []TxnPartition{partA1}), nil)
	wantErr(t, "abort", e.c.EndTxn(ctx, "lc-a", "tx", p.ProducerID, p.Epoch, false), nil)
	got = e.markers.written()
	if len(got) != 4 || got[3].commit || got[3].part != partA1 {
		t.Fatalf("abort markers: %+v", got)
	}
	wantErr(t, "commit after abort", e.c.EndTxn(ctx, "lc-a", "tx", p.ProducerID, p.Epoch, true), kerr.InvalidTxnState)
}

// TestConcurrentTransactions: while markers are being written, the
// producer's next requests are CONCURRENT_TRANSACTIONS.
func TestConcurrentTransactions(t *testing.T) {
	e := newTxnEnv(t, func(c *TxnConfig) { c.EndTxnWait = 10 * time.Millisecond })
	p := e.init("tx", time.Minute)
	ctx := context.Background()
	wantErr(t, "add", e.c.AddPartitions("lc-a", "tx", p.ProducerID, p.Epoch, []TxnPartition{partA0}), nil)
	hold := make(chan struct{})
	e.markers.set(hold, nil)
	wantErr(t, "commit answered before its markers", e.c.EndTxn(ctx, "lc-a", "tx", p.ProducerID, p.Epoch, true), nil)
	if d := e.describe("tx"); d.State != TxnPrepareCommit || len(d.Partitions) != 1 {
		t.Fatalf("while completing: %+v", d)
	}
	wantErr(t, "add", e.c.AddPartitions("lc-a", "tx", p.ProducerID, p.Epoch, []TxnPartition{partA1}), kerr.ConcurrentTransactions)
	wantErr(t, "commit again", e.c.EndTxn(ctx, "lc-a", "tx", p.ProducerID, p.Epoch, true), kerr.ConcurrentTransactions)
	wantErr(t, "abort", e.c.EndTxn(ctx, "lc-a", "tx", p.ProducerID, p.Epoch, false), kerr.InvalidTxnState)
	_, err := e.c.VerifyPartitions("lc-a", "tx", p.ProducerID, p.Epoch, []TxnPartition{partA0})
	wantErr(t, "verify", err, kerr.ConcurrentTransactions)
	_, err = e.c.InitProducerID(ctx, InitRequest{Tenant: "lc-a", Transactional: true, TransactionalID: "tx", TransactionTimeout: time.Minute, ProducerID: -1, ProducerEpoch: -1})
	wantErr(t, "init", err, kerr.ConcurrentTransactions)
	close(hold)
	e.waitState("tx", TxnCompleteCommit)
	if n := e.init("tx", time.Minute); n.Epoch != p.Epoch+1 {
		t.Fatalf("init after completion: %+v", n)
	}
}

// TestInitAbortsOngoing: a new producer of an id with an ongoing
// transaction aborts it under a bumped epoch and retries.
func TestInitAbortsOngoing(t *testing.T) {
	e := newTxnEnv(t)
	old := e.init("tx", time.Minute)
	ctx := context.Background()
	wantErr(t, "add", e.c.AddPartitions("lc-a", "tx", old.ProducerID, old.Epoch, []TxnPartition{partA0}), nil)
	_, err := e.c.InitProducerID(ctx, InitRequest{Tenant: "lc-a", Transactional: true, TransactionalID: "tx", TransactionTimeout: time.Minute, ProducerID: -1, ProducerEpoch: -1})
	wantErr(t, "init over an ongoing transaction", err, kerr.ConcurrentTransactions)
	e.waitState("tx", TxnCompleteAbort)
	got := e.markers.written()
	if len(got) != 1 || got[0].commit || got[0].epoch != old.Epoch+1 {
		t.Fatalf("fencing abort markers: %+v", got)
	}
	n := e.init("tx", time.Minute)
	if n.ProducerID != old.ProducerID || n.Epoch != old.Epoch+2 {
		t.Fatalf("retried init: %+v", n)
	}
	wantErr(t, "zombie commit", e.c.EndTxn(ctx, "lc-a", "tx", old.ProducerID, old.Epoch, true), kerr.ProducerFenced)
}

// TestProducerRecovery: KIP-360's InitProducerID naming the producer.
func TestProducerRecovery(t *testing.T) {
	e := newTxnEnv(t)
	ctx := context.Background()
	p := e.init("tx", time.Minute)
	recover := func(pid int64, epoch int16) (ProducerIDAndEpoch, error) {
		return e.c.InitProducerID(ctx, InitRequest{Tenant: "lc-a", Transactional: true, TransactionalID: "tx", TransactionTimeout: time.Minute, ProducerID: pid, ProducerEpoch: epoch})
	}
	r, err := recover(p.ProducerID, p.Epoch)
	if err != nil || r.ProducerID != p.ProducerID || r.Epoch != p.Epoch+1 {
		t.Fatalf("recover: %+v %v", r, err)
	}
	// The response was lost; the same request again gets the same epoch.
	r2, err := recover(p.ProducerID, p.Epoch)
	if err != nil || r2 != r {
		t.Fatalf("recover retried: %+v %v, want %+v", r2, err, r)
	}
	// The retry survives a restart (the last epoch is in the record).
	e.restart()
	if r3, err := recover(p.ProducerID, p.Epoch); err != nil || r3 != r {
		t.Fatalf("recover retried after restart: %+v %v, want %+v", r3, err, r)
	}
	_, err = recover(p.ProducerID, p.Epoch+5)
	wantErr(t, "unknown epoch", err, kerr.ProducerFenced)
	_, err = recover(p.ProducerID+77, r.Epoch)
	wantErr(t, "other producer", err, kerr.ProducerFenced)
	// A new producer forgets the last epoch: the old one cannot retry in.
	e.init("tx", time.Minute)
	_, err = recover(p.ProducerID, p.Epoch)
	wantErr(t, "retry after a new producer", err, kerr.ProducerFenced)
}

// TestEpochExhaustion: an id whose epochs run out gets a new producer id;
// the old producer id recovering with its exhausted epoch is recognised.
func TestEpochExhaustion(t *testing.T) {
	e := newTxnEnv(t)
	p := e.init("tx", time.Minute)
	_, lt, err := e.c.lock(TxnKey{"lc-a", "tx"})
	if err != nil {
		t.Fatal(err)
	}
	lt.epoch = exhaustedEpoch
	lt.mu.Unlock()
	r, err := e.c.InitProducerID(context.Background(), InitRequest{Tenant: "lc-a", Transactional: true, TransactionalID: "tx", TransactionTimeout: time.Minute, ProducerID: p.ProducerID, ProducerEpoch: exhaustedEpoch})
	if err != nil || r.ProducerID == p.ProducerID || r.Epoch != 0 {
		t.Fatalf("init at exhausted epoch: %+v %v", r, err)
	}
	// The rotated producer's retry is valid (its id is the previous one)
	// and answered with the new id.
	r2, err := e.c.InitProducerID(context.Background(), InitRequest{Tenant: "lc-a", Transactional: true, TransactionalID: "tx", TransactionTimeout: time.Minute, ProducerID: p.ProducerID, ProducerEpoch: exhaustedEpoch})
	if err != nil || r2 != r {
		t.Fatalf("retried rotation: %+v %v, want %+v", r2, err, r)
	}
}

// TestTimeoutAbortFencesZombie: a transaction older than its timeout is
// aborted under a bumped epoch; its producer's commit is then fenced.
func TestTimeoutAbortFencesZombie(t *testing.T) {
	e := newTxnEnv(t)
	ctx := context.Background()
	p := e.init("tx", time.Second)
	wantErr(t, "add", e.c.AddPartitions("lc-a", "tx", p.ProducerID, p.Epoch, []TxnPartition{partA0}), nil)
	e.clock.advance(999 * time.Millisecond)
	e.c.AbortTimedOut()
	if d := e.describe("tx"); d.State != TxnOngoing {
		t.Fatalf("aborted before its timeout: %+v", d)
	}
	e.clock.advance(time.Millisecond)
	e.c.AbortTimedOut()
	d := e.waitState("tx", TxnCompleteAbort)
	if d.ProducerEpoch != p.Epoch+1 {
		t.Fatalf("timeout abort did not bump the epoch: %+v", d)
	}
	if got := e.markers.written(); len(got) != 1 || got[0].commit || got[0].epoch != p.Epoch+1 {
		t.Fatalf("timeout abort markers: %+v", got)
	}
	wantErr(t, "commit after the timeout", e.c.EndTxn(ctx, "lc-a", "tx", p.ProducerID, p.Epoch, true), kerr.ProducerFenced)
	_, err := e.c.VerifyPartitions("lc-a", "tx", p.ProducerID, p.Epoch, []TxnPartition{partA0})
	wantErr(t, "zombie write", err, kerr.ProducerFenced)
}

func TestVerifyPartitions(t *testing.T) {
	e := newTxnEnv(t)
	p := e.init("tx", time.Minute)
	errs, err := e.c.VerifyPartitions("lc-a", "tx", p.ProducerID, p.Epoch, []TxnPartition{partA0})
	if err != nil || !errors.Is(errs[0], kerr.TransactionAbortable) || !errors.Is(errs[0], ErrNotInTransaction) {
		t.Fatalf("verify before add: %v %v", errs, err)
	}
	wantErr(t, "add", e.c.AddPartitions("lc-a", "tx", p.ProducerID, p.Epoch, []TxnPartition{partA0}), nil)
	errs, err = e.c.VerifyPartitions("lc-a", "tx", p.ProducerID, p.Epoch, []TxnPartition{partA0, partA1})
	if err != nil || errs[0] != nil || !errors.Is(errs[1], ErrNotInTransaction) {
		t.Fatalf("verify: %v %v", errs, err)
	}
	_, err = e.c.VerifyPartitions("lc-a", "nope", p.ProducerID, p.Epoch, []TxnPartition{partA0})
	wantErr(t, "unknown id", err, kerr.InvalidProducerIDMapping)
	_, err = e.c.VerifyPartitions("lc-a", "tx", p.ProducerID, p.Epoch+1, []TxnPartition{partA0})
	wantErr(t, "other epoch", err, kerr.ProducerFenced)
}

// TestStateSurvivesRestart: transactions replay from the log; one that
// was completing when the coordinator stopped gets its markers on load.
func TestTxnStateSurvivesRestart(t *testing.T) {
	e := newTxnEnv(t, func(c *TxnConfig) { c.EndTxnWait = 0 })
	ctx := context.Background()
	ongoing := e.init("ongoing", time.Minute)
	wantErr(t, "add", e.c.AddPartitions("lc-a", "ongoing", ongoing.ProducerID, ongoing.Epoch, []TxnPartition{partA0, partA1}), nil)
	done := e.init("done", 2*time.Minute)
	wantErr(t, "add", e.c.AddPartitions("lc-a", "done", done.ProducerID, done.Epoch, []TxnPartition{partA0}), nil)
	wantErr(t, "commit", e.c.EndTxn(ctx, "lc-a", "done", done.ProducerID, done.Epoch, true), nil)
	e.waitState("done", TxnCompleteCommit)
	half := e.init("half", time.Minute)
	wantErr(t, "add", e.c.AddPartitions("lc-a", "half", half.ProducerID, half.Epoch, []TxnPartition{partA1}), nil)
	e.markers.set(nil, errors.New("partition down"))
	wantErr(t, "commit", e.c.EndTxn(ctx, "lc-a", "half", half.ProducerID, half.Epoch, true), nil)

	e.restart()
	if d := e.describe("ongoing"); d.State != TxnOngoing || len(d.Partitions) != 2 || d.ProducerID != ongoing.ProducerID || d.Timeout != time.Minute {
		t.Fatalf("ongoing after restart: %+v", d)
	}
	if d := e.describe("done"); d.State != TxnCompleteCommit || d.ProducerEpoch != done.Epoch || d.Timeout != 2*time.Minute {
		t.Fatalf("done after restart: %+v", d)
	}
	if d := e.describe("half"); d.State != TxnPrepareCommit {
		t.Fatalf("half after restart: %+v", d)
	}
	e.markers.set(nil, nil)
	e.waitState("half", TxnCompleteCommit)
	var halfMarkers int
	for _, m := range e.markers.written() {
		if m.producerID == half.ProducerID {
			halfMarkers++
			if !m.commit || m.part != partA1 {
				t.Fatalf("marker after restart: %+v", m)
			}
		}
	}
	if halfMarkers != 1 {
		t.Fatalf("%d markers for the half-completed transaction", halfMarkers)
	}
	// Producer ids handed out after the restart are new.
	if n := e.init("new", time.Minute); n.ProducerID == ongoing.ProducerID || n.ProducerID == done.ProducerID || n.ProducerID == half.ProducerID {
		t.Fatalf("producer id reused: %+v", n)
	}
}

func TestExpireTransactionalIDs(t *testing.T) {
	e := newTxnEnv(t, func(c *TxnConfig) { c.IDExpiration = time.Hour })
	p := e.init("idle", time.Minute)
	busy := e.init("busy", time.Minute)
	wantErr(t, "add", e.c.AddPartitions("lc-a", "busy", busy.ProducerID, busy.Epoch, []TxnPartition{partA0}), nil)
	e.clock.advance(time.Hour)
	e.c.ExpireTransactionalIDs()
	wantErr(t, "describe expired", e.describe("idle").Err, kerr.TransactionalIDNotFound)
	if d := e.describe("busy"); d.Err != nil || d.State != TxnOngoing {
		t.Fatalf("an ongoing transaction expired: %+v", d)
	}
	wantErr(t, "end after expiry", e.c.EndTxn(context.Background(), "lc-a", "idle", p.ProducerID, p.Epoch, true), kerr.InvalidProducerIDMapping)
	e.restart()
	wantErr(t, "describe expired after restart", e.describe("idle").Err, kerr.TransactionalIDNotFound)
	if n := e.init("idle", time.Minute); n.ProducerID == p.ProducerID || n.Epoch != 0 {
		t.Fatalf("init of an expired id: %+v", n)
	}
}

func TestDescribeAndListTransactions(t *testing.T) {
	e := newTxnEnv(t)
	a := e.init("app-1", time.Minute)
	wantErr(t, "add", e.c.AddPartitions("lc-a", "app-1", a.ProducerID, a.Epoch, []TxnPartition{partA1, partA0}), nil)
	e.clock.advance(10 * time.Second)
	b := e.init("app-2", time.Minute)
	wantErr(t, "add", e.c.AddPartitions("lc-a", "app-2", b.ProducerID, b.Epoch, []TxnPartition{partA0}), nil)
	e.init("other", time.Minute)
	if _, err := e.c.InitProducerID(context.Background(), InitRequest{Tenant: "lc-b", Transactional: true, TransactionalID: "app-3", TransactionTimeout: time.Minute, ProducerID: -1, ProducerEpoch: -1}); err != nil {
		t.Fatal(err)
	}

	ds := e.c.Describe("lc-a", []string{"app-1", "app-3"})
	if d := ds[0]; d.Err != nil || d.State != TxnOngoing || d.ProducerID != a.ProducerID || len(d.Partitions) != 2 || d.Partitions[0] != partA0 {
		t.Fatalf("describe app-1: %+v", d)
	}
	wantErr(t, "describe another tenant's id", ds[1].Err, kerr.TransactionalIDNotFound)
	wantErr(t, "describe an empty id", e.c.Describe("lc-a", []string{""})[0].Err, kerr.TransactionalIDNotFound)

	ids := func(f TxnFilter) []string {
		t.Helper()
		ls, _, err := e.c.List("lc-a", f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, l := range ls {
			out = append(out, l.TransactionalID)
		}
		return out
	}
	tests := []struct {
		name string
		f    TxnFilter
		want []string
	}{
		{"all", TxnFilter{MinDuration: -1}, []string{"app-1", "app-2", "other"}},
		{"ongoing", TxnFilter{States: []string{"Ongoing"}, MinDuration: -1}, []string{"app-1", "app-2"}},
		{"empty", TxnFilter{States: []string{"Empty", "Bogus"}, MinDuration: -1}, []string{"other"}},
		{"producer", TxnFilter{ProducerIDs: []int64{b.ProducerID}, MinDuration: -1}, []string{"app-2"}},
		{"running over 5s", TxnFilter{States: []string{"Ongoing"}, MinDuration: 5 * time.Second}, []string{"app-1"}},
		{"pattern", TxnFilter{Pattern: "app-.", MinDuration: -1}, []string{"app-1", "app-2"}},
		{"pattern matches whole ids", TxnFilter{Pattern: "app", MinDuration: -1}, nil},
	}
	for _, tc := range tests {
		if got := ids(tc.f); !equalStrings(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	_, unknown, _ := e.c.List("lc-a", TxnFilter{States: []string{"Bogus"}, MinDuration: -1})
	if len(unknown) != 1 || unknown[0] != "Bogus" {
		t.Fatalf("unknown states: %v", unknown)
	}
	_, _, err := e.c.List("lc-a", TxnFilter{Pattern: "(", MinDuration: -1})
	wantErr(t, "bad pattern", err, kerr.InvalidRegularExpression)
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestNotCoordinator: ids of partitions not loaded here.
func TestNotCoordinator(t *testing.T) {
	e := newTxnEnv(t, func(c *TxnConfig) { c.Partitions = 8 })
	var id string
	for i := 0; ; i++ {
		id = string(rune('a' + i))
		if TxnPartitionFor(TxnKey{"lc-a", id}, 8) != 0 {
			break
		}
	}
	_, err := e.c.InitProducerID(context.Background(), InitRequest{Tenant: "lc-a", Transactional: true, TransactionalID: id, TransactionTimeout: time.Minute, ProducerID: -1, ProducerEpoch: -1})
	wantErr(t, "init", err, kerr.NotCoordinator)
	wantErr(t, "describe", e.describe(id).Err, kerr.NotCoordinator)
}

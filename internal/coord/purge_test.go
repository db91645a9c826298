package coord

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

func deletedA(tenant string) bool { return tenant == "lc-a" }

// TestPurgeTenantGroups: a deleted tenant's groups go with their offsets,
// members and all, and stay gone after a reload; the other tenant's group
// of the same name stays; a group with pending transactional offsets waits
// for its transaction's marker.
func TestPurgeTenantGroups(t *testing.T) {
	dir := t.TempDir()
	c := testCoordinator(t, dir)
	other := GroupKey{Tenant: "lc-b", Group: "g"}
	rs := joinAll(t, c, 2)
	syncAll(t, c, rs)
	if errs := c.CommitOffsets(CommitRequest{Group: grp, Generation: rs[0].Generation, MemberID: rs[0].MemberID, Offsets: []CommitOffset{{Topic: "orders", Offset: 5}}}); errs[0] != nil {
		t.Fatal(errs)
	}
	if errs := c.CommitOffsets(CommitRequest{Group: other, Generation: -1, Offsets: []CommitOffset{{Topic: "orders", Offset: 9}}}); errs[0] != nil {
		t.Fatal(errs)
	}
	pending := GroupKey{Tenant: "lc-a", Group: "txn"}
	if errs := c.CommitTxnOffsets(TxnCommitRequest{Group: pending, ProducerID: txnPID, ProducerEpoch: 0, Generation: -1, Offsets: []CommitOffset{{Topic: "orders", Offset: 3}}}); errs[0] != nil {
		t.Fatal(errs)
	}

	if left := c.PurgeTenants(deletedA); left != 1 {
		t.Fatalf("left %d groups, want the one with pending transactional offsets", left)
	}
	if _, err := c.DescribeGroup(grp); !errors.Is(err, kerr.GroupIDNotFound) {
		t.Fatalf("purged group: %v", err)
	}
	if err := c.Heartbeat(grp, rs[0].MemberID, "", rs[0].Generation); err == nil {
		t.Fatal("heartbeat of a purged group's member accepted")
	}
	writeMarker(t, c, 0, false) // the abort of the deleted tenant's transaction
	if left := c.PurgeTenants(deletedA); left != 0 {
		t.Fatalf("left %d groups after the abort", left)
	}
	if got := c.ListGroups("lc-a"); len(got) != 0 {
		t.Fatalf("deleted tenant's groups listed: %+v", got)
	}

	c2 := restart(t, c, dir)
	if got := c2.ListGroups("lc-a"); len(got) != 0 {
		t.Fatalf("deleted tenant's groups back after a reload: %+v", got)
	}
	offs, err := c2.FetchOffsets(grp, map[string][]int32{"orders": {0}})
	if err != nil || offs[0].Offset != -1 {
		t.Fatalf("purged offset after a reload: %+v %v", offs, err)
	}
	offs, err = c2.FetchOffsets(other, map[string][]int32{"orders": {0}})
	if err != nil || offs[0].Offset != 9 {
		t.Fatalf("other tenant's offset: %+v %v", offs, err)
	}
}

// TestPurgeTenantGroupsWriteFails: a failed tombstone write leaves the
// group for the next pass.
func TestPurgeTenantGroupsWriteFails(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Partitions = 1
	c := New(cfg)
	fl := &failingLog{}
	if err := c.Load(0, fl); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	k := GroupKey{Tenant: "lc-a", Group: "g"}
	if errs := c.CommitOffsets(CommitRequest{Group: k, Generation: -1, Offsets: []CommitOffset{{Topic: "t", Offset: 1}}}); errs[0] != nil {
		t.Fatal(errs)
	}
	fl.fail = true
	if left := c.PurgeTenants(deletedA); left != 1 {
		t.Fatalf("left %d, want 1", left)
	}
	fl.fail = false
	if left := c.PurgeTenants(deletedA); left != 0 || len(c.ListGroups("lc-a")) != 0 {
		t.Fatalf("left %d after the write works again", left)
	}
}

// failingLog is an in-memory offsets partition whose appends fail while
// fail is set.
type failingLog struct {
	fail bool
	end  int64
}

func (f *failingLog) Append([]byte) (int64, error) {
	if f.fail {
		return -1, errors.New("disk gone")
	}
	f.end++
	return f.end - 1, nil
}
func (f *failingLog) Read(int64, int) ([]byte, error) { return nil, nil }
func (f *failingLog) StartOffset() int64              { return 0 }
func (f *failingLog) EndOffset() int64                { return 0 }

// TestPurgeTenantTransactions: an open transaction of a deleted tenant is
// aborted under a bumped epoch (its producer is fenced) and its id then
// deleted; an idle id goes at once; another tenant's id stays; a reload
// finds nothing of the deleted tenant.
func TestPurgeTenantTransactions(t *testing.T) {
	e := newTxnEnv(t)
	open := e.init("open", time.Minute)
	if err := e.c.AddPartitions("lc-a", "open", open.ProducerID, open.Epoch, []TxnPartition{partA0}); err != nil {
		t.Fatal(err)
	}
	e.init("idle", time.Minute)
	if _, err := e.c.InitProducerID(context.Background(), InitRequest{Tenant: "lc-b", Transactional: true, TransactionalID: "open", TransactionTimeout: time.Minute, ProducerID: -1, ProducerEpoch: -1}); err != nil {
		t.Fatal(err)
	}

	if left := e.c.PurgeTenants(deletedA); left != 1 {
		t.Fatalf("left %d, want the open transaction", left)
	}
	wantErr(t, "idle id", e.describe("idle").Err, kerr.TransactionalIDNotFound)
	e.waitState("open", TxnCompleteAbort)
	calls := e.markers.written()
	if len(calls) != 1 || calls[0].commit || calls[0].epoch != open.Epoch+1 {
		t.Fatalf("markers: %+v", calls)
	}
	wantErr(t, "fenced producer", e.c.EndTxn(context.Background(), "lc-a", "open", open.ProducerID, open.Epoch, true), kerr.ProducerFenced)
	if left := e.c.PurgeTenants(deletedA); left != 0 {
		t.Fatalf("left %d after the abort", left)
	}
	wantErr(t, "aborted id", e.describe("open").Err, kerr.TransactionalIDNotFound)

	e.restart()
	for _, id := range []string{"open", "idle"} {
		wantErr(t, id+" after a reload", e.describe(id).Err, kerr.TransactionalIDNotFound)
	}
	if d := e.c.Describe("lc-b", []string{"open"})[0]; d.Err != nil {
		t.Fatalf("other tenant's id: %v", d.Err)
	}
}

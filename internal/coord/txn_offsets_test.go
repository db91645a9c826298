package coord

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/strata-db/strata/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
)

const txnPID = 7

func txnCommit(c *Coordinator, epoch int16, offsets ...CommitOffset) []error {
	return c.CommitTxnOffsets(TxnCommitRequest{Group: grp, ProducerID: txnPID, ProducerEpoch: epoch, Generation: -1, Offsets: offsets})
}

func offsetOf(t *testing.T, c *Coordinator, stable bool, p int32) FetchedOffset {
	t.Helper()
	offs, err := c.FetchStableOffsets(grp, nil, map[string][]int32{"orders": {p}}, stable)
	if err != nil || len(offs) != 1 {
		t.Fatalf("fetch: %v %v", offs, err)
	}
	return offs[0]
}

// markerBatch is a transaction marker as a partition writes it: a control
// batch of the producer whose one record's key is {version 0, type}.
func markerBatch(t *testing.T, producerID int64, epoch int16, commit bool) []byte {
	t.Helper()
	typ := uint16(controlAbort)
	if commit {
		typ = controlCommit
	}
	key := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(nil, 0), typ)
	value := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(nil, 0), 0)
	body := record.AppendRecord(nil, &record.Record{Key: key, Value: value}, 0, 0)
	b, err := record.BuildBatch(record.BatchSpec{
		Attributes: attrTransactional | 0x20, ProducerID: producerID, ProducerEpoch: epoch, BaseSequence: -1,
	}, 1, body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// writeMarker appends a marker to the group coordinator's partition, as
// the transaction coordinator's marker writer does, and tells the group
// coordinator.
func writeMarker(t *testing.T, c *Coordinator, epoch int16, commit bool) {
	t.Helper()
	if _, err := c.shards[0].log.Append(markerBatch(t, txnPID, epoch, commit)); err != nil {
		t.Fatal(err)
	}
	c.CompleteTxn(0, txnPID, epoch, commit)
}

func TestTxnOffsetsPendingUntilCommit(t *testing.T) {
	c := testCoordinator(t, t.TempDir())
	if errs := c.CommitOffsets(CommitRequest{Group: grp, Generation: -1, Offsets: []CommitOffset{{Topic: "orders", Partition: 0, Offset: 5}}}); errs[0] != nil {
		t.Fatal(errs)
	}
	if errs := txnCommit(c, 0, CommitOffset{Topic: "orders", Partition: 0, Offset: 10}, CommitOffset{Topic: "orders", Partition: 1, Offset: 20}); errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	if o := offsetOf(t, c, false, 0); o.Offset != 5 || o.Err != nil {
		t.Fatalf("pending offset visible: %+v", o)
	}
	if o := offsetOf(t, c, true, 1); o.Offset != -1 || !errors.Is(o.Err, kerr.UnstableOffsetCommit) {
		t.Fatalf("stable fetch of a pending offset: %+v", o)
	}
	writeMarker(t, c, 0, true)
	if o := offsetOf(t, c, true, 0); o.Offset != 10 || o.Err != nil {
		t.Fatalf("after commit: %+v", o)
	}
	if o := offsetOf(t, c, true, 1); o.Offset != 20 {
		t.Fatalf("after commit: %+v", o)
	}
}

func TestTxnOffsetsDroppedOnAbort(t *testing.T) {
	dir := t.TempDir()
	c := testCoordinator(t, dir)
	if errs := c.CommitOffsets(CommitRequest{Group: grp, Generation: -1, Offsets: []CommitOffset{{Topic: "orders", Partition: 0, Offset: 5}}}); errs[0] != nil {
		t.Fatal(errs)
	}
	if errs := txnCommit(c, 0, CommitOffset{Topic: "orders", Partition: 0, Offset: 10}); errs[0] != nil {
		t.Fatal(errs)
	}
	writeMarker(t, c, 0, false)
	if o := offsetOf(t, c, true, 0); o.Offset != 5 || o.Err != nil {
		t.Fatalf("after abort: %+v", o)
	}
	// The producer's next transaction commits.
	if errs := txnCommit(c, 0, CommitOffset{Topic: "orders", Partition: 0, Offset: 11}); errs[0] != nil {
		t.Fatal(errs)
	}
	writeMarker(t, c, 0, true)
	c2 := restart(t, c, dir)
	if o := offsetOf(t, c2, true, 0); o.Offset != 11 {
		t.Fatalf("after replay: %+v", o)
	}
}

// TestPlainCommitAfterTxnCommitWins: a plain commit written after the
// transactional one, before its marker, stays: the later record wins.
func TestPlainCommitAfterTxnCommitWins(t *testing.T) {
	dir := t.TempDir()
	c := testCoordinator(t, dir)
	if errs := txnCommit(c, 0, CommitOffset{Topic: "orders", Partition: 0, Offset: 10}); errs[0] != nil {
		t.Fatal(errs)
	}
	if errs := c.CommitOffsets(CommitRequest{Group: grp, Generation: -1, Offsets: []CommitOffset{{Topic: "orders", Partition: 0, Offset: 3}}}); errs[0] != nil {
		t.Fatal(errs)
	}
	writeMarker(t, c, 0, true)
	if o := offsetOf(t, c, true, 0); o.Offset != 3 {
		t.Fatalf("live: %+v", o)
	}
	c2 := restart(t, c, dir)
	if o := offsetOf(t, c2, true, 0); o.Offset != 3 {
		t.Fatalf("after replay: %+v", o)
	}
}

// TestPendingTxnOffsetsSurviveRestart: offsets without a marker replay as
// pending and are applied by the marker written after the restart.
func TestPendingTxnOffsetsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	c := testCoordinator(t, dir)
	if errs := txnCommit(c, 2, CommitOffset{Topic: "orders", Partition: 0, Offset: 10}); errs[0] != nil {
		t.Fatal(errs)
	}
	c2 := restart(t, c, dir)
	if o := offsetOf(t, c2, true, 0); !errors.Is(o.Err, kerr.UnstableOffsetCommit) {
		t.Fatalf("pending after replay: %+v", o)
	}
	writeMarker(t, c2, 2, true)
	if o := offsetOf(t, c2, true, 0); o.Offset != 10 || o.Err != nil {
		t.Fatalf("committed after replay: %+v", o)
	}
	// The marker's epoch fences older epochs of the producer, also after
	// another restart.
	c3 := restart(t, c2, dir)
	wantErr(t, "commit of a fenced epoch", txnCommit(c3, 1, CommitOffset{Topic: "orders", Partition: 0, Offset: 99})[0], kerr.InvalidProducerEpoch)
}

// TestTxnCommitMemberChecks: KIP-447's checks of the committing member.
func TestTxnCommitMemberChecks(t *testing.T) {
	c := testCoordinator(t, t.TempDir())
	rs := joinAll(t, c, 1)
	syncAll(t, c, rs)
	m := rs[0]
	off := CommitOffset{Topic: "orders", Partition: 0, Offset: 1}
	tests := []struct {
		name string
		req  TxnCommitRequest
		want error
	}{
		{"member", TxnCommitRequest{Generation: m.Generation, MemberID: m.MemberID}, nil},
		{"old client without member", TxnCommitRequest{Generation: -1}, nil},
		{"stale generation", TxnCommitRequest{Generation: m.Generation - 1, MemberID: m.MemberID}, kerr.IllegalGeneration},
		{"unknown member", TxnCommitRequest{Generation: m.Generation, MemberID: "who"}, kerr.UnknownMemberID},
		{"unknown group", TxnCommitRequest{Group: GroupKey{"lc-a", "nope"}, Generation: 3, MemberID: "x"}, kerr.IllegalGeneration},
	}
	for _, tc := range tests {
		if tc.req.Group.Group == "" {
			tc.req.Group = grp
		}
		tc.req.ProducerID, tc.req.Offsets = txnPID, []CommitOffset{off}
		errs := c.CommitTxnOffsets(tc.req)
		wantErr(t, tc.name, errs[0], tc.want)
	}
}

// restart closes c and its log and loads the directory again.
func restart(t *testing.T, c *Coordinator, dir string) *Coordinator {
	t.Helper()
	for _, s := range c.shards {
		c.Close()
		s.log.(diskLog).l.Close()
	}
	return testCoordinator(t, dir)
}

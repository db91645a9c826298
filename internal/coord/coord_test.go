package coord

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/log"
	"github.com/strata-db/strata/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
)

// diskLog is a real segmented log serving as an offsets partition.
type diskLog struct{ l *log.Log }

func (d diskLog) Append(b []byte) (int64, error) {
	// A coordinator's write: transactional offset commits carry their
	// producer's id and epoch but no sequence.
	info, err := d.l.AppendAs(log.OriginCoordinator, b, 0, -1)
	return info.FirstOffset, err
}
func (d diskLog) Read(off int64, max int) ([]byte, error) {
	return d.l.Read(off, max, d.l.LogEndOffset(), true)
}
func (d diskLog) StartOffset() int64 { return d.l.LogStartOffset() }
func (d diskLog) EndOffset() int64   { return d.l.LogEndOffset() }

func testCoordinator(t *testing.T, dir string) *Coordinator {
	t.Helper()
	l, err := log.Open(dir, log.DefaultConfig(), log.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	cfg := DefaultConfig()
	cfg.Partitions = 1
	cfg.MinSessionTimeout = 10 * time.Millisecond
	// Members started together must land in one rebalance, as the initial
	// delay exists to ensure.
	cfg.InitialRebalanceDelay = 100 * time.Millisecond
	c := New(cfg)
	if err := c.Load(0, diskLog{l}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // before the log closes: cleanups run last-in first-out
	return c
}

var grp = GroupKey{Tenant: "lc-a", Group: "g"}

func joinReq(member string) JoinRequest {
	return JoinRequest{
		Group: grp, MemberID: member, ClientID: "c", ClientHost: "/127.0.0.1",
		SessionTimeout: 2 * time.Second, RebalanceTimeout: 2 * time.Second,
		ProtocolType: "consumer", Protocols: []Protocol{{Name: "range", Metadata: []byte("m-" + member)}},
		RequireKnownMemberID: true,
	}
}

// join runs the KIP-394 dance: first join gets an id, second joins with it.
func join(t *testing.T, c *Coordinator) JoinResult {
	t.Helper()
	res := c.JoinGroup(context.Background(), joinReq(""))
	if !errors.Is(res.Err, kerr.MemberIDRequired) || res.MemberID == "" {
		t.Fatalf("first join: %+v", res)
	}
	return c.JoinGroup(context.Background(), joinReq(res.MemberID))
}

// joinAll joins n members concurrently and returns their results.
func joinAll(t *testing.T, c *Coordinator, n int) []JoinResult {
	t.Helper()
	out := make([]JoinResult, n)
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() { out[i] = join(t, c) })
	}
	wg.Wait()
	return out
}

func leaderOf(t *testing.T, rs []JoinResult) JoinResult {
	for _, r := range rs {
		if r.Err != nil {
			t.Fatalf("join: %v", r.Err)
		}
		if r.MemberID == r.LeaderID {
			return r
		}
	}
	t.Fatal("no leader")
	return JoinResult{}
}

// syncAll has every member sync; the leader assigns "a-<member>".
func syncAll(t *testing.T, c *Coordinator, rs []JoinResult) map[string][]byte {
	t.Helper()
	leader := leaderOf(t, rs)
	assign := map[string][]byte{}
	for _, m := range leader.Members {
		assign[m.MemberID] = []byte("a-" + m.MemberID)
	}
	got := map[string][]byte{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() {
			req := SyncRequest{Group: grp, Generation: r.Generation, MemberID: r.MemberID}
			if r.MemberID == leader.MemberID {
				time.Sleep(20 * time.Millisecond) // followers wait for the leader
				req.Assignments = assign
			}
			res := c.SyncGroup(context.Background(), req)
			if res.Err != nil {
				t.Errorf("sync %s: %v", r.MemberID, res.Err)
			}
			mu.Lock()
			got[r.MemberID] = res.Assignment
			mu.Unlock()
		})
	}
	wg.Wait()
	return got
}

func TestJoinSyncHeartbeat(t *testing.T) {
	c := testCoordinator(t, t.TempDir())
	rs := joinAll(t, c, 3)
	leader := leaderOf(t, rs)
	if len(leader.Members) != 3 || leader.Protocol != "range" || leader.Generation != 1 {
		t.Fatalf("leader's view: %+v", leader)
	}
	for _, m := range leader.Members {
		if string(m.Metadata) != "m-"+m.MemberID {
			t.Fatalf("member metadata not passed through: %q", m.Metadata)
		}
	}
	got := syncAll(t, c, rs)
	for _, r := range rs {
		if string(got[r.MemberID]) != "a-"+r.MemberID {
			t.Fatalf("member %s got assignment %q", r.MemberID, got[r.MemberID])
		}
		if err := c.Heartbeat(grp, r.MemberID, "", r.Generation); err != nil {
			t.Fatalf("heartbeat: %v", err)
		}
	}
	d, _ := c.DescribeGroup(grp)
	if d.State != StateStable || len(d.Members) != 3 || d.Members[0].Assignment == nil {
		t.Fatalf("describe: %+v", d)
	}
}

func TestLeaveTriggersRebalance(t *testing.T) {
	c := testCoordinator(t, t.TempDir())
	rs := joinAll(t, c, 2)
	syncAll(t, c, rs)
	errs, err := c.LeaveGroup(grp, []LeaveMember{{MemberID: rs[0].MemberID}})
	if err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	if err := c.Heartbeat(grp, rs[1].MemberID, "", rs[1].Generation); !errors.Is(err, kerr.RebalanceInProgress) {
		t.Fatalf("heartbeat after leave: %v", err)
	}
	res := c.JoinGroup(context.Background(), joinReq(rs[1].MemberID))
	if res.Err != nil || res.Generation != 2 || res.LeaderID != rs[1].MemberID || len(res.Members) != 1 {
		t.Fatalf("rejoin: %+v", res)
	}
	if errs, _ := c.LeaveGroup(grp, []LeaveMember{{MemberID: "nobody"}}); !errors.Is(errs[0], kerr.UnknownMemberID) {
		t.Fatalf("unknown member leaving: %v", errs[0])
	}
}

func TestSessionExpiry(t *testing.T) {
	c := testCoordinator(t, t.TempDir())
	req := joinReq("")
	req.SessionTimeout = 50 * time.Millisecond
	first := c.JoinGroup(context.Background(), req)
	req.MemberID = first.MemberID
	res := c.JoinGroup(context.Background(), req)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	c.SyncGroup(context.Background(), SyncRequest{Group: grp, Generation: res.Generation, MemberID: res.MemberID, Assignments: map[string][]byte{res.MemberID: []byte("x")}})
	time.Sleep(200 * time.Millisecond)
	d, _ := c.DescribeGroup(grp)
	if d.State != StateEmpty || len(d.Members) != 0 {
		t.Fatalf("after expiry: %+v", d)
	}
	if err := c.Heartbeat(grp, res.MemberID, "", res.Generation); !errors.Is(err, kerr.UnknownMemberID) {
		t.Fatalf("heartbeat of expired member: %v", err)
	}
}

func TestRequestErrors(t *testing.T) {
	c := testCoordinator(t, t.TempDir())
	rs := joinAll(t, c, 1)
	syncAll(t, c, rs)
	m := rs[0]
	bad := joinReq("")
	bad.ProtocolType = "connect"
	if res := c.JoinGroup(context.Background(), bad); !errors.Is(res.Err, kerr.InconsistentGroupProtocol) {
		t.Errorf("wrong protocol type: %v", res.Err)
	}
	bad = joinReq("")
	bad.Protocols = []Protocol{{Name: "roundrobin"}}
	if res := c.JoinGroup(context.Background(), bad); !errors.Is(res.Err, kerr.InconsistentGroupProtocol) {
		t.Errorf("no common protocol: %v", res.Err)
	}
	bad = joinReq("")
	bad.SessionTimeout = time.Hour
	if res := c.JoinGroup(context.Background(), bad); !errors.Is(res.Err, kerr.InvalidSessionTimeout) {
		t.Errorf("session timeout: %v", res.Err)
	}
	if res := c.JoinGroup(context.Background(), joinReq("ghost")); !errors.Is(res.Err, kerr.UnknownMemberID) {
		t.Errorf("unknown member join: %v", res.Err)
	}
	if err := c.Heartbeat(grp, m.MemberID, "", m.Generation+5); !errors.Is(err, kerr.IllegalGeneration) {
		t.Errorf("stale generation: %v", err)
	}
	if res := c.SyncGroup(context.Background(), SyncRequest{Group: grp, Generation: m.Generation, MemberID: m.MemberID, Protocol: "sticky"}); !errors.Is(res.Err, kerr.InconsistentGroupProtocol) {
		t.Errorf("sync with other protocol: %v", res.Err)
	}
	if res := c.JoinGroup(context.Background(), JoinRequest{Group: GroupKey{"lc-a", ""}, SessionTimeout: time.Second}); !errors.Is(res.Err, kerr.InvalidGroupID) {
		t.Errorf("empty group id: %v", res.Err)
	}
	// Another tenant's group of the same name is another group.
	other := GroupKey{Tenant: "lc-b", Group: "g"}
	if err := c.Heartbeat(other, m.MemberID, "", m.Generation); !errors.Is(err, kerr.UnknownMemberID) {
		t.Errorf("member seen from another tenant: %v", err)
	}
	if errs := c.CommitOffsets(CommitRequest{Group: grp, Generation: -1, Offsets: []CommitOffset{{Topic: "t", Offset: 1}}}); !errors.Is(errs[0], kerr.IllegalGeneration) {
		t.Errorf("simple commit into a live group: %v", errs[0])
	}
	long := string(make([]byte, 5000))
	if errs := c.CommitOffsets(CommitRequest{Group: grp, Generation: m.Generation, MemberID: m.MemberID, Offsets: []CommitOffset{{Topic: "t", Offset: 1, Metadata: &long}}}); !errors.Is(errs[0], kerr.OffsetMetadataTooLarge) {
		t.Errorf("oversized metadata: %v", errs[0])
	}
	if err := c.DeleteGroup(grp); !errors.Is(err, kerr.NonEmptyGroup) {
		t.Errorf("delete live group: %v", err)
	}
}

func TestStaticMemberRejoinKeepsAssignment(t *testing.T) {
	c := testCoordinator(t, t.TempDir())
	req := joinReq("")
	req.InstanceID = "instance-1"
	res := c.JoinGroup(context.Background(), req) // static members need no MEMBER_ID_REQUIRED
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	c.SyncGroup(context.Background(), SyncRequest{Group: grp, Generation: res.Generation, MemberID: res.MemberID, Assignments: map[string][]byte{res.MemberID: []byte("mine")}})
	again := c.JoinGroup(context.Background(), req) // a restarted client: no member id
	if again.Err != nil || again.MemberID == res.MemberID || again.Generation != res.Generation || !again.SkipAssignment {
		t.Fatalf("static rejoin: %+v", again)
	}
	if err := c.Heartbeat(grp, res.MemberID, "instance-1", res.Generation); !errors.Is(err, kerr.FencedInstanceID) {
		t.Fatalf("old incarnation not fenced: %v", err)
	}
	s := c.SyncGroup(context.Background(), SyncRequest{Group: grp, Generation: again.Generation, MemberID: again.MemberID, InstanceID: "instance-1"})
	if s.Err != nil || string(s.Assignment) != "mine" {
		t.Fatalf("assignment after static rejoin: %+v", s)
	}
}

func TestStateSurvivesReload(t *testing.T) {
	dir := t.TempDir()
	c := testCoordinator(t, dir)
	rs := joinAll(t, c, 2)
	syncAll(t, c, rs)
	m := rs[0]
	errs := c.CommitOffsets(CommitRequest{Group: grp, Generation: m.Generation, MemberID: m.MemberID, Offsets: []CommitOffset{
		{Topic: "orders", Partition: 0, Offset: 42, LeaderEpoch: 3}, {Topic: "orders", Partition: 1, Offset: 7},
	}})
	if errs[0] != nil || errs[1] != nil {
		t.Fatal(errs)
	}
	for _, s := range c.shards {
		c.Close()
		s.log.(diskLog).l.Close()
	}

	c2 := testCoordinator(t, dir)
	offs, err := c2.FetchOffsets(grp, map[string][]int32{"orders": {0, 1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{0: 42, 1: 7, 2: -1}
	for _, o := range offs {
		if o.Offset != want[o.Partition] {
			t.Fatalf("partition %d: offset %d, want %d", o.Partition, o.Offset, want[o.Partition])
		}
	}
	// Members carry on with their generation, no rebalance needed.
	for _, r := range rs {
		if err := c2.Heartbeat(grp, r.MemberID, "", r.Generation); err != nil {
			t.Fatalf("heartbeat after reload: %v", err)
		}
	}
	d, _ := c2.DescribeGroup(grp)
	if d.State != StateStable || len(d.Members) != 2 || string(d.Members[0].Assignment) != "a-"+d.Members[0].MemberID {
		t.Fatalf("after reload: %+v", d)
	}
}

func TestDeleteGroupAndOffsets(t *testing.T) {
	c := testCoordinator(t, t.TempDir())
	if errs := c.CommitOffsets(CommitRequest{Group: grp, Generation: -1, Offsets: []CommitOffset{{Topic: "a", Offset: 1}, {Topic: "b", Offset: 2}}}); errs[0] != nil {
		t.Fatal(errs)
	}
	if errs, err := c.DeleteOffsets(grp, []FetchedOffset{{Topic: "a"}}); err != nil || errs[0] != nil {
		t.Fatal(err, errs)
	}
	offs, _ := c.FetchOffsets(grp, nil)
	if len(offs) != 1 || offs[0].Topic != "b" {
		t.Fatalf("after offset delete: %+v", offs)
	}
	if err := c.DeleteGroup(grp); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DescribeGroup(grp); !errors.Is(err, kerr.GroupIDNotFound) {
		t.Fatalf("deleted group: %v", err)
	}
	if got := c.ListGroups("lc-a"); len(got) != 0 {
		t.Fatalf("listed after delete: %+v", got)
	}
}

func TestOffsetExpiry(t *testing.T) {
	dir := t.TempDir()
	c := testCoordinator(t, dir)
	now := time.Now()
	c.cfg.Now = func() time.Time { return now }
	c.CommitOffsets(CommitRequest{Group: grp, Generation: -1, Offsets: []CommitOffset{{Topic: "a", Offset: 1}}})
	now = now.Add(c.cfg.OffsetsRetention + time.Minute)
	c.ExpireOffsets()
	if got := c.ListGroups("lc-a"); len(got) != 0 {
		t.Fatalf("group kept after its offsets expired: %+v", got)
	}
	offs, _ := c.FetchOffsets(grp, map[string][]int32{"a": {0}})
	if offs[0].Offset != -1 {
		t.Fatalf("expired offset still served: %+v", offs)
	}
}

func TestReplayIgnoresNothing(t *testing.T) {
	// A tombstone for a group and its offsets removes them on replay.
	dir := t.TempDir()
	l, _ := log.Open(dir, log.DefaultConfig(), log.Options{})
	dl := diskLog{l}
	k := GroupKey{"lc-a", "x"}
	dl.Append(record.Encode(1, []record.Record{{Key: offsetKey(k, topicPartition{"t", 0}), Value: mustJSON(offsetCommit{Offset: 5})}}))
	dl.Append(record.Encode(2, []record.Record{{Key: offsetKey(k, topicPartition{"t", 0})}}))
	st, err := replay(dl)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.offsets[k]) != 0 {
		t.Fatalf("tombstoned offset replayed: %+v", st.offsets[k])
	}
	l.Close()
}

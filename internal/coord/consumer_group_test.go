package coord

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
)

var cgrp = GroupKey{Tenant: "lc-a", Group: "cg"}

// TestConsumerRevocationBeforeAssignment walks the reconciliation of a
// second member joining: the first member gives up half its partitions and
// keeps its epoch until it confirms; the second gets them only after.
func TestConsumerRevocationBeforeAssignment(t *testing.T) {
	topics := newFakeTopics()
	jobs := topics.create("lc-a", "jobs", 6)
	c := consumerCoordinator(t, t.TempDir(), topics)

	a := newClient(cgrp, "jobs")
	res := a.mustHeartbeat(t, c)
	if res.MemberEpoch != 1 || a.held.size() != 6 || res.HeartbeatInterval != 100*time.Millisecond {
		t.Fatalf("first member: %+v", res)
	}
	b := newClient(cgrp, "jobs")
	res = b.mustHeartbeat(t, c)
	if res.MemberEpoch != 2 || b.held.size() != 0 {
		t.Fatalf("second member may not get partitions the first still owns: %+v", res)
	}
	// a learns it must give up three partitions; its epoch stays at 1.
	res = a.mustHeartbeat(t, c)
	if res.MemberEpoch != 1 || a.held.size() != 3 {
		t.Fatalf("first member asked to revoke: %+v", res)
	}
	d, _ := c.DescribeConsumerGroup(cgrp)
	if d.State != StateReconciling || d.Epoch != 2 || d.AssignmentEpoch != 2 {
		t.Fatalf("while revoking: %+v", d)
	}
	// A keepalive proves nothing: the revoked partitions stay a's.
	a.keepalive(c)
	if res := b.mustHeartbeat(t, c); b.held.size() != 0 {
		t.Fatalf("partitions given before their revocation was confirmed: %+v", res)
	}
	// A commit with a's current epoch still works while it revokes.
	errs := c.CommitOffsets(CommitRequest{Group: cgrp, Version: 9, Generation: 1, MemberID: a.id, Offsets: []CommitOffset{{Topic: "jobs", Offset: 5}}})
	if errs[0] != nil {
		t.Fatalf("commit while revoking: %v", errs[0])
	}
	// a confirms; it moves to epoch 2, then b gets the released ones.
	if res := a.mustHeartbeat(t, c); res.MemberEpoch != 2 || a.held.size() != 3 {
		t.Fatalf("after confirming: %+v", res)
	}
	if res := b.mustHeartbeat(t, c); res.MemberEpoch != 2 || b.held.size() != 3 {
		t.Fatalf("after release: %+v", res)
	}
	noDoubleOwners(t, []*client{a, b})
	d, _ = c.DescribeConsumerGroup(cgrp)
	if d.State != StateStable || len(d.Members) != 2 || d.Assignor != AssignorUniform {
		t.Fatalf("settled: %+v", d)
	}
	for _, m := range d.Members {
		if len(m.Assignment) != 1 || m.Assignment[0].Topic != "jobs" || m.Assignment[0].TopicID != jobs.ID || len(m.Assignment[0].Partitions) != 3 {
			t.Fatalf("described member: %+v", m)
		}
	}
	// KIP-1251: an older epoch commits the partitions the member has owned
	// since that epoch, and nothing else.
	partitionOf := func(cl *client) int32 { return cl.held[jobs.ID][0] }
	commit := func(cl *client, epoch int32, p int32) error {
		return c.CommitOffsets(CommitRequest{Group: cgrp, Version: 9, Generation: epoch, MemberID: cl.id, Offsets: []CommitOffset{{Topic: "jobs", Partition: p, Offset: 7}}})[0]
	}
	if err := commit(a, 1, partitionOf(a)); err != nil {
		t.Errorf("commit with the epoch a has owned the partition since: %v", err)
	}
	if err := commit(b, 1, partitionOf(b)); !errors.Is(err, kerr.StaleMemberEpoch) {
		t.Errorf("commit with an epoch from before b owned the partition: %v", err)
	}
	if err := commit(a, 1, partitionOf(b)); !errors.Is(err, kerr.StaleMemberEpoch) {
		t.Errorf("commit of another member's partition with an old epoch: %v", err)
	}
	if err := commit(b, 2, partitionOf(b)); err != nil {
		t.Errorf("commit with the current epoch: %v", err)
	}

	// A steady member's keepalive gets no assignment back; a full
	// heartbeat does.
	if res := a.keepalive(c); res.Err != nil || res.Assignment != nil {
		t.Fatalf("keepalive: %+v", res)
	}
	if res := a.mustHeartbeat(t, c); res.Assignment.size() != 3 {
		t.Fatalf("full heartbeat: %+v", res)
	}
}

func TestConsumerHeartbeatErrors(t *testing.T) {
	topics := newFakeTopics()
	jobs := topics.create("lc-a", "jobs", 3)
	c := consumerCoordinator(t, t.TempDir(), topics, func(cfg *Config) { cfg.ConsumerMaxSize = 2 })
	a := newClient(cgrp, "jobs")
	a.mustHeartbeat(t, c) // epoch 1
	b := newClient(cgrp, "jobs")
	b.mustHeartbeat(t, c) // epoch 2
	a.mustHeartbeat(t, c) // a revokes at epoch 1
	a.mustHeartbeat(t, c) // a at epoch 2, prev 1

	str := func(s string) *string { return &s }
	withReq := func(cl *client, edit func(*ConsumerHeartbeatRequest)) ConsumerHeartbeatRequest {
		r := cl.request()
		edit(&r)
		return r
	}
	tests := []struct {
		name string
		req  ConsumerHeartbeatRequest
		want *kerr.Error
	}{
		{"greater epoch", withReq(a, func(r *ConsumerHeartbeatRequest) { r.MemberEpoch = 3 }), kerr.FencedMemberEpoch},
		{"previous epoch with more than assigned", withReq(a, func(r *ConsumerHeartbeatRequest) {
			r.MemberEpoch = 1
			r.Owned = Assignment{jobs.ID: {0, 1, 2}} // a holds some of them only
		}), kerr.FencedMemberEpoch},
		{"previous epoch as keepalive", withReq(a, func(r *ConsumerHeartbeatRequest) { r.MemberEpoch, r.Owned = 1, nil }), kerr.FencedMemberEpoch},
		{"unknown member", withReq(newClient(cgrp), func(r *ConsumerHeartbeatRequest) { r.MemberEpoch = 4 }), kerr.UnknownMemberID},
		{"unknown group", withReq(a, func(r *ConsumerHeartbeatRequest) { r.Group.Group = "nope" }), kerr.GroupIDNotFound},
		{"other tenant", withReq(a, func(r *ConsumerHeartbeatRequest) { r.Group.Tenant = "lc-b" }), kerr.GroupIDNotFound},
		{"group full", newClient(cgrp, "jobs").request(), kerr.GroupMaxSizeReached},
		{"no member id", withReq(a, func(r *ConsumerHeartbeatRequest) { r.MemberID = "" }), kerr.InvalidRequest},
		{"join without rebalance timeout", withReq(newClient(cgrp, "jobs"), func(r *ConsumerHeartbeatRequest) { r.RebalanceTimeout = -1 }), kerr.InvalidRequest},
		{"join owning partitions", withReq(newClient(cgrp, "jobs"), func(r *ConsumerHeartbeatRequest) { r.Owned = a.held }), kerr.InvalidRequest},
		{"join without subscription", withReq(newClient(cgrp), func(r *ConsumerHeartbeatRequest) { r.SubscribedTopicNames = nil }), kerr.InvalidRequest},
		{"static leave without instance", withReq(a, func(r *ConsumerHeartbeatRequest) { r.MemberEpoch = epochStaticLeave }), kerr.InvalidRequest},
		{"epoch below -2", withReq(a, func(r *ConsumerHeartbeatRequest) { r.MemberEpoch = -3 }), kerr.InvalidRequest},
		{"unknown assignor", withReq(a, func(r *ConsumerHeartbeatRequest) { r.ServerAssignor = str("sticky") }), kerr.UnsupportedAssignor},
		{"bad regex", withReq(newClient(cgrp), func(r *ConsumerHeartbeatRequest) { r.SubscribedTopicNames, r.SubscribedTopicRegex = nil, str("jobs[") }), kerr.InvalidRegularExpression},
		{"names and regex", withReq(a, func(r *ConsumerHeartbeatRequest) { r.SubscribedTopicRegex = str("j.*") }), kerr.InvalidRequest},
		{"wrong instance", withReq(a, func(r *ConsumerHeartbeatRequest) { r.InstanceID = str("i-9") }), kerr.FencedInstanceID},
	}
	for _, tc := range tests {
		res := c.ConsumerGroupHeartbeat(tc.req)
		if !errors.Is(res.Err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, res.Err, tc.want)
		}
	}
	// The previous epoch with a subset of the assignment is a member whose
	// response was lost: accepted, and answered with the current epoch.
	r := a.request()
	r.MemberEpoch = 1
	if res := c.ConsumerGroupHeartbeat(r); res.Err != nil || res.MemberEpoch != 2 {
		t.Fatalf("previous epoch with a subset: %+v", res)
	}
	// A member that lost its state rejoins in place with epoch 0 and gets
	// its assignment again.
	held := a.held
	a.epoch, a.held = 0, nil
	if res := a.mustHeartbeat(t, c); res.MemberEpoch != 2 || !res.Assignment.equal(held) {
		t.Fatalf("rejoin with epoch 0: %+v (held %v)", res, held)
	}
}

func TestConsumerLeaveAndSessionExpiry(t *testing.T) {
	topics := newFakeTopics()
	topics.create("lc-a", "jobs", 4)
	c := consumerCoordinator(t, t.TempDir(), topics, func(cfg *Config) {
		cfg.ConsumerSessionTimeout = 300 * time.Millisecond
		cfg.ConsumerHeartbeatInterval = 50 * time.Millisecond
	})
	a, b, x := newClient(cgrp, "jobs"), newClient(cgrp, "jobs"), newClient(cgrp, "jobs")
	clients := []*client{a, b, x}
	settle(t, c, clients)

	if res := x.leave(c); res.Err != nil || res.MemberEpoch != epochLeave {
		t.Fatalf("leave: %+v", res)
	}
	clients = clients[:2]
	settle(t, c, clients)
	if got := counts(clients); got[0]+got[1] != 4 {
		t.Fatalf("after leave: %v", got)
	}
	if res := x.leave(c); !errors.Is(res.Err, kerr.UnknownMemberID) {
		t.Fatalf("second leave: %v", res.Err)
	}

	// b stops heartbeating; a keeps going and ends up with everything.
	deadline := time.Now().Add(5 * time.Second)
	for a.held.size() != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("expired member's partitions never reached a: %v", a.held)
		}
		a.mustHeartbeat(t, c)
		time.Sleep(50 * time.Millisecond)
	}
	if res := b.heartbeat(c); !errors.Is(res.Err, kerr.UnknownMemberID) {
		t.Fatalf("expired member heartbeat: %v", res.Err)
	}
	a.leave(c)
	d, _ := c.DescribeConsumerGroup(cgrp)
	if d.State != StateEmpty || len(d.Members) != 0 {
		t.Fatalf("after everyone left: %+v", d)
	}
}

func TestConsumerStaticMember(t *testing.T) {
	topics := newFakeTopics()
	topics.create("lc-a", "jobs", 4)
	c := consumerCoordinator(t, t.TempDir(), topics)
	a, s := newClient(cgrp, "jobs"), newClient(cgrp, "jobs")
	s.instance = "i-1"
	settle(t, c, []*client{a, s})
	before, _ := c.DescribeConsumerGroup(cgrp)
	held := s.held

	// Another process with the same instance id cannot join while s lives.
	s2 := newClient(cgrp, "jobs")
	s2.instance = "i-1"
	if res := s2.heartbeat(c); !errors.Is(res.Err, kerr.UnreleasedInstanceID) {
		t.Fatalf("duplicate instance: %v", res.Err)
	}
	if res := s.leave(c); res.Err != nil || res.MemberEpoch != epochStaticLeave {
		t.Fatalf("static leave: %+v", res)
	}
	d, _ := c.DescribeConsumerGroup(cgrp)
	if len(d.Members) != 2 || d.Epoch != before.Epoch {
		t.Fatalf("a static member that leaves keeps its place: %+v", d)
	}
	// Its next incarnation takes over its assignment: no rebalance.
	res := s2.mustHeartbeat(t, c)
	if !res.Assignment.equal(held) || res.MemberEpoch != before.Epoch {
		t.Fatalf("replacement: %+v, want %v at epoch %d", res, held, before.Epoch)
	}
	d, _ = c.DescribeConsumerGroup(cgrp)
	if len(d.Members) != 2 || d.Epoch != before.Epoch || d.State != StateStable {
		t.Fatalf("after replacement: %+v", d)
	}
	if res := s.heartbeat(c); !errors.Is(res.Err, kerr.UnknownMemberID) {
		t.Fatalf("old incarnation: %v", res.Err)
	}
}

func TestConsumerRevocationTimeout(t *testing.T) {
	topics := newFakeTopics()
	topics.create("lc-a", "jobs", 4)
	c := consumerCoordinator(t, t.TempDir(), topics)
	a, b := newClient(cgrp, "jobs"), newClient(cgrp, "jobs")
	a.rebalanceTimeout = 200 * time.Millisecond
	a.mustHeartbeat(t, c)
	b.mustHeartbeat(t, c)
	a.mustHeartbeat(t, c) // asked to revoke; it never confirms
	time.Sleep(400 * time.Millisecond)
	if res := a.keepalive(c); !errors.Is(res.Err, kerr.UnknownMemberID) {
		t.Fatalf("member that did not revoke in time: %v", res.Err)
	}
	if res := b.mustHeartbeat(t, c); b.held.size() != 4 {
		t.Fatalf("b after a was removed: %+v", res)
	}
}

func TestConsumerTopicChanges(t *testing.T) {
	topics := newFakeTopics()
	topics.create("lc-a", "jobs-1", 2)
	topics.create("lc-a", "other", 2)
	c := consumerCoordinator(t, t.TempDir(), topics)
	a := newClient(cgrp)
	a.regex = "jobs-.*"
	a.mustHeartbeat(t, c)
	if a.held.size() != 2 {
		t.Fatalf("regex subscription: %v", a.held)
	}
	topics.create("lc-a", "jobs-2", 3)
	topics.create("lc-b", "jobs-3", 3) // another tenant's topic is not seen
	if res := a.mustHeartbeat(t, c); res.MemberEpoch != 2 || a.held.size() != 5 {
		t.Fatalf("new matching topic: %+v", res)
	}
	topics.grow("lc-a", "jobs-2", 4)
	if res := a.mustHeartbeat(t, c); res.MemberEpoch != 3 || a.held.size() != 6 {
		t.Fatalf("grown topic: %+v", res)
	}
	// A deleted topic's partitions need no confirmation to be given up.
	topics.delete("lc-a", "jobs-1")
	if res := a.keepalive(c); res.MemberEpoch != 4 || res.Assignment.size() != 4 {
		t.Fatalf("deleted topic: %+v", res)
	}
	// Describe names topics by the metadata.
	d, _ := c.DescribeConsumerGroup(cgrp)
	if len(d.Members[0].Assignment) != 1 || d.Members[0].Assignment[0].Topic != "jobs-2" || d.Members[0].SubscribedRegex != "jobs-.*" {
		t.Fatalf("describe: %+v", d.Members[0])
	}
	// Nothing changed: no new epoch.
	if res := a.mustHeartbeat(t, c); res.MemberEpoch != 4 {
		t.Fatalf("quiet heartbeat bumped the epoch: %+v", res)
	}
}

func TestConsumerGroupSurvivesReload(t *testing.T) {
	dir := t.TempDir()
	topics := newFakeTopics()
	topics.create("lc-a", "jobs", 6)
	c := consumerCoordinator(t, dir, topics)
	a, b, x := newClient(cgrp, "jobs"), newClient(cgrp, "jobs"), newClient(cgrp, "jobs")
	settle(t, c, []*client{a, b, x})
	x.leave(c)
	b.mustHeartbeat(t, c) // picks up its new target, may be revoking
	c.CommitOffsets(CommitRequest{Group: cgrp, Version: 9, Generation: a.epoch, MemberID: a.id, Offsets: []CommitOffset{{Topic: "jobs", Partition: 1, Offset: 9}}})
	before, _ := c.DescribeConsumerGroup(cgrp)

	c = reload(t, c, dir, topics)
	after, err := c.DescribeConsumerGroup(cgrp)
	if err != nil {
		t.Fatal(err)
	}
	if after.Epoch != before.Epoch || after.AssignmentEpoch != before.AssignmentEpoch || after.State != before.State || len(after.Members) != 2 {
		t.Fatalf("group after reload:\n%+v\nbefore:\n%+v", after, before)
	}
	for i, m := range after.Members {
		bm := before.Members[i]
		if m.MemberID != bm.MemberID || m.MemberEpoch != bm.MemberEpoch || !slices.EqualFunc(m.Assignment, bm.Assignment, samePartitions) ||
			!slices.EqualFunc(m.TargetAssignment, bm.TargetAssignment, samePartitions) {
			t.Fatalf("member after reload:\n%+v\nbefore:\n%+v", m, bm)
		}
	}
	// The members carry on without being fenced, and settle.
	settle(t, c, []*client{a, b})
	if got := counts([]*client{a, b}); got[0] != 3 || got[1] != 3 {
		t.Fatalf("after reload and settle: %v", got)
	}
	if res := x.heartbeat(c); !errors.Is(res.Err, kerr.UnknownMemberID) {
		t.Fatalf("the member that left came back: %v", res.Err)
	}
	offs, err := c.FetchMemberOffsets(cgrp, &FetchMember{ID: a.id, Epoch: a.epoch}, map[string][]int32{"jobs": {1}})
	if err != nil || offs[0].Offset != 9 {
		t.Fatalf("offsets after reload: %v %+v", err, offs)
	}
	// An empty group survives too, and its epoch goes on from where it was.
	epoch := after.Epoch
	a.leave(c)
	b.leave(c)
	c = reload(t, c, dir, topics)
	d, err := c.DescribeConsumerGroup(cgrp)
	if err != nil || d.State != StateEmpty || d.Epoch != epoch+2 {
		t.Fatalf("empty group after reload: %v %+v", err, d)
	}
}

func samePartitions(a, b DescribedPartitions) bool {
	return a.TopicID == b.TopicID && slices.Equal(a.Partitions, b.Partitions)
}

func TestConsumerAndClassicGroups(t *testing.T) {
	topics := newFakeTopics()
	topics.create("lc-a", "jobs", 2)
	c := consumerCoordinator(t, t.TempDir(), topics)
	a := newClient(cgrp, "jobs")
	a.mustHeartbeat(t, c)

	// Classic APIs against a consumer group.
	jr := joinReq("")
	jr.Group = cgrp
	if res := c.JoinGroup(context.Background(), jr); !errors.Is(res.Err, kerr.InconsistentGroupProtocol) {
		t.Errorf("JoinGroup into a consumer group: %v", res.Err)
	}
	if err := c.Heartbeat(cgrp, a.id, "", a.epoch); !errors.Is(err, kerr.UnknownMemberID) {
		t.Errorf("classic Heartbeat into a consumer group: %v", err)
	}
	if d, err := c.DescribeGroup(cgrp); !errors.Is(err, kerr.GroupIDNotFound) || d.State != StateDead {
		t.Errorf("DescribeGroups of a consumer group: %v %+v", err, d)
	}
	if err := c.DeleteGroup(cgrp); !errors.Is(err, kerr.NonEmptyGroup) {
		t.Errorf("delete a live consumer group: %v", err)
	}
	listed := c.ListGroups("lc-a")
	if len(listed) != 1 || listed[0].Type != GroupTypeConsumer || listed[0].State != StateStable || listed[0].ProtocolType != "consumer" {
		t.Errorf("listed: %+v", listed)
	}

	// ConsumerGroupHeartbeat against a classic group with members.
	rs := joinAll(t, c, 1)
	syncAll(t, c, rs)
	other := newClient(grp, "jobs")
	if res := other.heartbeat(c); !errors.Is(res.Err, kerr.GroupIDNotFound) {
		t.Errorf("consumer member into a classic group: %v", res.Err)
	}
	if _, err := c.DescribeConsumerGroup(grp); !errors.Is(err, kerr.GroupIDNotFound) {
		t.Errorf("ConsumerGroupDescribe of a classic group: %v", err)
	}

	// Empty groups change type, keeping their offsets.
	c.CommitOffsets(CommitRequest{Group: cgrp, Version: 9, Generation: a.epoch, MemberID: a.id, Offsets: []CommitOffset{{Topic: "jobs", Offset: 3}}})
	a.leave(c)
	jr.RequireKnownMemberID = false
	if res := c.JoinGroup(context.Background(), jr); res.Err != nil {
		t.Fatalf("JoinGroup into an empty consumer group: %v", res.Err)
	}
	listed = c.ListGroups("lc-a")
	if len(listed) != 2 || listed[0].Group != "cg" || listed[0].Type != GroupTypeClassic {
		t.Fatalf("listed after conversion: %+v", listed)
	}
	offs, _ := c.FetchOffsets(cgrp, map[string][]int32{"jobs": {0}})
	if offs[0].Offset != 3 {
		t.Fatalf("offsets lost in conversion: %+v", offs)
	}
}

func TestConsumerOffsetChecks(t *testing.T) {
	topics := newFakeTopics()
	topics.create("lc-a", "jobs", 2)
	c := consumerCoordinator(t, t.TempDir(), topics)
	commit := func(version int16, epoch int32, member string) error {
		return c.CommitOffsets(CommitRequest{Group: cgrp, Version: version, Generation: epoch, MemberID: member, Offsets: []CommitOffset{{Topic: "jobs", Offset: 1}}})[0]
	}
	a := newClient(cgrp, "jobs")
	a.mustHeartbeat(t, c)
	b := newClient(cgrp, "jobs")
	b.mustHeartbeat(t, c) // group epoch 2; a still at 1
	tests := []struct {
		name          string
		version       int16
		epoch         int32
		member        string
		want          error
		fetchMember   *FetchMember
		wantFetchErr  error
		skipFetchTest bool
	}{
		{name: "current epoch", version: 9, epoch: 1, member: a.id, fetchMember: &FetchMember{a.id, 1}},
		{name: "stale epoch", version: 9, epoch: 0, member: a.id, want: kerr.StaleMemberEpoch, fetchMember: &FetchMember{a.id, 0}, wantFetchErr: kerr.StaleMemberEpoch},
		{name: "newer epoch", version: 10, epoch: 2, member: a.id, want: kerr.StaleMemberEpoch, fetchMember: &FetchMember{a.id, 2}, wantFetchErr: kerr.StaleMemberEpoch},
		{name: "unknown member", version: 9, epoch: 1, member: "ghost", want: kerr.UnknownMemberID, fetchMember: &FetchMember{"ghost", 1}, wantFetchErr: kerr.UnknownMemberID},
		{name: "old version", version: 8, epoch: 1, member: a.id, want: kerr.UnsupportedVersion, skipFetchTest: true},
		{name: "no member", version: 9, epoch: -1, member: "", want: kerr.UnknownMemberID, fetchMember: nil},
	}
	for _, tc := range tests {
		if err := commit(tc.version, tc.epoch, tc.member); !errors.Is(err, tc.want) {
			t.Errorf("commit %s: %v, want %v", tc.name, err, tc.want)
		}
		if tc.skipFetchTest {
			continue
		}
		if _, err := c.FetchMemberOffsets(cgrp, tc.fetchMember, nil); !errors.Is(err, tc.wantFetchErr) {
			t.Errorf("fetch %s: %v, want %v", tc.name, err, tc.wantFetchErr)
		}
	}
	a.leave(c)
	b.leave(c)
	if err := commit(9, -1, ""); err != nil {
		t.Fatalf("commit into an empty consumer group: %v", err)
	}
}

// TestConsumerLargeGroupReload: a rebalance of a large group writes one
// big batch, which the coordinator compresses to fit the offsets topic;
// the group replays from it.
func TestConsumerLargeGroupReload(t *testing.T) {
	dir := t.TempDir()
	topics := newFakeTopics()
	var names []string
	for i := range 100 {
		names = append(names, fmt.Sprintf("a-rather-long-topic-name-for-bulk-%03d", i))
	}
	topics.create("lc-a", names[0], 64)
	c := consumerCoordinator(t, dir, topics)
	var clients []*client
	for range 60 {
		cl := newClient(cgrp, names...)
		cl.mustHeartbeat(t, c)
		clients = append(clients, cl)
	}
	topics.grow("lc-a", names[0], 256) // every member's target changes
	clients[0].mustHeartbeat(t, c)
	if !hasCompressedBatch(t, c) {
		t.Fatal("no batch was compressed")
	}
	before, _ := c.DescribeConsumerGroup(cgrp)
	c = reload(t, c, dir, topics)
	after, err := c.DescribeConsumerGroup(cgrp)
	if err != nil || after.Epoch != before.Epoch || len(after.Members) != 60 {
		t.Fatalf("after reload: %v epoch %d (was %d), %d members", err, after.Epoch, before.Epoch, len(after.Members))
	}
	settle(t, c, clients)
}

func hasCompressedBatch(t *testing.T, c *Coordinator) bool {
	t.Helper()
	l := c.shards[0].log
	b, err := l.Read(l.StartOffset(), 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	record.Split(b, func(_ []byte, h *record.Header) error {
		found = found || h.Compression() != record.CompressionNone
		return nil
	})
	return found
}

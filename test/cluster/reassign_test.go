package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/strata-db/strata/test/clustertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TestReassignAndElect drives AlterPartitionReassignments,
// ListPartitionReassignments and ElectLeaders with kadm against three
// processes while an idempotent acks=all producer writes: a partition
// moves off its leader to the third broker (the new replica copies the
// log, joins the ISR, leadership moves, the old replica deletes its log),
// another has its replicas reordered and its preferred replica elected,
// and every acknowledged record ends up on every final replica once.
func TestReassignAndElect(t *testing.T) {
	nodes := startCluster(t).Nodes
	cl := client(t, nodes[0])
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const topic = "moves"
	if _, err := adm.CreateTopic(ctx, 2, 2, map[string]*string{"min.insync.replicas": kadm.StringPtr("1")}, topic); err != nil {
		t.Fatal(err)
	}
	waitISR(t, cl, topic, 2, 2)
	prod := startProducer(t, nodes, topic, 2)
	prod.waitAcked(t, 0, 100)
	prod.waitAcked(t, 1, 100)

	t.Log("bad reassignments are refused, nothing changes")
	bad := kadm.AlterPartitionAssignmentsReq{}
	bad.Assign(topic, 0, []int32{1, 1})
	bad.Assign(topic, 1, []int32{1, 9})
	bad.Assign("nope", 0, []int32{1})
	wantAssign(t, adm, bad, map[string]map[int32]error{
		topic:  {0: kerr.InvalidReplicaAssignment, 1: kerr.InvalidReplicaAssignment},
		"nope": {0: kerr.UnknownTopicOrPartition},
	})
	cancelReq := kadm.AlterPartitionAssignmentsReq{}
	cancelReq.CancelAssign(topic, 0)
	wantAssign(t, adm, cancelReq, map[string]map[int32]error{topic: {0: kerr.NoReassignmentInProgress}})

	t.Log("partition 0 moves off its leader to the third broker")
	p0, _, _ := partitionMeta(t, cl, topic, 0)
	leader, follower := p0.Leader, otherOf(p0.Replicas, p0.Leader)
	spare := int32(6) - p0.Replicas[0] - p0.Replicas[1]
	target := []int32{spare, follower}
	move := kadm.AlterPartitionAssignmentsReq{}
	move.Assign(topic, 0, target)
	start := time.Now()
	wantAssign(t, adm, move, map[string]map[int32]error{topic: {0: nil}})
	if l, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}}}); err == nil {
		if r, ok := l[topic][0]; ok {
			t.Logf("in progress: replicas %v adding %v removing %v", r.Replicas, r.AddingReplicas, r.RemovingReplicas)
		}
	}
	waitFor(t, 30*time.Second, "the reassignment of partition 0 to complete", func() bool {
		p, _, ok := partitionMeta(t, cl, topic, 0)
		l, err := adm.ListPartitionReassignments(ctx, kadm.TopicsSet{topic: {0: {}}})
		return ok && err == nil && len(l[topic]) == 0 && sameSet(p.Replicas, target) && sameSet(p.ISR, target) && slices.Contains(target, p.Leader)
	})
	t.Logf("partition 0 moved from %v (leader %d) to %v in %v", p0.Replicas, leader, target, time.Since(start).Round(time.Millisecond))
	id := topicID(t, cl, topic)
	gone := clustertest.PartitionDir(nodes[leader-1].DataDir, id.String(), 0)
	waitFor(t, 10*time.Second, "the removed replica's log deleted", func() bool {
		_, err := os.Stat(gone)
		return errors.Is(err, os.ErrNotExist)
	})
	prod.waitAckedAfter(t, 0, time.Now(), 15*time.Second)

	t.Log("partition 1's replicas reordered, then its preferred replica elected")
	p1, _, _ := partitionMeta(t, cl, topic, 1)
	reordered := []int32{otherOf(p1.Replicas, p1.Leader), p1.Leader}
	swap := kadm.AlterPartitionAssignmentsReq{}
	swap.Assign(topic, 1, reordered)
	wantAssign(t, adm, swap, map[string]map[int32]error{topic: {1: nil}})
	if l := leaderOf(t, cl, topic, 1); l != p1.Leader {
		t.Fatalf("a reorder moved the leader from %d to %d", p1.Leader, l)
	}
	// The node kadm asks may not have applied the reorder yet: until it
	// has, the old first replica leads and no election is needed there.
	waitFor(t, 10*time.Second, "the preferred replica elected", func() bool {
		return tryElect(t, adm, topic, 1) == nil
	})
	waitFor(t, 10*time.Second, "the preferred replica to lead", func() bool { return leaderOf(t, cl, topic, 1) == reordered[0] })
	wantElect(t, adm, kadm.ElectPreferredReplica, topic, 1, kerr.ElectionNotNeeded)
	wantElect(t, adm, kadm.ElectLiveReplica, topic, 1, kerr.ElectionNotNeeded)
	wantElect(t, adm, kadm.ElectPreferredReplica, topic, 7, kerr.UnknownTopicOrPartition)
	prod.waitAckedAfter(t, 1, time.Now(), 15*time.Second)

	acked := prod.stop(t)
	for p, replicas := range map[int32][]int32{0: target, 1: reordered} {
		for _, r := range replicas {
			n := nodes[r-1]
			waitFor(t, 15*time.Second, fmt.Sprintf("node %d to hold partition %d", r, p), func() bool {
				return len(readReplica(t, n, id, p)) >= len(acked[p])
			})
			checkAcked(t, n, readReplica(t, n, id, p), acked[p], p)
		}
		t.Logf("partition %d: %d acknowledged records on replicas %v", p, len(acked[p]), replicas)
	}
}

func wantAssign(t *testing.T, adm *kadm.Client, req kadm.AlterPartitionAssignmentsReq, want map[string]map[int32]error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for topic, ps := range want {
		for p, w := range ps {
			if got := resp[topic][p]; !errors.Is(got.Err, w) && got.Err != w {
				t.Fatalf("reassign %s-%d: %v (%s), want %v", topic, p, got.Err, got.ErrMessage, w)
			}
		}
	}
}

// tryElect asks for a preferred election of one partition; an answer of
// ELECTION_NOT_NEEDED is returned as an error to retry on.
func tryElect(t *testing.T, adm *kadm.Client, topic string, p int32) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {p: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp[topic][p]; got.Err != nil && !errors.Is(got.Err, kerr.ElectionNotNeeded) {
		t.Fatalf("elect %s-%d: %v (%s)", topic, p, got.Err, got.ErrMessage)
	}
	return resp[topic][p].Err
}

func wantElect(t *testing.T, adm *kadm.Client, how kadm.ElectLeadersHow, topic string, p int32, want error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := adm.ElectLeaders(ctx, how, kadm.TopicsSet{topic: {p: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp[topic][p]; got.Err != want && !errors.Is(got.Err, want) {
		t.Fatalf("elect (%d) %s-%d: %v (%s), want %v", how, topic, p, got.Err, got.ErrMessage, want)
	}
}

func otherOf(replicas []int32, not int32) int32 {
	for _, r := range replicas {
		if r != not {
			return r
		}
	}
	return -1
}

func sameSet(a, b []int32) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

package replica

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/config"
	"github.com/strata-db/strata/internal/log"
	"github.com/strata-db/strata/internal/meta"
	"github.com/twmb/franz-go/pkg/kerr"
)

// fakeClock is a settable clock for lag tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// isrSink records the ISR changes a leader sends.
type isrSink struct {
	mu      sync.Mutex
	changes []meta.AlterPartition
}

func (s *isrSink) send(_ *Partition, c meta.AlterPartition) {
	s.mu.Lock()
	s.changes = append(s.changes, c)
	s.mu.Unlock()
}

// nth waits for the n-th change sent (from 1) and returns it.
func (s *isrSink) nth(t *testing.T, n int) meta.AlterPartition {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		have := len(s.changes)
		var c meta.AlterPartition
		if have >= n {
			c = s.changes[n-1]
		}
		s.mu.Unlock()
		if have >= n {
			return c
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("ISR change %d not sent", n)
	return meta.AlterPartition{}
}

func (s *isrSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.changes)
}

// replicaSet is a leader (node 1) and followers (2, 3) of one partition,
// each with its own log, the ISR all three at leader epoch 1.
func replicaSet(t *testing.T, minISR string) (leader, f2, f3 *Partition, sink *isrSink, clock *fakeClock) {
	t.Helper()
	clock = &fakeClock{t: time.Now()}
	sink = &isrSink{}
	st := meta.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 1}
	mk := func(node int32) *Partition {
		l, err := log.Open(t.TempDir(), log.DefaultConfig(), log.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		cfg, _ := config.EffectiveTopic(config.Layers{})
		p := newPartition(Key{}, l, cfg, -1, time.Now)
		if minISR != "" {
			c := *p.Config()
			c.MinInsyncReplicas = int32(minISR[0] - '0')
			p.cfg.Store(&c)
		}
		p.now, p.sendISR = clock.now, sink.send
		p.applyState(node, st)
		return p
	}
	return mk(1), mk(2), mk(3), sink, clock
}

// replicate copies from leader to follower as the fetcher does, once.
func replicate(t *testing.T, leader, follower *Partition, id int32) FollowerRead {
	t.Helper()
	return replicateAt(t, leader, follower, id, 0)
}

// replicateAt is replicate by a follower whose fetches carry broker epoch
// epoch.
func replicateAt(t *testing.T, leader, follower *Partition, id int32, epoch int64) FollowerRead {
	t.Helper()
	off, last := follower.fetchPosition()
	r, err := leader.ReadForFollower(FollowerFetch{Replica: id, BrokerEpoch: epoch, Offset: off, LastFetchedEpoch: last,
		CurrentLeaderEpoch: leader.LeaderEpoch()}, 1<<20)
	if err != nil {
		t.Fatalf("fetch by %d: %v", id, err)
	}
	if r.DivergingEpoch >= 0 {
		if _, err := follower.TruncateDiverging(r.DivergingEpoch, r.DivergingEndOffset); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if len(r.Records) > 0 {
		if err := follower.AppendFromLeader(r.Records); err != nil {
			t.Fatalf("append on %d: %v", id, err)
		}
	}
	follower.SetFollowerHighWatermark(r.HighWatermark)
	return r
}

func TestHighWatermarkFollowsISR(t *testing.T) {
	leader, f2, f3, _, _ := replicaSet(t, "")
	res := mustAppend(t, leader, batch(-1, 0, 0, 5, false))
	if hw := leader.HighWatermark(); hw != 0 {
		t.Fatalf("HW %d before any follower fetched", hw)
	}
	replicate(t, leader, f2, 2)
	replicate(t, leader, f3, 3)
	if hw := leader.HighWatermark(); hw != 0 {
		t.Fatalf("HW %d: followers fetched at 0", hw)
	}
	replicate(t, leader, f2, 2) // reports LEO 5
	if hw := leader.HighWatermark(); hw != 0 {
		t.Fatalf("HW %d with follower 3 still at 0", hw)
	}
	r := replicate(t, leader, f3, 3)
	if hw := leader.HighWatermark(); hw != 5 || r.HighWatermark != 5 {
		t.Fatalf("HW %d (sent %d), want 5", hw, r.HighWatermark)
	}
	if err := leader.WaitReplicated(context.Background(), res.LastOffset+1, res.LeaderEpoch); err != nil {
		t.Fatal(err)
	}
	replicate(t, leader, f2, 2)
	if f2.HighWatermark() != 5 || f2.LogEndOffset() != 5 {
		t.Fatalf("follower 2: HW %d LEO %d", f2.HighWatermark(), f2.LogEndOffset())
	}
	// Consumers never read above the HW.
	mustAppend(t, leader, batch(-1, 0, 0, 2, false))
	f, err := leader.Read(5, 1<<20, true)
	if err != nil || len(f.Records) != 0 || f.HighWatermark != 5 {
		t.Fatalf("read above the HW: %d bytes, HW %d, %v", len(f.Records), f.HighWatermark, err)
	}
}

func TestWaitReplicatedErrors(t *testing.T) {
	leader, f2, f3, _, _ := replicaSet(t, "2")
	res := mustAppend(t, leader, batch(-1, 0, 0, 1, false))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := leader.WaitReplicated(ctx, res.LastOffset+1, res.LeaderEpoch); !errors.Is(err, kerr.RequestTimedOut) {
		t.Fatalf("no follower fetched: %v, want REQUEST_TIMED_OUT", err)
	}

	// The ISR shrinks to the leader alone: NOT_ENOUGH_REPLICAS before an
	// append, and ..._AFTER_APPEND for a write committed by it.
	leader.applyState(1, meta.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1})
	if err := leader.CheckMinISR(); !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("ISR of 1, min 2: %v", err)
	}
	if err := leader.WaitReplicated(context.Background(), res.LastOffset+1, res.LeaderEpoch); !errors.Is(err, kerr.NotEnoughReplicasAfterAppend) {
		t.Fatalf("committed by an ISR of 1: %v", err)
	}

	// Leadership moves while a write waits: NOT_LEADER_OR_FOLLOWER.
	leader.applyState(1, meta.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1, LeaderEpoch: 1, PartitionEpoch: 2})
	res = mustAppend(t, leader, batch(-1, 0, 0, 1, false))
	done := make(chan error, 1)
	go func() { done <- leader.WaitReplicated(context.Background(), res.LastOffset+1, res.LeaderEpoch) }()
	time.Sleep(10 * time.Millisecond)
	leader.applyState(1, meta.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 2, PartitionEpoch: 3})
	if err := <-done; !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Fatalf("leadership moved: %v", err)
	}
	if _, err := leader.Append(batch(-1, 0, 0, 1, false)); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Fatalf("append on a follower: %v", err)
	}
	if _, err := leader.WriteTxnMarker(1, 0, true, 0); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Fatalf("marker on a follower: %v", err)
	}
	_ = f2
	_ = f3
}

func TestFollowerFetchChecks(t *testing.T) {
	leader, f2, _, _, _ := replicaSet(t, "")
	mustAppend(t, leader, batch(-1, 0, 0, 3, false))
	cases := []struct {
		name string
		f    FollowerFetch
		want error
	}{
		{"older leader epoch", FollowerFetch{Replica: 2, Offset: 0, LastFetchedEpoch: -1, CurrentLeaderEpoch: 0}, kerr.FencedLeaderEpoch},
		{"newer leader epoch", FollowerFetch{Replica: 2, Offset: 0, LastFetchedEpoch: -1, CurrentLeaderEpoch: 2}, kerr.UnknownLeaderEpoch},
		{"not a replica", FollowerFetch{Replica: 9, Offset: 0, LastFetchedEpoch: -1, CurrentLeaderEpoch: 1}, kerr.NotLeaderForPartition},
		{"above the log end", FollowerFetch{Replica: 2, Offset: 10, LastFetchedEpoch: -1, CurrentLeaderEpoch: 1}, kerr.OffsetOutOfRange},
		{"unknown last epoch", FollowerFetch{Replica: 2, Offset: 0, LastFetchedEpoch: 7, CurrentLeaderEpoch: 1}, kerr.OffsetOutOfRange},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := leader.ReadForFollower(c.f, 1<<20); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	if _, err := f2.ReadForFollower(FollowerFetch{Replica: 3, CurrentLeaderEpoch: 1, LastFetchedEpoch: -1}, 1<<20); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Fatalf("fetch from a follower: %v", err)
	}
	if err := leader.AppendFromLeader(batch(-1, 0, 0, 1, false)); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Fatalf("replicated append on the leader: %v", err)
	}
}

// TestDivergentTailTruncated: node 1 leads epoch 1 and writes records
// only it has; node 2 takes over at epoch 2 and writes others; node 1,
// now a follower, learns the divergence from its fetch and cuts its tail.
func TestDivergentTailTruncated(t *testing.T) {
	n1, n2, n3, _, _ := replicaSet(t, "")
	mustAppend(t, n1, batch(-1, 0, 0, 3, false))
	replicate(t, n1, n2, 2)
	replicate(t, n1, n3, 3)
	mustAppend(t, n1, batch(-1, 0, 0, 4, false)) // offsets 3..6, only on node 1

	st := meta.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 2, PartitionEpoch: 1}
	for i, p := range []*Partition{n1, n2, n3} {
		p.applyState(int32(i+1), st)
	}
	mustAppend(t, n2, batch(-1, 0, 0, 2, false)) // offsets 3..4 at epoch 2

	r := replicate(t, n2, n1, 1)
	if r.DivergingEpoch != 1 || r.DivergingEndOffset != 3 {
		t.Fatalf("diverging epoch %d end %d, want 1 and 3", r.DivergingEpoch, r.DivergingEndOffset)
	}
	if n1.LogEndOffset() != 3 {
		t.Fatalf("node 1 truncated to %d, want 3", n1.LogEndOffset())
	}
	replicate(t, n2, n1, 1)
	if n1.LogEndOffset() != 5 {
		t.Fatalf("node 1 at %d after catching up, want 5", n1.LogEndOffset())
	}
	if e, _ := n1.fetchPosition(); e != 5 {
		t.Fatalf("fetch position %d", e)
	}
	if _, last := n1.fetchPosition(); last != 2 {
		t.Fatalf("node 1's last epoch %d, want 2", last)
	}
}

func TestISRShrinksAndExpands(t *testing.T) {
	leader, f2, f3, sink, clock := replicaSet(t, "")
	lag := 10 * time.Second
	mustAppend(t, leader, batch(-1, 0, 0, 2, false))
	replicate(t, leader, f2, 2)
	replicate(t, leader, f2, 2)
	clock.add(6 * time.Second)
	replicate(t, leader, f2, 2) // caught up again
	leader.shrinkISR(lag)
	if sink.count() != 0 {
		t.Fatalf("shrank before the lag time: %+v", sink.changes)
	}
	clock.add(6 * time.Second) // follower 3 never fetched: 12s
	leader.shrinkISR(lag)
	c := sink.nth(t, 1)
	if !slices.Equal(c.ISR, []int32{1, 2}) || c.LeaderEpoch != 1 || c.PartitionEpoch != 0 || c.Leader != 1 {
		t.Fatalf("shrink sent %+v", c)
	}
	// One change at a time.
	leader.shrinkISR(lag)
	if sink.count() != 1 {
		t.Fatalf("second change while one is in flight")
	}
	// The controller applies it.
	leader.applyState(1, meta.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1})
	mustAppend(t, leader, batch(-1, 0, 0, 1, false))
	replicate(t, leader, f2, 2)
	replicate(t, leader, f2, 2)
	if hw := leader.HighWatermark(); hw != 3 {
		t.Fatalf("HW %d over ISR {1,2}, want 3", hw)
	}
	// Follower 3 catches up and asks to rejoin.
	replicate(t, leader, f3, 3)
	replicate(t, leader, f3, 3)
	c = sink.nth(t, 2)
	if !slices.Equal(c.ISR, []int32{1, 2, 3}) || c.PartitionEpoch != 1 {
		t.Fatalf("expansion sent %+v", c)
	}
	// Refused: cleared, and asked again at the next fetch.
	leader.ISRChangeFailed(c, kerr.InvalidUpdateVersion)
	replicate(t, leader, f3, 3)
	if c := sink.nth(t, 3); !slices.Equal(c.ISR, []int32{1, 2, 3}) {
		t.Fatalf("expansion asked again as %+v", c)
	}
}

// A caught-up follower that the leader's image shows fenced (or shutting
// down) is not proposed for the ISR: the controller would refuse it, and
// asking at every fetch floods the metadata log with refused entries, which
// kept a fenced broker from ever catching up with the image and being
// unfenced (found by test/faults after a network partition).
func TestISRExpansionWaitsForEligibleFollower(t *testing.T) {
	leader, f2, f3, sink, _ := replicaSet(t, "")
	leader.applyState(1, meta.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1})
	fenced := true
	leader.isrEligible = func(id int32, _ int64) bool { return id != 3 || !fenced }
	mustAppend(t, leader, batch(-1, 0, 0, 3, false))
	for range 3 {
		replicate(t, leader, f2, 2)
		replicate(t, leader, f3, 3)
	}
	if sink.count() != 0 {
		t.Fatalf("expansion with a fenced follower: %+v", sink.changes)
	}
	fenced = false
	replicate(t, leader, f3, 3)
	if c := sink.nth(t, 1); !slices.Equal(c.ISR, []int32{1, 2, 3}) || c.PartitionEpoch != 1 {
		t.Fatalf("expansion once unfenced: %+v", c)
	}
}

func TestResetOutOfRange(t *testing.T) {
	leader, f2, _, _, _ := replicaSet(t, "")
	_ = leader
	mustAppend(t, leader, batch(-1, 0, 0, 3, false))
	replicate(t, leader, f2, 2)
	replicate(t, leader, f2, 2)
	if err := f2.ResetOutOfRange(0, 1); err != nil || f2.LogEndOffset() != 0 {
		// the only batch covers 0..2: truncating to 1 cuts it whole
		t.Fatalf("ahead of the leader: LEO %d, %v", f2.LogEndOffset(), err)
	}
	if err := f2.ResetOutOfRange(10, 20); err != nil || f2.LogEndOffset() != 10 || f2.LogStartOffset() != 10 {
		t.Fatalf("behind the leader's start: start %d LEO %d, %v", f2.LogStartOffset(), f2.LogEndOffset(), err)
	}
}

// KIP-903: the leader records the broker epoch of each follower's fetches
// and names it for the replica an expansion adds. An expansion computed
// from the fetches of a follower's previous process (before it crashed and
// registered again) is refused by the controller; the leader then neither
// asks again at every fetch at that epoch nor credits the new process with
// its predecessor's progress, and asks for the new process, at its epoch,
// once that one has caught up.
func TestISRExpansionCarriesFollowerEpoch(t *testing.T) {
	leader, f2, f3, sink, clock := replicaSet(t, "")
	leader.applyState(1, meta.Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1})
	registered := map[int32]int64{2: 20, 3: 30} // the leader's image
	leader.isrEligible = func(id int32, epoch int64) bool { return registered[id] == epoch }
	mustAppend(t, leader, batch(-1, 0, 0, 3, false))
	replicateAt(t, leader, f2, 2, 20)
	replicateAt(t, leader, f3, 3, 30)
	replicateAt(t, leader, f2, 2, 20)
	replicateAt(t, leader, f3, 3, 30) // caught up: LEO 3 = HW
	c := sink.nth(t, 1)
	if !slices.Equal(c.ISR, []int32{1, 2, 3}) || !slices.Equal(c.Added, []meta.BrokerRef{{ID: 3, Epoch: 30}}) {
		t.Fatalf("expansion sent %+v, want broker 3 added at epoch 30", c)
	}

	// Broker 3 crashed and registered again at epoch 40 before the change
	// applied: the controller refuses it. This leader's image still shows
	// epoch 30, and fetches of the old process (still in flight) are not
	// proposed again at once.
	leader.ISRChangeFailed(c, kerr.IneligibleReplica)
	for range 3 {
		replicateAt(t, leader, f3, 3, 30)
	}
	if n := sink.count(); n != 1 {
		t.Fatalf("%d changes: asked again at the refused epoch: %+v", n, sink.changes)
	}

	// The new process lost its unflushed tail; its fetches carry epoch 40.
	if err := f3.log.TruncateTo(0); err != nil {
		t.Fatal(err)
	}
	replicateAt(t, leader, f3, 3, 40) // image not updated yet: ineligible
	if n := sink.count(); n != 1 {
		t.Fatalf("proposed at epoch 40 before the image shows it: %+v", sink.changes)
	}
	registered[3] = 40
	if err := f3.log.TruncateTo(0); err != nil {
		t.Fatal(err)
	}
	replicateAt(t, leader, f3, 3, 40) // fetches at 0
	if n := sink.count(); n != 1 {
		t.Fatalf("new process proposed before it caught up: %+v", sink.changes)
	}
	replicateAt(t, leader, f3, 3, 40) // now at 3
	c = sink.nth(t, 2)
	if !slices.Equal(c.ISR, []int32{1, 2, 3}) || !slices.Equal(c.Added, []meta.BrokerRef{{ID: 3, Epoch: 40}}) {
		t.Fatalf("expansion sent %+v, want broker 3 added at epoch 40", c)
	}

	// A refusal at the current epoch (the broker was fenced a moment ago,
	// say) holds for a while, then the leader asks again.
	leader.ISRChangeFailed(c, kerr.IneligibleReplica)
	replicateAt(t, leader, f3, 3, 40)
	if n := sink.count(); n != 2 {
		t.Fatalf("asked again within the hold: %+v", sink.changes)
	}
	clock.add(refusedExpansionHold)
	replicateAt(t, leader, f3, 3, 40)
	if c := sink.nth(t, 3); !slices.Equal(c.Added, []meta.BrokerRef{{ID: 3, Epoch: 40}}) {
		t.Fatalf("after the hold: %+v", c)
	}
}

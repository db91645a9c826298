package meta

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// testQuorum is a set of stores over loopback TCP, each on its own
// directory, that a test can stop and reopen in place.
type testQuorum struct {
	t       *testing.T
	voters  []Voter
	dirs    map[int32]string
	listen  map[int32]string
	stores  map[int32]*Store
	session time.Duration
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// newQuorum opens n voters (ids 1..n) and waits until they are ready.
func newQuorum(t *testing.T, n int) *testQuorum {
	t.Helper()
	q := &testQuorum{t: t, dirs: map[int32]string{}, listen: map[int32]string{}, stores: map[int32]*Store{}, session: 2 * time.Second}
	for id := int32(1); id <= int32(n); id++ {
		addr := freeAddr(t)
		q.voters = append(q.voters, Voter{ID: id, Addr: addr})
		q.listen[id] = addr
		q.dirs[id] = t.TempDir()
	}
	t.Cleanup(func() {
		for _, s := range q.stores {
			s.Close()
		}
	})
	var wg sync.WaitGroup
	for id := int32(1); id <= int32(n); id++ {
		q.open(id)
	}
	for id := int32(1); id <= int32(n); id++ {
		wg.Add(1)
		go func() { defer wg.Done(); q.waitReady(id) }()
	}
	wg.Wait()
	return q
}

func (q *testQuorum) config(id int32) Config {
	if q.listen[id] == "" {
		q.listen[id] = "127.0.0.1:0"
		q.dirs[id] = q.t.TempDir()
	}
	return Config{
		NodeID: id, Dir: q.dirs[id], Voters: q.voters, Listen: q.listen[id],
		SessionTimeout: q.session, HeartbeatTimeout: 500 * time.Millisecond, ElectionTimeout: 500 * time.Millisecond,
		ApplyTimeout: 10 * time.Second,
	}
}

func (q *testQuorum) open(id int32) *Store {
	q.t.Helper()
	s, err := Open(q.config(id))
	if err != nil {
		q.t.Fatalf("open node %d: %v", id, err)
	}
	q.stores[id] = s
	return s
}

func (q *testQuorum) waitReady(id int32) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := q.stores[id].WaitReady(ctx); err != nil {
		q.t.Errorf("node %d not ready: %v", id, err)
	}
}

func (q *testQuorum) stop(id int32) {
	q.t.Helper()
	if err := q.stores[id].Close(); err != nil {
		q.t.Fatalf("close node %d: %v", id, err)
	}
	delete(q.stores, id)
}

// leader waits for an active controller and returns its id.
func (q *testQuorum) leader() int32 {
	q.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for id, s := range q.stores {
			if s.ctrl != nil && s.ctrl.active() {
				return id
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	q.t.Fatal("no active controller after 10s")
	return -1
}

func (q *testQuorum) follower() int32 {
	l := q.leader()
	for id, s := range q.stores {
		if id != l && s.cfg.isVoter() {
			return id
		}
	}
	q.t.Fatal("no follower")
	return -1
}

// waitFor polls cond until it holds or 10s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startBroker registers node id as a broker and heartbeats until the test
// ends or the returned cancel is called.
func startBroker(t *testing.T, s *Store, rack string) (*BrokerSession, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	bs, err := s.RegisterBroker(ctx, SessionConfig{Host: "127.0.0.1", Port: 9000 + s.cfg.NodeID, Rack: rack, HeartbeatInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := bs.WaitUnfenced(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); bs.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	return bs, func() { stop(); <-done }
}

func createTopic(s *Store, name string, parts int32, rf int16) CreateResult {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return s.CreateTopics(ctx, DefaultTenant, []TopicSpec{{Name: name, NumPartitions: parts, ReplicationFactor: rf}}, false)[0]
}

func TestQuorumForwardsProposals(t *testing.T) {
	q := newQuorum(t, 3)
	for id, s := range q.stores {
		startBroker(t, s, fmt.Sprintf("zone-%d", id))
	}
	f := q.stores[q.follower()]
	res := createTopic(f, "orders", 6, 3)
	if res.Err != nil {
		t.Fatalf("create through a follower: %v", res.Err)
	}
	// The per-record error comes back as the controller produced it.
	dup := createTopicRecord(t, f, res.Topic)
	if !errors.Is(dup, kerr.TopicAlreadyExists) || !strings.Contains(dup.Error(), `topic "orders" already exists`) {
		t.Fatalf("duplicate through a follower: %v", dup)
	}
	// A sentinel survives the trip too.
	first, err := f.AllocateProducerIDs(context.Background(), 2, 10)
	if err != nil {
		t.Fatal(err)
	}
	errs, err := f.Propose(context.Background(), Record{AllocateProducerIDs: &AllocateProducerIDs{Broker: 2, First: first, Size: 10}})
	if err != nil || !errors.Is(errs[0], errProducerIDConflict) {
		t.Fatalf("stale block through a follower: %v %v", errs, err)
	}
	for id, s := range q.stores {
		waitFor(t, fmt.Sprintf("node %d to see the topic", id), func() bool {
			_, ok := s.Image().TopicByName(DefaultTenant, "orders")
			return ok
		})
		if s.Image().ClusterID != f.Image().ClusterID || s.ClusterID() == "" {
			t.Fatalf("node %d: cluster id %q vs %q", id, s.Image().ClusterID, f.Image().ClusterID)
		}
	}
	// Replicas in three zones, on three brokers.
	top, _ := f.Image().TopicByName(DefaultTenant, "orders")
	for p, part := range top.Partitions {
		racks := map[string]bool{}
		for _, r := range part.Replicas {
			b, _ := f.Image().Broker(r)
			racks[b.Rack] = true
		}
		if len(racks) != 3 {
			t.Fatalf("partition %d replicas %v span racks %v", p, part.Replicas, racks)
		}
	}
}

// createTopicRecord proposes t again as a raw record.
func createTopicRecord(t *testing.T, s *Store, top *Topic) error {
	t.Helper()
	c := *top
	c.ID = NewTopicID()
	errs, err := s.Propose(context.Background(), Record{CreateTopic: &c})
	if err != nil {
		t.Fatal(err)
	}
	return errs[0]
}

func TestQuorumFailover(t *testing.T) {
	q := newQuorum(t, 3)
	old := q.leader()
	q.stop(old)
	start := time.Now()
	next := q.leader()
	t.Logf("node %d took over %v after node %d stopped", next, time.Since(start), old)
	if next == old {
		t.Fatal("stopped node still leads")
	}
	var survivor int32
	for id := range q.stores {
		if id != next {
			survivor = id
		}
	}
	for id := range q.stores {
		startBroker(t, q.stores[id], "")
	}
	if res := createTopic(q.stores[survivor], "after-failover", 1, 1); res.Err != nil {
		t.Fatalf("create after failover: %v", res.Err)
	}
	// The stopped voter restarts from its log and catches up.
	q.open(old)
	q.waitReady(old)
	if _, ok := q.stores[old].Image().TopicByName(DefaultTenant, "after-failover"); !ok {
		t.Fatal("restarted voter did not catch up")
	}
	if res := createTopic(q.stores[old], "from-restarted", 1, 1); res.Err != nil {
		t.Fatalf("create through the restarted voter: %v", res.Err)
	}
}

func TestNonVoterFollowsLog(t *testing.T) {
	q := newQuorum(t, 3)
	s := q.open(4)
	q.waitReady(4)
	if s.ctrl != nil {
		t.Fatal("non-voter runs a controller")
	}
	bs, stop := startBroker(t, s, "")
	res := createTopic(s, "from-observer", 2, 1)
	if res.Err != nil {
		t.Fatalf("create through a non-voter: %v", res.Err)
	}
	leader := q.stores[q.leader()]
	startBroker(t, leader, "")
	if res := createTopic(leader, "from-leader", 1, 1); res.Err != nil {
		t.Fatal(res.Err)
	}
	waitFor(t, "the non-voter to apply the leader's topic", func() bool {
		_, ok := s.Image().TopicByName(DefaultTenant, "from-leader")
		return ok
	})
	// A restarted non-voter rejoins from its log and keeps following.
	stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bs.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	q.stop(4)
	if res := createTopic(leader, "while-down", 1, 1); res.Err != nil {
		t.Fatal(res.Err)
	}
	s = q.open(4)
	q.waitReady(4)
	startBroker(t, s, "")
	waitFor(t, "the restarted non-voter to catch up", func() bool {
		_, ok := s.Image().TopicByName(DefaultTenant, "while-down")
		return ok
	})
}

func TestBrokerFencing(t *testing.T) {
	q := newQuorum(t, 3)
	leader := q.stores[q.leader()]
	s := q.stores[q.follower()]
	id := s.cfg.NodeID
	bs, stop := startBroker(t, s, "")
	if b, _ := leader.Image().Broker(id); b.Fenced || b.Epoch != bs.Epoch() {
		t.Fatalf("after start: %+v, epoch %d", b, bs.Epoch())
	}
	stop()
	start := time.Now()
	waitFor(t, "the silent broker to be fenced", func() bool {
		b, _ := leader.Image().Broker(id)
		return b.Fenced
	})
	if d := time.Since(start); d < q.session/2 {
		t.Fatalf("fenced after %v, before the session timeout %v", d, q.session)
	}
	waitFor(t, "the broker's own image to show it fenced", func() bool {
		return len(s.Image().LiveBrokers()) == 0
	})
	if res := createTopic(leader, "t", 1, 1); !errors.Is(res.Err, kerr.InvalidReplicationFactor) {
		t.Fatalf("placement on the only broker, fenced: %v", res.Err)
	}
	// Heartbeats again: unfenced once caught up, and placed on again.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); bs.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the broker to be unfenced", func() bool {
		b, _ := leader.Image().Broker(id)
		return !b.Fenced
	})
	if res := createTopic(leader, "t", 1, 1); res.Err != nil {
		t.Fatal(res.Err)
	}
}

func TestDuplicateBrokerRegistration(t *testing.T) {
	q := newQuorum(t, 3)
	s := q.open(4)
	q.waitReady(4)
	startBroker(t, s, "")

	// Another process with node id 4 (its own directory and address).
	cfg := q.config(4)
	cfg.Dir, cfg.Listen = t.TempDir(), "127.0.0.1:0"
	dup, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer dup.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := dup.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = dup.RegisterBroker(ctx, SessionConfig{Host: "127.0.0.1", Port: 1, HeartbeatInterval: 100 * time.Millisecond, DuplicateWait: 300 * time.Millisecond})
	if !errors.Is(err, kerr.DuplicateBrokerRegistration) {
		t.Fatalf("second live broker 4 registered: %v", err)
	}
	if b, _ := s.Image().Broker(4); b.Port != 9004 || b.Fenced {
		t.Fatalf("the live broker's registration changed: %+v", b)
	}
}

func TestRestartedBrokerWaitsForOldSession(t *testing.T) {
	q := newQuorum(t, 3)
	s := q.open(4)
	q.waitReady(4)
	_, stop := startBroker(t, s, "")
	stop() // a crash: no controlled shutdown
	q.stop(4)
	s = q.open(4)
	q.waitReady(4)
	start := time.Now()
	startBroker(t, s, "") // retries until the old session expires
	t.Logf("re-registered after %v", time.Since(start))
}

// TestReregistrationLeavesISRs: a broker that registers again (a new
// process under the same id, its predecessor never fenced) leaves every
// ISR and leadership in the registration's own entry, as at a fencing. It
// must rejoin through its leaders by catching up; otherwise an unfencing
// that beats the controller's next election pass would keep it in the ISRs
// on its predecessor's log end offsets, whatever the new process has on
// disk.
func TestReregistrationLeavesISRs(t *testing.T) {
	q := newQuorum(t, 3)
	lid := q.leader()
	leader := q.stores[lid]
	stops := map[int32]func(){}
	for id, s := range q.stores {
		_, stops[id] = startBroker(t, s, fmt.Sprintf("zone-%d", id))
	}
	res := createTopic(leader, "t", 3, 3)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	id := q.follower()
	stops[id]() // the process dies without a controlled shutdown
	// As after a controller failover, the old session has not been heard
	// from, so the newcomer is not refused as a duplicate: it registers
	// while its predecessor is still unfenced and in every ISR.
	c := leader.ctrl
	c.mu.Lock()
	old := c.sessions[id]
	old.heard = false
	c.sessions[id] = old
	c.mu.Unlock()
	if b, _ := leader.Image().Broker(id); b.Fenced {
		t.Fatalf("broker %d fenced before the test could re-register it", id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg, err := c.register(ctx, &BrokerRegistration{ID: id, Host: "127.0.0.1", Port: 9000 + id, Incarnation: "restarted"})
	if err != nil {
		t.Fatal(err)
	}
	// The image right after the registration's entry, before any
	// controller tick could plan elections.
	im := leader.Image()
	if b, _ := im.Broker(id); b.Epoch != reg.Epoch || !b.Fenced {
		t.Fatalf("after re-registration: %+v, epoch %d", b, reg.Epoch)
	}
	top, _ := im.TopicByName(DefaultTenant, "t")
	for p, part := range top.Partitions {
		if slices.Contains(part.ISR, id) || part.Leader == id {
			t.Fatalf("partition %d: leader %d, ISR %v still hold re-registered broker %d", p, part.Leader, part.ISR, id)
		}
	}
}

func TestControlledShutdown(t *testing.T) {
	q := newQuorum(t, 3)
	s := q.stores[q.follower()]
	bs, stop := startBroker(t, s, "")
	stop()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := bs.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	b, _ := s.Image().Broker(s.cfg.NodeID)
	waitFor(t, "the shutdown to apply", func() bool {
		b, _ = s.Image().Broker(s.cfg.NodeID)
		return b.Fenced
	})
	if !b.InControlledShutdown || b.Alive() {
		t.Fatalf("after controlled shutdown: %+v", b)
	}
	// A new registration of the same node starts clean and needs no wait.
	startBroker(t, s, "")
}

func TestNodeOfAnotherClusterRefused(t *testing.T) {
	q := newQuorum(t, 3)
	cfg := q.config(4)
	if err := os.WriteFile(clusterIDPath(cfg.Dir), []byte("another-cluster\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Open(cfg)
	if !errors.Is(err, ErrClusterIDMismatch) || !strings.Contains(err.Error(), "another-cluster") {
		t.Fatalf("open: %v", err)
	}
	// A voter whose peers are unreachable at open learns it at WaitReady.
	q.stop(3)
	cfg = q.config(3)
	if err := os.WriteFile(clusterIDPath(cfg.Dir), []byte("another-cluster\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	q.listen[3] = cfg.Listen
	if _, err := Open(cfg); !errors.Is(err, ErrClusterIDMismatch) {
		t.Fatalf("voter with a foreign cluster id opened: %v", err)
	}
}

// TestControllerRequestsDuringOpen: a voter answers controller requests
// from the moment its listener serves, as peers starting at the same
// time send them at once. Under -race this caught the controller being
// set only after the listener had started serving.
func TestControllerRequestsDuringOpen(t *testing.T) {
	q := &testQuorum{t: t, dirs: map[int32]string{}, listen: map[int32]string{}, stores: map[int32]*Store{}, session: 2 * time.Second}
	for id := int32(1); id <= 2; id++ { // node 2 never starts: no quorum, no active controller
		q.listen[id], q.dirs[id] = freeAddr(t), t.TempDir()
		q.voters = append(q.voters, Voter{ID: id, Addr: q.listen[id]})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	answered := make(chan *rpcResponse, 1)
	go func() {
		for ctx.Err() == nil {
			if resp, _, err := (&Store{}).call(ctx, q.listen[1], &rpcRequest{Kind: rpcInfo}); err == nil { // a zero Store dials without TLS
				answered <- resp
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	s := q.open(1)
	defer s.Close()
	select {
	case resp := <-answered:
		if !resp.NotController {
			t.Fatalf("a voter without quorum answered as controller: %+v", resp)
		}
	case <-ctx.Done():
		t.Fatal("no answer from the opening voter")
	}
}

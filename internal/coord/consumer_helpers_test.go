package coord

import (
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/log"
)

// fakeTopics is an in-memory TopicMetadata whose version moves with every
// change.
type fakeTopics struct {
	mu      sync.Mutex
	version uint64
	topics  map[string]map[string]TopicInfo // tenant -> name -> topic
}

func newFakeTopics() *fakeTopics { return &fakeTopics{topics: map[string]map[string]TopicInfo{}} }

func (f *fakeTopics) create(tenant, name string, partitions int32) TopicInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	var id TopicID
	rand.Read(id[:])
	t := TopicInfo{ID: id, Name: name, Partitions: partitions}
	if f.topics[tenant] == nil {
		f.topics[tenant] = map[string]TopicInfo{}
	}
	f.topics[tenant][name] = t
	f.version++
	return t
}

func (f *fakeTopics) grow(tenant, name string, partitions int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.topics[tenant][name]
	t.Partitions = partitions
	f.topics[tenant][name] = t
	f.version++
}

func (f *fakeTopics) delete(tenant, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.topics[tenant], name)
	f.version++
}

type fakeSnapshot struct {
	version uint64
	topics  map[string]map[string]TopicInfo
}

func (f *fakeTopics) Snapshot() TopicSnapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	cp := map[string]map[string]TopicInfo{}
	for tenant, ts := range f.topics {
		cp[tenant] = map[string]TopicInfo{}
		for n, t := range ts {
			cp[tenant][n] = t
		}
	}
	return fakeSnapshot{f.version, cp}
}

func (s fakeSnapshot) Version() uint64 { return s.version }
func (s fakeSnapshot) ByName(tenant, name string) (TopicInfo, bool) {
	t, ok := s.topics[tenant][name]
	return t, ok
}
func (s fakeSnapshot) ByID(tenant string, id TopicID) (TopicInfo, bool) {
	for _, t := range s.topics[tenant] {
		if t.ID == id {
			return t, true
		}
	}
	return TopicInfo{}, false
}
func (s fakeSnapshot) List(tenant string) []TopicInfo {
	var out []TopicInfo
	for _, t := range s.topics[tenant] {
		out = append(out, t)
	}
	return out
}

// consumerCoordinator is a coordinator over a real log in dir whose
// consumer groups see topics.
func consumerCoordinator(t *testing.T, dir string, topics *fakeTopics, mutate ...func(*Config)) *Coordinator {
	t.Helper()
	l, err := log.Open(dir, log.DefaultConfig(), log.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	cfg := DefaultConfig()
	cfg.Partitions = 1
	cfg.Topics = topics
	cfg.ConsumerSessionTimeout = 10 * time.Second
	cfg.ConsumerHeartbeatInterval = 100 * time.Millisecond
	cfg.MinSessionTimeout = 10 * time.Millisecond // for classic groups
	cfg.InitialRebalanceDelay = 100 * time.Millisecond
	for _, m := range mutate {
		m(&cfg)
	}
	c := New(cfg)
	if err := c.Load(0, diskLog{l}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// reload closes c and its log and loads dir again, as a restart does.
func reload(t *testing.T, c *Coordinator, dir string, topics *fakeTopics, mutate ...func(*Config)) *Coordinator {
	t.Helper()
	for _, s := range c.shards {
		c.Close()
		s.log.(diskLog).l.Close()
	}
	return consumerCoordinator(t, dir, topics, mutate...)
}

// client is a consumer group member as a client like kgo runs it: it
// holds what the coordinator last assigned it, gives up what a response
// no longer lists at once, and reports what it holds on every heartbeat.
type client struct {
	id       string
	instance string
	topics   []string
	regex    string
	assignor string
	// rebalanceTimeout is sent on every full heartbeat; a minute if zero.
	rebalanceTimeout time.Duration
	epoch            int32
	held             Assignment // nil until the first assignment
	group            GroupKey
}

func newClient(group GroupKey, topics ...string) *client {
	return &client{id: newConsumerMemberID(), group: group, topics: topics, assignor: AssignorUniform}
}

func (cl *client) request() ConsumerHeartbeatRequest {
	req := ConsumerHeartbeatRequest{
		Group: cl.group, Version: 1, MemberID: cl.id, MemberEpoch: cl.epoch,
		RebalanceTimeout: cl.rebalanceTimeout, Owned: cl.held, ClientID: "test", ClientHost: "/127.0.0.1",
	}
	if req.RebalanceTimeout == 0 {
		req.RebalanceTimeout = time.Minute
	}
	if req.Owned == nil {
		req.Owned = Assignment{}
	}
	if cl.instance != "" {
		req.InstanceID = &cl.instance
	}
	if cl.regex != "" {
		req.SubscribedTopicRegex = &cl.regex
	} else {
		req.SubscribedTopicNames = append([]string{}, cl.topics...)
	}
	if cl.assignor != "" {
		req.ServerAssignor = &cl.assignor
	}
	return req
}

// heartbeat sends a full heartbeat and applies the response.
func (cl *client) heartbeat(c *Coordinator) ConsumerHeartbeatResult {
	return cl.send(c, cl.request())
}

// keepalive sends a heartbeat that repeats nothing.
func (cl *client) keepalive(c *Coordinator) ConsumerHeartbeatResult {
	return cl.send(c, ConsumerHeartbeatRequest{Group: cl.group, Version: 1, MemberID: cl.id, MemberEpoch: cl.epoch, RebalanceTimeout: -1})
}

func (cl *client) send(c *Coordinator, req ConsumerHeartbeatRequest) ConsumerHeartbeatResult {
	res := c.ConsumerGroupHeartbeat(req)
	if res.Err != nil {
		return res
	}
	cl.id, cl.epoch = res.MemberID, res.MemberEpoch
	if res.Assignment != nil {
		cl.held = res.Assignment.clone()
	}
	return res
}

func (cl *client) leave(c *Coordinator) ConsumerHeartbeatResult {
	req := ConsumerHeartbeatRequest{Group: cl.group, Version: 1, MemberID: cl.id, MemberEpoch: epochLeave, RebalanceTimeout: -1}
	if cl.instance != "" {
		req.MemberEpoch, req.InstanceID = epochStaticLeave, &cl.instance
	}
	cl.held = nil
	return c.ConsumerGroupHeartbeat(req)
}

// mustHeartbeat heartbeats and fails the test on an error.
func (cl *client) mustHeartbeat(t *testing.T, c *Coordinator) ConsumerHeartbeatResult {
	t.Helper()
	res := cl.heartbeat(c)
	if res.Err != nil {
		t.Fatalf("heartbeat of %s: %v", cl.id, res.Err)
	}
	return res
}

// noDoubleOwners fails if two clients hold the same partition.
func noDoubleOwners(t *testing.T, clients []*client) {
	t.Helper()
	holder := map[topicIDPartition]string{}
	for _, cl := range clients {
		cl.held.each(func(p topicIDPartition) {
			if o, ok := holder[p]; ok {
				t.Fatalf("partition %v held by %s and %s at once", p, o, cl.id)
			}
			holder[p] = cl.id
		})
	}
}

// settle heartbeats every client round-robin until the group is stable,
// checking after every heartbeat that no partition has two holders.
func settle(t *testing.T, c *Coordinator, clients []*client) {
	t.Helper()
	for range 20 {
		for _, cl := range clients {
			cl.mustHeartbeat(t, c)
			noDoubleOwners(t, clients)
		}
		d, err := c.DescribeConsumerGroup(clients[0].group)
		if err != nil {
			t.Fatal(err)
		}
		if d.State == StateStable {
			return
		}
	}
	d, _ := c.DescribeConsumerGroup(clients[0].group)
	t.Fatalf("group did not settle: %+v", d)
}

// counts returns each client's number of held partitions.
func counts(clients []*client) []int {
	out := make([]int, len(clients))
	for i, cl := range clients {
		out[i] = cl.held.size()
	}
	return out
}

package integration

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker"
	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// killSwitch is a dialer whose connections can all be cut at once, with
// every later dial refused: the client is as good as a killed process,
// never leaving its group.
type killSwitch struct {
	mu    sync.Mutex
	dead  bool
	conns []net.Conn
}

func (k *killSwitch) dial(ctx context.Context, network, host string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, host)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		c.Close()
		return nil, errors.New("killed")
	}
	k.conns = append(k.conns, c)
	return c, nil
}

func (k *killSwitch) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dead = true
	for _, c := range k.conns {
		c.Close()
	}
}

// member848 is a kgo consumer in a KIP-848 group. It blocks rebalances
// while it processes a poll, so that the offsets it commits when it gives
// up partitions cover everything it processed.
type member848 struct {
	name  string
	cl    *kgo.Client
	kill  killSwitch
	dead  atomic.Bool
	done  chan struct{}
	mu    sync.Mutex
	got   map[pos]bool
	acked map[int32]int64 // partition -> highest commit the broker confirmed
}

func start848(t *testing.T, addr, group, topic, name string, balancer kgo.GroupBalancer, seen func(pos)) *member848 {
	m := &member848{name: name, done: make(chan struct{}), got: map[pos]bool{}, acked: map[int32]int64{}}
	opts := []kgo.Opt{
		kgo.SeedBrokers(addr), kgo.Dialer(m.kill.dial), kgo.ClientID(name),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.Balancers(balancer), kgo.ServerSideBalancer(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.BlockRebalanceOnPoll(),
		kgo.AutoCommitMarks(), kgo.AutoCommitInterval(100 * time.Millisecond), kgo.AutoCommitCallback(m.committed),
		kgo.FetchMaxWait(200 * time.Millisecond),
	}
	if os.Getenv("STRATA_TEST_LOG") == "debug" {
		opts = append(opts, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelInfo, func() string { return name + " " })))
	}
	var err error
	if m.cl, err = kgo.NewClient(opts...); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if m.dead.Load() {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			m.cl.LeaveGroupContext(ctx) // nothing to reach; do not wait
		}
		m.cl.CloseAllowingRebalance()
	})
	go func() {
		defer close(m.done)
		for {
			fs := m.cl.PollFetches(context.Background())
			if fs.IsClientClosed() || m.dead.Load() {
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				p := pos{r.Partition, r.Offset}
				m.mu.Lock()
				m.got[p] = true
				m.mu.Unlock()
				seen(p)
				m.cl.MarkCommitRecords(r)
			})
			m.cl.AllowRebalance()
		}
	}()
	return m
}

// committed records the offsets the broker confirmed.
func (m *member848) committed(_ *kgo.Client, req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
	if err != nil || resp == nil {
		return
	}
	sent := map[int32]int64{}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			sent[p.Partition] = p.Offset
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode == 0 && sent[p.Partition] > m.acked[p.Partition] {
				m.acked[p.Partition] = sent[p.Partition]
			}
		}
	}
}

// stop closes the client: it commits, gives up its partitions and leaves.
func (m *member848) stop() {
	m.cl.CloseAllowingRebalance()
	<-m.done
}

// waitCommitted waits until the broker confirmed commits of everything the
// member consumed.
func (m *member848) waitCommitted(t *testing.T, ctx context.Context) {
	t.Helper()
	for ctx.Err() == nil {
		m.mu.Lock()
		behind := false
		for p := range m.got {
			if m.acked[p.partition] <= p.offset {
				behind = true
				break
			}
		}
		m.mu.Unlock()
		if !behind {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: commits did not catch up", m.name)
}

// crash cuts the client off without a word to the coordinator.
func (m *member848) crash() {
	m.dead.Store(true)
	m.kill.kill()
	<-m.done
}

// TestConsumerGroupProtocol runs KIP-848 groups end to end with kgo's
// server-side balancing, for both server assignors: three consumers share
// twelve partitions, the group survives a broker restart without
// rebalancing, one member leaves, one is cut off and expires, every record
// is consumed, and nothing committed is consumed again.
func TestConsumerGroupProtocol(t *testing.T) {
	for _, tc := range []struct {
		assignor string
		balancer kgo.GroupBalancer
	}{
		{"uniform", kgo.CooperativeStickyBalancer()},
		{"range", kgo.RangeBalancer()},
	} {
		t.Run(tc.assignor, func(t *testing.T) { runConsumerGroupProtocol(t, tc.assignor, tc.balancer) })
	}
}

func runConsumerGroupProtocol(t *testing.T, assignor string, balancer kgo.GroupBalancer) {
	const topic, group = "jobs", "workers"
	// Short sessions, so that the cut-off member expires soon. On a
	// cluster the restarted node may be the group's coordinator: its
	// members then reach the new one only after kgo's heartbeat retries
	// to the old one have backed off (five seconds seen), and their
	// sessions at the new coordinator, started when it loaded the group,
	// must outlast that.
	session := "3000"
	if brokertest.ClusterSize() > 1 {
		session = "10000"
	}
	node := brokertest.StartNode(t, func(cfg *broker.Config) {
		cfg.Static = map[string]string{
			"group.consumer.session.timeout.ms":    session,
			"group.consumer.heartbeat.interval.ms": "200",
		}
	})
	addr := node.Addr()
	adm := brokertest.Admin(t, addr)
	brokertest.CreateTopic(t, adm, topic, 12, nil)
	ctx := brokertest.Context(t, 120*time.Second)

	var mu sync.Mutex
	consumed := map[pos]int{}
	seen := func(p pos) {
		mu.Lock()
		consumed[p]++
		mu.Unlock()
	}
	waitFor := func(n int) {
		t.Helper()
		for {
			mu.Lock()
			got := len(consumed)
			mu.Unlock()
			if got >= n {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("consumed %d of %d", got, n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	produced := 0
	produce := func(n int) {
		t.Helper()
		cl := brokertest.Client(t, addr, kgo.DefaultProduceTopic(topic))
		for i := range n {
			cl.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "k%d", produced+i), Value: []byte("v")}, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		produced += n
	}
	// settled waits until the group is stable with these many members and
	// every partition assigned, and returns its description.
	settled := func(members int) kadm.DescribedConsumerGroup {
		t.Helper()
		var last kadm.DescribedConsumerGroup
		for ctx.Err() == nil {
			d, err := adm.DescribeConsumerGroups(ctx, group)
			last = d[group]
			if err == nil && last.Err == nil && last.State == "Stable" && len(last.Members) == members {
				n := 0
				for _, m := range last.Members {
					n += len(m.Assignment[topic])
				}
				if n == 12 {
					return last
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("group did not settle with %d members: %+v", members, last)
		return last
	}

	members := []*member848{}
	for i := range 3 {
		members = append(members, start848(t, addr, group, topic, fmt.Sprintf("m%d", i), balancer, seen))
	}
	d := settled(3)
	if d.AssignorName != assignor {
		t.Fatalf("assignor %q, want %q", d.AssignorName, assignor)
	}
	for _, m := range d.Members {
		ps := partitionsOf(m.Assignment, topic)
		if len(ps) != 4 {
			t.Fatalf("member %s has partitions %v, want 4 of 12", m.ClientID, ps)
		}
		if assignor == "range" && ps[3]-ps[0] != 3 {
			t.Fatalf("range assignor gave %s non-contiguous partitions %v", m.ClientID, ps)
		}
	}
	produce(1200)
	waitFor(produced)

	// A restart keeps the group: same members at the same epochs, no
	// rebalance, and consumption carries on.
	before := settled(3)
	node.Restart()
	produce(1200)
	waitFor(produced)
	after := settled(3)
	if after.Epoch != before.Epoch || !sameMembers(before, after) {
		t.Fatalf("group changed over a restart:\nbefore %+v\nafter  %+v", before, after)
	}

	// One member leaves; the others take its partitions.
	members[0].stop()
	settled(2)
	produce(1200)
	waitFor(produced)

	// One member is cut off once its commits have landed; its session
	// expires and the last member takes everything, from those commits.
	members[2].waitCommitted(t, ctx)
	members[2].crash()
	settled(1)
	produce(1200)
	waitFor(produced)
	members[1].stop()

	// Nothing was consumed twice, except what the cut-off member processed
	// after its last confirmed commit.
	crashed := members[2]
	mu.Lock()
	again := 0
	for p, n := range consumed {
		if n == 1 {
			continue
		}
		again++
		if n > 2 || !crashed.got[p] || p.offset < crashed.acked[p.partition] {
			t.Errorf("record %v consumed %d times (crashed member had it: %v, its last commit %d)", p, n, crashed.got[p], crashed.acked[p.partition])
		}
	}
	mu.Unlock()
	t.Logf("%d records read again after the cut-off member's last commit", again)

	offsets, err := adm.FetchOffsets(ctx, group)
	if err != nil || offsets.Error() != nil {
		t.Fatal(err, offsets.Error())
	}
	var committed int64
	offsets.Each(func(o kadm.OffsetResponse) { committed += o.At })
	if committed != int64(produced) {
		t.Fatalf("committed offsets sum to %d, want %d", committed, produced)
	}

	// The group is listed as a consumer group; DescribeGroups does not
	// know it, as in Kafka 4.
	listed, err := adm.ListGroupsByType(ctx, []string{"consumer"})
	if err != nil || len(listed) != 1 || listed[group].State != "Empty" || listed[group].GroupType != "consumer" {
		t.Fatalf("listed consumer groups: %v %+v", err, listed)
	}
	if classic, _ := adm.ListGroupsByType(ctx, []string{"classic"}); len(classic) != 0 {
		t.Fatalf("listed as classic: %+v", classic)
	}
	described, err := adm.DescribeGroups(ctx, group)
	if err == nil {
		err = described[group].Err
	}
	if !errors.Is(err, kerr.GroupIDNotFound) {
		t.Fatalf("DescribeGroups of a consumer group: %v", err)
	}

	// A new member resumes from the commits and reads only new records.
	produce(100)
	fresh := start848(t, addr, group, topic, "fresh", balancer, seen)
	waitFor(produced)
	fresh.stop()
	if len(fresh.got) != 100 {
		t.Fatalf("new member read %d records, want the 100 new ones", len(fresh.got))
	}
	if r, err := adm.DeleteGroups(ctx, group); err != nil || r.Error() != nil {
		t.Fatalf("delete group: %v %v", err, r.Error())
	}
}

// sameMembers reports whether two descriptions have the same members at
// the same epochs with the same assignments.
func sameMembers(a, b kadm.DescribedConsumerGroup) bool {
	if len(a.Members) != len(b.Members) {
		return false
	}
	for i := range a.Members {
		x, y := a.Members[i], b.Members[i]
		if x.MemberID != y.MemberID || x.MemberEpoch != y.MemberEpoch ||
			!slices.Equal(partitionsOf(x.Assignment, "jobs"), partitionsOf(y.Assignment, "jobs")) {
			return false
		}
	}
	return true
}

func partitionsOf(s kadm.TopicsSet, topic string) []int32 {
	return slices.Sorted(maps.Keys(s[topic]))
}

// TestConsumerGroupHeartbeatWire checks the KIP-848 APIs at the wire level:
// a v0 join gets a member id from the coordinator, v1 requires the
// client's own, and ConsumerGroupDescribe, ListGroups, OffsetCommit and
// OffsetFetch treat the group as Kafka 4 does.
func TestConsumerGroupHeartbeatWire(t *testing.T) {
	raw := newRaw(t)
	brokertest.CreateTopic(t, raw.adm, "t", 3, nil)
	r := raw.coordinator(0, "g848") // every request here is the group's
	ctx := brokertest.Context(t, 10*time.Second)
	details, err := r.adm.ListTopics(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	topicID := details["t"].ID

	join := func(version int16, member string, edit func(*kmsg.ConsumerGroupHeartbeatRequest)) *kmsg.ConsumerGroupHeartbeatResponse {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.MemberEpoch = "g848", member, 0
		req.RebalanceTimeoutMillis = 30000
		req.SubscribedTopicNames = []string{"t"}
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		assignor := "range"
		req.ServerAssignor = &assignor
		if edit != nil {
			edit(req)
		}
		return r.requestAt(req, version).(*kmsg.ConsumerGroupHeartbeatResponse)
	}
	resp := join(0, "", nil)
	if resp.ErrorCode != 0 || resp.MemberID == nil || *resp.MemberID == "" || resp.MemberEpoch != 1 || resp.HeartbeatIntervalMillis != 5000 {
		t.Fatalf("v0 join: %+v", resp)
	}
	if a := resp.Assignment; a == nil || len(a.Topics) != 1 || a.Topics[0].TopicID != topicID || len(a.Topics[0].Partitions) != 3 {
		t.Fatalf("v0 join assignment: %+v", resp.Assignment)
	}
	member, epoch := *resp.MemberID, resp.MemberEpoch
	if resp := join(1, "", nil); resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("v1 join without a member id: %+v", resp)
	}
	if resp := join(1, "m2", func(req *kmsg.ConsumerGroupHeartbeatRequest) {
		bad := "t["
		req.SubscribedTopicNames, req.SubscribedTopicRegex = nil, &bad
	}); resp.ErrorCode != kerr.InvalidRegularExpression.Code {
		t.Fatalf("bad regex: %+v", resp)
	}

	// "nope" is unknown at its coordinator; another node (on a cluster
	// the groups may have different coordinators) is not its coordinator.
	nope := kerr.GroupIDNotFound.Code
	if raw.coordinator(0, "nope") != r {
		nope = kerr.NotCoordinator.Code
	}
	describe := kmsg.NewPtrConsumerGroupDescribeRequest()
	describe.Groups = []string{"g848", "nope"}
	dresp := r.request(describe).(*kmsg.ConsumerGroupDescribeResponse)
	if len(dresp.Groups) != 2 || dresp.Groups[1].ErrorCode != nope {
		t.Fatalf("describe: %+v", dresp)
	}
	describe.Groups = []string{"nope"}
	if dresp := raw.coordinator(0, "nope").request(describe).(*kmsg.ConsumerGroupDescribeResponse); len(dresp.Groups) != 1 || dresp.Groups[0].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("describe an unknown group at its coordinator: %+v", dresp)
	}
	g := dresp.Groups[0]
	if g.ErrorCode != 0 || g.State != "Stable" || g.Epoch != 1 || g.AssignorName != "range" || len(g.Members) != 1 {
		t.Fatalf("described group: %+v", g)
	}
	if m := g.Members[0]; m.MemberID != member || m.MemberType != 1 || len(m.Assignment.TopicPartitions) != 1 || m.Assignment.TopicPartitions[0].Topic != "t" {
		t.Fatalf("described member: %+v", m)
	}

	list := kmsg.NewPtrListGroupsRequest()
	list.TypesFilter = []string{"consumer"}
	lresp := r.request(list).(*kmsg.ListGroupsResponse)
	if len(lresp.Groups) != 1 || lresp.Groups[0].GroupType != "consumer" || lresp.Groups[0].ProtocolType != "consumer" || lresp.Groups[0].GroupState != "Stable" {
		t.Fatalf("list consumer groups: %+v", lresp)
	}
	list.TypesFilter = []string{"classic"}
	if lresp := r.request(list).(*kmsg.ListGroupsResponse); len(lresp.Groups) != 0 {
		t.Fatalf("list classic groups: %+v", lresp)
	}

	commit := func(version int16, epoch int32) int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.MemberID, req.Generation = "g848", member, epoch
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic, rt.TopicID = "t", topicID
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = 0, 5
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return r.requestAt(req, version).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
	}
	if code := commit(8, epoch); code != kerr.UnsupportedVersion.Code {
		t.Fatalf("OffsetCommit v8 by a consumer member: %d", code)
	}
	if code := commit(9, epoch+1); code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("OffsetCommit with a newer epoch: %d", code)
	}
	if code := commit(10, epoch); code != 0 {
		t.Fatalf("OffsetCommit v10: %d", code)
	}
	fetch := func(epoch int32) *kmsg.OffsetFetchResponseGroup {
		req := kmsg.NewPtrOffsetFetchRequest()
		rg := kmsg.NewOffsetFetchRequestGroup()
		rg.Group, rg.MemberID, rg.MemberEpoch = "g848", &member, epoch
		req.Groups = append(req.Groups, rg)
		return &r.requestAt(req, 9).(*kmsg.OffsetFetchResponse).Groups[0]
	}
	if g := fetch(epoch + 1); g.ErrorCode != kerr.StaleMemberEpoch.Code {
		t.Fatalf("OffsetFetch with a wrong epoch: %+v", g)
	}
	if g := fetch(epoch); g.ErrorCode != 0 || len(g.Topics) != 1 || g.Topics[0].Partitions[0].Offset != 5 {
		t.Fatalf("OffsetFetch: %+v", g)
	}

	leave := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	leave.Group, leave.MemberID, leave.MemberEpoch = "g848", member, -1
	if resp := r.requestAt(leave, 0).(*kmsg.ConsumerGroupHeartbeatResponse); resp.ErrorCode != 0 || resp.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", resp)
	}
}

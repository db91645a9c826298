package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupMember is one kgo consumer in a group that records what it got and
// commits after processing.
type groupMember struct {
	name string
	cl   *kgo.Client
	mu   sync.Mutex
	got  map[pos]string
	done chan struct{}
}

func startMember(t *testing.T, addr, group, topic, name string, seen func(pos, string)) *groupMember {
	m := &groupMember{name: name, got: map[pos]string{}, done: make(chan struct{})}
	m.cl = brokertest.Client(t, addr,
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.AutoCommitMarks(), kgo.AutoCommitInterval(100*time.Millisecond),
		kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(500*time.Millisecond),
		kgo.FetchMaxWait(200*time.Millisecond), kgo.ClientID(name),
	)
	go func() {
		defer close(m.done)
		for {
			fs := m.cl.PollFetches(context.Background())
			if fs.IsClientClosed() {
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				p := pos{r.Partition, r.Offset}
				m.mu.Lock()
				m.got[p] = string(r.Value)
				m.mu.Unlock()
				seen(p, string(r.Value))
				m.cl.MarkCommitRecords(r)
			})
		}
	}()
	return m
}

func (m *groupMember) stop() {
	m.cl.Close() // commits marks and leaves the group
	<-m.done
}

// TestConsumerGroup: three members share 12 partitions, one leaves, the
// others take over its partitions, and committed offsets keep a new member
// from reading anything again.
func TestConsumerGroup(t *testing.T) {
	b := brokertest.Start(t)
	addr := b.KafkaAddr()
	adm := brokertest.Admin(t, addr)
	brokertest.CreateTopic(t, adm, "jobs", 12, nil)
	ctx := brokertest.Context(t, 90*time.Second)

	var mu sync.Mutex
	consumed := map[pos]int{}
	seen := func(p pos, _ string) {
		mu.Lock()
		consumed[p]++
		mu.Unlock()
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(consumed)
	}
	waitFor := func(n int) {
		t.Helper()
		for count() < n {
			if ctx.Err() != nil {
				t.Fatalf("consumed %d of %d", count(), n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	produce := func(n int, from int) {
		t.Helper()
		cl := brokertest.Client(t, addr, kgo.DefaultProduceTopic("jobs"))
		for i := range n {
			cl.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "k%d", from+i), Value: fmt.Appendf(nil, "v%d", from+i)}, nil)
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}

	members := []*groupMember{}
	for i := range 3 {
		members = append(members, startMember(t, addr, "workers", "jobs", fmt.Sprintf("m%d", i), seen))
	}
	produce(3000, 0)
	waitFor(3000)
	for _, m := range members {
		m.mu.Lock()
		n := len(m.got)
		m.mu.Unlock()
		if n == 0 {
			t.Errorf("member %s consumed nothing: partitions were not shared", m.name)
		}
	}
	described, err := adm.DescribeGroups(ctx, "workers")
	if err != nil || described["workers"].State != "Stable" || len(described["workers"].Members) != 3 {
		t.Fatalf("describe: %v %+v", err, described["workers"])
	}
	assigned := 0
	for _, m := range described["workers"].Members {
		ca, _ := m.Assigned.AsConsumer()
		for _, tp := range ca.Topics {
			assigned += len(tp.Partitions)
		}
	}
	if assigned != 12 {
		t.Fatalf("%d partitions assigned across the group, want 12", assigned)
	}

	// One member leaves; the others get its partitions.
	members[0].stop()
	produce(3000, 3000)
	waitFor(6000)

	// Everyone leaves, committing on the way out; a new member resumes
	// from the commits and reads only new records.
	members[1].stop()
	members[2].stop()
	offsets, err := adm.FetchOffsets(ctx, "workers")
	if err != nil || offsets.Error() != nil {
		t.Fatal(err, offsets.Error())
	}
	var committed int64
	offsets.Each(func(o kadm.OffsetResponse) { committed += o.At })
	if committed != 6000 {
		t.Fatalf("committed offsets sum to %d, want 6000", committed)
	}
	produce(100, 6000)
	fresh := startMember(t, addr, "workers", "jobs", "fresh", seen)
	waitFor(6100)
	fresh.stop()
	mu.Lock()
	for p, n := range consumed {
		// Members commit what they processed before they leave, so a
		// partition moving to another member resumes exactly there.
		if n > 1 {
			t.Errorf("record %v consumed %d times", p, n)
		}
	}
	mu.Unlock()
	fresh.mu.Lock()
	if len(fresh.got) != 100 {
		t.Errorf("new member read %d records, want the 100 new ones", len(fresh.got))
	}
	fresh.mu.Unlock()

	groups, err := adm.ListGroups(ctx)
	if err != nil || len(groups) != 1 || groups.Groups()[0] != "workers" {
		t.Fatalf("list groups: %v %v", err, groups)
	}
	if r, err := adm.DeleteGroups(ctx, "workers"); err != nil || r.Error() != nil {
		t.Fatalf("delete group: %v %v", err, r.Error())
	}
}

package meta

import (
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestPlanPartition(t *testing.T) {
	cases := []struct {
		name       string
		p          Partition
		dead       []int32
		unclean    bool
		wantNil    bool
		wantLeader int32
		wantISR    []int32
	}{
		{name: "all alive", p: Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1}, wantNil: true},
		{name: "follower fenced leaves the ISR", p: Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}, Leader: 1},
			dead: []int32{3}, wantLeader: 1, wantISR: []int32{1, 2}},
		{name: "leader fenced: next in replica order within the ISR", p: Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{3, 1, 2}, Leader: 1},
			dead: []int32{1}, wantLeader: 2, wantISR: []int32{3, 2}},
		{name: "only out-of-sync replicas alive: no leader, last ISR member kept", p: Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: 1},
			dead: []int32{1}, wantLeader: NoLeader, wantISR: []int32{1}},
		{name: "leaderless stays leaderless", p: Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: NoLeader},
			dead: []int32{1}, wantNil: true},
		{name: "unclean election picks a live replica", p: Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: 1},
			dead: []int32{1}, unclean: true, wantLeader: 2, wantISR: []int32{2}},
		{name: "last ISR member back: leader again", p: Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: NoLeader},
			wantLeader: 1, wantISR: []int32{1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tp := &Topic{ID: NewTopicID(), Partitions: []Partition{c.p}}
			alive := func(id int32) bool { return !slices.Contains(c.dead, id) }
			got := planPartition(tp, 0, alive, c.unclean)
			if c.wantNil {
				if got != nil {
					t.Fatalf("change %+v, want none", got)
				}
				return
			}
			if got == nil || got.Leader != c.wantLeader || !slices.Equal(got.ISR, c.wantISR) {
				t.Fatalf("got %+v, want leader %d ISR %v", got, c.wantLeader, c.wantISR)
			}
		})
	}
}

func TestApplyPartitionRecords(t *testing.T) {
	base := func() (*Image, TopicID) {
		im := emptyImage()
		for id, fenced := range map[int32]bool{1: false, 2: false, 3: true} {
			im.brokers[id] = &Broker{ID: id, Epoch: int64(10 * id), Fenced: fenced}
		}
		tp := &Topic{ID: NewTopicID(), Tenant: DefaultTenant, Name: "t",
			Partitions: []Partition{{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 4, PartitionEpoch: 7}}}
		if err := im.applyCreateTopic(tp); err != nil {
			t.Fatal(err)
		}
		return im, tp.ID
	}
	ok := func(id TopicID) AlterPartition {
		return AlterPartition{Topic: id, Partition: 0, Leader: 1, BrokerEpoch: 10, LeaderEpoch: 4, PartitionEpoch: 7, ISR: []int32{1}}
	}
	cases := []struct {
		name   string
		change func(*AlterPartition)
		want   error
	}{
		{"unknown partition", func(a *AlterPartition) { a.Partition = 5 }, kerr.UnknownTopicOrPartition},
		{"stale broker epoch", func(a *AlterPartition) { a.BrokerEpoch = 9 }, kerr.StaleBrokerEpoch},
		{"older leader epoch", func(a *AlterPartition) { a.LeaderEpoch = 3 }, kerr.FencedLeaderEpoch},
		{"newer leader epoch", func(a *AlterPartition) { a.LeaderEpoch = 5 }, kerr.NotController},
		{"not the leader", func(a *AlterPartition) { a.Leader, a.BrokerEpoch = 2, 20 }, kerr.InvalidRequest},
		{"stale partition epoch", func(a *AlterPartition) { a.PartitionEpoch = 6 }, kerr.InvalidUpdateVersion},
		{"leader left out", func(a *AlterPartition) { a.ISR = []int32{2} }, kerr.InvalidRequest},
		{"not a replica", func(a *AlterPartition) { a.ISR = []int32{1, 4} }, kerr.InvalidRequest},
		{"fenced broker may not join (KIP-841)", func(a *AlterPartition) { a.ISR = []int32{1, 2, 3} }, kerr.IneligibleReplica},
		{"shrink", func(a *AlterPartition) {}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			im, id := base()
			a := ok(id)
			c.change(&a)
			err := im.apply(&Record{AlterPartition: &a})
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			p := im.byID[id].Partitions[0]
			if c.want != nil && p.PartitionEpoch != 7 {
				t.Fatalf("refused change applied: %+v", p)
			}
			if c.want == nil && (p.PartitionEpoch != 8 || p.LeaderEpoch != 4 || !slices.Equal(p.ISR, []int32{1})) {
				t.Fatalf("after shrink: %+v", p)
			}
		})
	}

	t.Run("partition change", func(t *testing.T) {
		im, id := base()
		err := im.apply(&Record{PartitionChange: &PartitionChange{Topic: id, PartitionEpoch: 6, Leader: 2, ISR: []int32{2}}})
		if !errors.Is(err, kerr.InvalidUpdateVersion) {
			t.Fatalf("stale partition epoch: %v", err)
		}
		if err := im.apply(&Record{PartitionChange: &PartitionChange{Topic: id, PartitionEpoch: 7, Leader: 2, ISR: []int32{2}}}); err != nil {
			t.Fatal(err)
		}
		p := im.byID[id].Partitions[0]
		if p.Leader != 2 || p.LeaderEpoch != 5 || p.PartitionEpoch != 8 {
			t.Fatalf("after election: %+v", p)
		}
		if err := im.apply(&Record{PartitionChange: &PartitionChange{Topic: id, PartitionEpoch: 8, Leader: 2, ISR: []int32{2, 1}}}); err != nil {
			t.Fatal(err)
		}
		if p := im.byID[id].Partitions[0]; p.LeaderEpoch != 5 || p.PartitionEpoch != 9 {
			t.Fatalf("an ISR change bumped the leader epoch: %+v", p)
		}
		if err := im.apply(&Record{PartitionChange: &PartitionChange{Topic: id, PartitionEpoch: 9, Leader: 3, ISR: []int32{2}}}); !errors.Is(err, kerr.InvalidRequest) {
			t.Fatalf("leader outside the ISR: %v", err)
		}
	})
}

// KIP-903: an expansion computed from the fetches of a broker's previous
// process (before it crashed and registered again) must not put the new
// process in the ISR, even once the new process is unfenced: the leader
// names the broker epoch it saw, and the controller compares it with the
// current registration.
func TestAlterPartitionRefusesStaleBrokerEpoch(t *testing.T) {
	setup := func(t *testing.T) (*Image, TopicID, int64, int64) {
		im := emptyImage()
		im.Index = 10
		for _, id := range []int32{1, 2, 3} {
			if err := im.apply(&Record{RegisterBroker: &Broker{ID: id, Incarnation: "first"}}); err != nil {
				t.Fatal(err)
			}
			if err := im.apply(&Record{UnfenceBroker: &BrokerRef{ID: id, Epoch: 10}}); err != nil {
				t.Fatal(err)
			}
		}
		tp := &Topic{ID: NewTopicID(), Tenant: DefaultTenant, Name: "t",
			Partitions: []Partition{{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2}, Leader: 1, LeaderEpoch: 4, PartitionEpoch: 7}}}
		if err := im.applyCreateTopic(tp); err != nil {
			t.Fatal(err)
		}
		old := im.brokers[3].Epoch
		// Broker 3 crashes and its new process registers (raft index 20,
		// its new epoch) and is unfenced; it was not in the ISR, so the
		// registration changed no partition and the partition epoch the
		// leader's request names is still current.
		im.Index = 20
		if err := im.apply(&Record{RegisterBroker: &Broker{ID: 3, Incarnation: "second", Fenced: true}}); err != nil {
			t.Fatal(err)
		}
		cur := im.brokers[3].Epoch
		if err := im.apply(&Record{UnfenceBroker: &BrokerRef{ID: 3, Epoch: cur}}); err != nil {
			t.Fatal(err)
		}
		if old == cur {
			t.Fatalf("re-registration kept epoch %d", old)
		}
		return im, tp.ID, old, cur
	}
	expand := func(id TopicID, added []BrokerRef) *AlterPartition {
		return &AlterPartition{Topic: id, Partition: 0, Leader: 1, BrokerEpoch: 10, LeaderEpoch: 4, PartitionEpoch: 7,
			ISR: []int32{1, 2, 3}, Added: added}
	}
	cases := []struct {
		name  string
		added func(old, cur int64) []BrokerRef
		want  error
	}{
		{"stale epoch refused", func(old, _ int64) []BrokerRef { return []BrokerRef{{ID: 3, Epoch: old}} }, kerr.IneligibleReplica},
		{"unknown epoch refused", func(_, _ int64) []BrokerRef { return []BrokerRef{{ID: 3, Epoch: -1}} }, kerr.IneligibleReplica},
		{"added replica without an epoch refused", func(_, cur int64) []BrokerRef { return []BrokerRef{{ID: 2, Epoch: 10}} }, kerr.IneligibleReplica},
		{"current epoch accepted", func(_, cur int64) []BrokerRef { return []BrokerRef{{ID: 3, Epoch: cur}} }, nil},
		// A record written before KIP-903 applies as it did then.
		{"record without epochs applies as before", func(_, _ int64) []BrokerRef { return nil }, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			im, id, old, cur := setup(t)
			// Through the log's encoding, as every node applies it.
			data, err := encodeRecords([]Record{{AlterPartition: expand(id, c.added(old, cur))}})
			if err != nil {
				t.Fatal(err)
			}
			recs, err := decodeRecords(data)
			if err != nil {
				t.Fatal(err)
			}
			err = im.apply(&recs[0])
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			p := im.byID[id].Partitions[0]
			switch {
			case c.want != nil && (p.PartitionEpoch != 7 || !slices.Equal(p.ISR, []int32{1, 2})):
				t.Fatalf("refused expansion applied: %+v", p)
			case c.want == nil && (p.PartitionEpoch != 8 || !slices.Equal(p.ISR, []int32{1, 2, 3})):
				t.Fatalf("after expansion: %+v", p)
			}
		})
	}

	// A metadata log written before KIP-903 holds expansions without
	// epochs: they still decode and apply.
	t.Run("old log record", func(t *testing.T) {
		im, id, _, _ := setup(t)
		old := `[{"alterPartition":{"topic":"` + id.String() + `","partition":0,"leader":1,"brokerEpoch":10,"leaderEpoch":4,"partitionEpoch":7,"isr":[1,2,3]}}]`
		recs, err := decodeRecords([]byte(old))
		if err != nil {
			t.Fatal(err)
		}
		if err := im.apply(&recs[0]); err != nil {
			t.Fatal(err)
		}
		if p := im.byID[id].Partitions[0]; !slices.Equal(p.ISR, []int32{1, 2, 3}) {
			t.Fatalf("old record: %+v", p)
		}
	})
}

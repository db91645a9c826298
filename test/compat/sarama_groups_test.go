package compat

// sarama in the group scenarios (the "sarama" column, protocol 4.0): a
// ConsumerGroup with sarama's default balance strategy, range
// (STRATA_COMPAT_SARAMA_STRATEGY=roundrobin, sticky or cooperative-sticky
// runs another). With commits, auto-commit is off and each claim marks the
// messages it processed and calls Session.Commit (synchronous) whenever its
// channel is drained, and once more when its session ends, before the
// member rejoins or leaves. Commit returns nothing: a failed commit shows
// only on the group's Errors channel, which the member logs (and the
// redelivery check would then fail). Without, sarama auto-commits marks.
// The ClusterAdmin describes and lists groups (ListConsumerGroups shows no
// states).

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

func init() { goMembers["sarama"] = saramaMember }

// saramaGroups is the group client of one sarama column; the versioned
// columns leave the group cells to the "sarama" column.
func saramaGroups(name string, version sarama.KafkaVersion) groupClient {
	if name != "sarama" {
		missing := map[string]string{}
		for _, s := range groupScenarios {
			missing[s] = "covered by the sarama column"
		}
		return groupClient{name: name, missing: missing}
	}
	return groupClient{
		name: name,
		start: func(t *testing.T, addr string, spec memberSpec, log *groupLog) groupMember {
			return startGoMember(t, "sarama", addr, spec, log)
		},
		describe: func(t *testing.T, addr, group, topic string) describedGroup {
			t.Helper()
			ds, err := saramaAdmin(t, version, addr).DescribeConsumerGroups([]string{group})
			if err == nil && (len(ds) != 1 || !errors.Is(ds[0].Err, sarama.ErrNoError)) {
				err = fmt.Errorf("%d groups described, first %+v", len(ds), ds)
			}
			if err != nil {
				t.Fatalf("sarama DescribeConsumerGroups %s: %v", group, err)
			}
			d := ds[0]
			out := describedGroup{State: d.State, ProtocolType: d.ProtocolType, Protocol: d.Protocol}
			for id, m := range d.Members {
				a, err := m.GetMemberAssignment()
				if err != nil {
					t.Fatalf("sarama: member %s's assignment: %v", id, err)
				}
				dm := describedMember{MemberID: id, ClientID: m.ClientId, ClientHost: m.ClientHost, Assigned: []int32{}}
				if a != nil {
					dm.Assigned = append(dm.Assigned, a.Topics[topic]...)
				}
				out.Members = append(out.Members, dm)
			}
			return out
		},
		list: func(t *testing.T, addr string) map[string]string {
			t.Helper()
			groups, err := saramaAdmin(t, version, addr).ListConsumerGroups()
			if err != nil {
				t.Fatalf("sarama ListConsumerGroups: %v", err)
			}
			out := map[string]string{}
			for g := range groups { // group to protocol type: no state
				out[g] = ""
			}
			return out
		},
	}
}

// saramaStrategy is the balance strategy of STRATA_COMPAT_SARAMA_STRATEGY.
func saramaStrategy() (sarama.BalanceStrategy, error) {
	switch s := os.Getenv("STRATA_COMPAT_SARAMA_STRATEGY"); s {
	case "", "range":
		return sarama.NewBalanceStrategyRange(), nil
	case "roundrobin":
		return sarama.NewBalanceStrategyRoundRobin(), nil
	case "sticky":
		return sarama.NewBalanceStrategySticky(), nil
	case "cooperative-sticky":
		return sarama.NewBalanceStrategyCooperativeSticky(), nil
	default:
		return nil, fmt.Errorf("STRATA_COMPAT_SARAMA_STRATEGY=%s: want range, roundrobin, sticky or cooperative-sticky", s)
	}
}

// saramaMember is sarama's goMemberFunc.
func saramaMember(ctx context.Context, addr string, spec memberSpec, out *memberOut) error {
	strategy, err := saramaStrategy()
	if err != nil {
		return err
	}
	if debugLogs() {
		sarama.Logger = log.New(os.Stderr, "[sarama] ", log.Lmicroseconds)
	}
	session := time.Duration(spec.SessionTimeoutMs) * time.Millisecond
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.ClientID = spec.ClientID
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.MaxWaitTime = 200 * time.Millisecond
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = !spec.Commit
	cfg.Consumer.Group.Session.Timeout = session
	cfg.Consumer.Group.Heartbeat.Interval = session / 6
	cfg.Consumer.Group.Rebalance.Timeout = time.Duration(spec.RebalanceTimeoutMs) * time.Millisecond
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{strategy}
	group, err := sarama.NewConsumerGroup(seeds(addr), spec.Group, cfg)
	if err != nil {
		return fmt.Errorf("sarama consumer group: %w", err)
	}
	errsDone := make(chan struct{})
	go func() {
		defer close(errsDone)
		for err := range group.Errors() {
			out.Log("sarama group error: %v", err)
		}
	}()
	h := saramaHandler{spec: spec, out: out}
	for ctx.Err() == nil {
		// Consume returns at the end of each session (a rebalance, or ctx
		// done); the next call rejoins.
		if err := group.Consume(ctx, []string{spec.Topic}, h); err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) {
				break
			}
			out.Log("sarama Consume: %v", err)
			time.Sleep(100 * time.Millisecond)
		}
	}
	err = group.Close() // leaves the group; with auto-commit, commits marks first
	<-errsDone
	if err != nil {
		return fmt.Errorf("sarama close: %w", err)
	}
	return nil
}

// saramaHandler reports what it processes, and commits after processing
// with spec.Commit.
type saramaHandler struct {
	spec memberSpec
	out  *memberOut
}

func (h saramaHandler) Setup(s sarama.ConsumerGroupSession) error {
	h.out.Assigned(s.Claims()[h.spec.Topic])
	return nil
}

func (h saramaHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	h.out.Revoked(s.Claims()[h.spec.Topic])
	return nil
}

func (h saramaHandler) ConsumeClaim(s sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	next := int64(-1) // the offset after the last marked message, not yet committed
	commit := func() {
		if h.spec.Commit && next >= 0 {
			s.Commit()
			h.out.Commit(claim.Partition(), next)
			next = -1
		}
	}
	defer commit()
	for {
		select {
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			h.out.Record(m.Partition, m.Offset, m.Key)
			s.MarkMessage(m, "")
			next = m.Offset + 1
			if len(claim.Messages()) == 0 {
				commit()
			}
		case <-s.Context().Done():
			return nil
		}
	}
}

package compat

// confluent-kafka-go in the group scenarios: a Consumer with group.id that
// subscribes with a rebalance callback, with librdkafka's default
// partition.assignment.strategy "range,roundrobin" (range is chosen;
// STRATA_COMPAT_CONFLUENT_STRATEGY sets another, e.g. cooperative-sticky,
// under which the callback's revocations are incremental). With
// commits, enable.auto.commit is off; the member commits what it processed
// synchronously (CommitOffsets) every 50 messages, whenever Poll comes back
// empty, in the revoke callback before its partitions go, and before it
// closes. Without, librdkafka auto-commits (its default), but of the
// offsets the member stores after processing (enable.auto.offset.store
// false, StoreMessage): by default librdkafka stores a message's offset when
// Poll returns it, and Consumer.Close polls until the consumer is closed,
// dropping the messages it gets, whose offsets the final commit then
// includes, so a member that leaves would skip them for the group. The
// AdminClient describes and lists groups.

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/strata-db/strata/internal/broker/brokertest"
)

func init() { goMembers["confluent-kafka-go"] = confluentMember }

func confluentGroups() groupClient {
	return groupClient{
		name: "confluent-kafka-go",
		start: func(t *testing.T, addr string, spec memberSpec, log *groupLog) groupMember {
			return startGoMember(t, "confluent-kafka-go", addr, spec, log)
		},
		describe: confluentDescribeGroup,
		list: func(t *testing.T, addr string) map[string]string {
			t.Helper()
			res, err := confluentAdmin(t, addr).ListConsumerGroups(brokertest.Context(t, 10*time.Second))
			if err == nil && len(res.Errors) > 0 {
				err = res.Errors[0]
			}
			if err != nil {
				t.Fatalf("confluent-kafka-go ListConsumerGroups: %v", err)
			}
			out := map[string]string{}
			for _, g := range res.Valid {
				out[g.GroupID] = g.State.String()
			}
			return out
		},
	}
}

func confluentDescribeGroup(t *testing.T, addr, group, topic string) describedGroup {
	t.Helper()
	res, err := confluentAdmin(t, addr).DescribeConsumerGroups(brokertest.Context(t, 10*time.Second), []string{group})
	if err == nil && len(res.ConsumerGroupDescriptions) != 1 {
		err = fmt.Errorf("%d groups described", len(res.ConsumerGroupDescriptions))
	}
	if err == nil && res.ConsumerGroupDescriptions[0].Error.Code() != kafka.ErrNoError {
		err = res.ConsumerGroupDescriptions[0].Error
	}
	if err != nil {
		t.Fatalf("confluent-kafka-go DescribeConsumerGroups %s: %v", group, err)
	}
	d := res.ConsumerGroupDescriptions[0]
	out := describedGroup{State: d.State.String(), Protocol: d.PartitionAssignor}
	if !d.IsSimpleConsumerGroup {
		out.ProtocolType = "consumer"
	}
	for _, m := range d.Members {
		dm := describedMember{MemberID: m.ConsumerID, ClientID: m.ClientID, ClientHost: m.Host, Assigned: []int32{}}
		for _, tp := range m.Assignment.TopicPartitions {
			if *tp.Topic == topic {
				dm.Assigned = append(dm.Assigned, tp.Partition)
			}
		}
		out.Members = append(out.Members, dm)
	}
	return out
}

// confluentMember is confluent-kafka-go's goMemberFunc.
func confluentMember(ctx context.Context, addr string, spec memberSpec, out *memberOut) error {
	extra := kafka.ConfigMap{
		"client.id":                spec.ClientID,
		"group.id":                 spec.Group,
		"auto.offset.reset":        "earliest",
		"enable.auto.commit":       !spec.Commit,
		"enable.auto.offset.store": false,
		"session.timeout.ms":       spec.SessionTimeoutMs,
		"heartbeat.interval.ms":    spec.SessionTimeoutMs / 6,
		"max.poll.interval.ms":     spec.RebalanceTimeoutMs,
		"fetch.wait.max.ms":        200,
	}
	if s := os.Getenv("STRATA_COMPAT_CONFLUENT_STRATEGY"); s != "" {
		extra["partition.assignment.strategy"] = s
	}
	c, err := kafka.NewConsumer(confluentConfig(addr, extra))
	if err != nil {
		return fmt.Errorf("confluent-kafka-go consumer: %w", err)
	}
	m := &confluentGroupMember{c: c, spec: spec, out: out, pending: map[int32]int64{}}
	if err := c.SubscribeTopics([]string{spec.Topic}, m.rebalance); err != nil {
		c.Close()
		return fmt.Errorf("subscribe: %w", err)
	}
	for ctx.Err() == nil {
		switch e := c.Poll(100).(type) {
		case *kafka.Message:
			if e.TopicPartition.Error != nil {
				out.Log("message error: %v", e.TopicPartition.Error)
				continue
			}
			out.Record(e.TopicPartition.Partition, int64(e.TopicPartition.Offset), e.Key)
			if !spec.Commit {
				if _, err := c.StoreMessage(e); err != nil {
					out.Log("store offset: %v", err)
				}
				continue
			}
			m.pending[e.TopicPartition.Partition] = int64(e.TopicPartition.Offset) + 1
			if m.uncommitted++; m.uncommitted >= 50 {
				m.commit()
			}
		case kafka.Error:
			if e.IsFatal() {
				c.Close()
				return fmt.Errorf("fatal: %w", e)
			}
			out.Log("librdkafka: %v", e)
		case nil:
			m.commit()
		}
	}
	m.commit()
	// Close leaves the group (calling the revoke callback first).
	if err := c.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// confluentGroupMember is the state of a member's poll loop; only the
// goroutine that polls uses it (librdkafka calls rebalance from Poll and
// Close).
type confluentGroupMember struct {
	c           *kafka.Consumer
	spec        memberSpec
	out         *memberOut
	pending     map[int32]int64 // next offset to commit, by partition
	uncommitted int
}

func (m *confluentGroupMember) rebalance(c *kafka.Consumer, ev kafka.Event) error {
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		m.out.Assigned(confluentPartitions(e.Partitions))
	case kafka.RevokedPartitions:
		if c.AssignmentLost() {
			m.out.Log("assignment lost")
		} else {
			m.commit()
		}
		m.out.Revoked(confluentPartitions(e.Partitions))
		for _, tp := range e.Partitions {
			delete(m.pending, tp.Partition)
		}
	}
	return nil // librdkafka assigns or unassigns when the callback does not
}

// commit commits the pending offsets synchronously and reports each
// partition whose commit succeeded.
func (m *confluentGroupMember) commit() {
	if !m.spec.Commit || len(m.pending) == 0 {
		return
	}
	var tps []kafka.TopicPartition
	for p, off := range m.pending {
		tps = append(tps, kafka.TopicPartition{Topic: &m.spec.Topic, Partition: p, Offset: kafka.Offset(off)})
	}
	m.pending, m.uncommitted = map[int32]int64{}, 0
	done, err := m.c.CommitOffsets(tps)
	if err != nil {
		m.out.Log("commit: %v", err)
		return
	}
	for _, tp := range done {
		if tp.Error != nil {
			m.out.Log("commit of partition %d: %v", tp.Partition, tp.Error)
			continue
		}
		m.out.Commit(tp.Partition, int64(tp.Offset))
	}
}

func confluentPartitions(tps []kafka.TopicPartition) []int32 {
	ps := make([]int32, len(tps))
	for i, tp := range tps {
		ps[i] = tp.Partition
	}
	return ps
}

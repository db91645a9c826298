package compat

// kafka-go in the group scenarios, with kafka-go's default GroupBalancers
// (range, then round-robin), which speak the classic protocol at old
// versions: JoinGroup v1 or v2 (negotiated; Strata, like Kafka 4.0, serves
// v2+), SyncGroup v0, Heartbeat v0, LeaveGroup v0, OffsetCommit v2,
// OffsetFetch v1.
//
// Without commits (groups/consume, admin/describe-groups) a member is a
// Reader with GroupID that commits each message with CommitMessages after
// FetchMessage returned it and the member reported it. kafka-go's
// ReadMessage does the same but commits first, with the caller's context:
// when that context ends during CommitMessages, the commit may still have
// been queued and go out while ReadMessage returns the context's error
// instead of the message, so a member that stops skips that message for
// the group (seen here once in a few runs: a record never processed after
// a clean leave). Kafka would see the same.
//
// With commits (groups/commit) a member uses kafka-go's ConsumerGroup, on
// which the Reader is built, directly: per generation, one partition Reader
// per assigned partition from the committed offset, and
// Generation.CommitOffsets after each message is reported. The Reader with
// GroupID cannot commit after processing without redelivery: FetchMessage
// keeps returning messages buffered in the generation that ended, and their
// CommitMessages go out with the next generation (which the coordinator
// accepts, as Kafka does: classic commits are checked by generation and
// member, not by partition owner), after the partition's new owner already
// read from the older committed offset; so a record is processed twice
// with both processings committed. A generation's goroutines, unlike the
// Reader's buffer, end before the member rejoins, so their commits land in
// the generation that assigned the partition.
//
// Client.DescribeGroups and ListGroups show no protocol and no states.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/strata-db/strata/internal/broker/brokertest"
)

func init() { goMembers["kafka-go"] = kafkagoMember }

func kafkagoGroups() groupClient {
	return groupClient{
		name: "kafka-go",
		start: func(t *testing.T, addr string, spec memberSpec, log *groupLog) groupMember {
			return startGoMember(t, "kafka-go", addr, spec, log)
		},
		describe: kafkagoDescribeGroup,
		list: func(t *testing.T, addr string) map[string]string {
			t.Helper()
			resp, err := kafkagoClient(t, addr).ListGroups(brokertest.Context(t, 10*time.Second), &kafka.ListGroupsRequest{})
			if err == nil {
				err = resp.Error
			}
			if err != nil {
				t.Fatalf("kafka-go ListGroups: %v", err)
			}
			out := map[string]string{}
			for _, g := range resp.Groups {
				out[g.GroupID] = ""
			}
			return out
		},
	}
}

func kafkagoDescribeGroup(t *testing.T, addr, group, topic string) describedGroup {
	t.Helper()
	resp, err := kafkagoClient(t, addr).DescribeGroups(brokertest.Context(t, 10*time.Second),
		&kafka.DescribeGroupsRequest{GroupIDs: []string{group}})
	if err == nil && len(resp.Groups) != 1 {
		err = fmt.Errorf("%d groups described", len(resp.Groups))
	}
	if err == nil {
		err = resp.Groups[0].Error
	}
	if err != nil {
		t.Fatalf("kafka-go DescribeGroups %s: %v", group, err)
	}
	g := resp.Groups[0]
	out := describedGroup{State: g.GroupState}
	for _, m := range g.Members {
		dm := describedMember{MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost, Assigned: []int32{}}
		for _, tp := range m.MemberAssignments.Topics {
			if tp.Topic == topic {
				for _, p := range tp.Partitions {
					dm.Assigned = append(dm.Assigned, int32(p))
				}
			}
		}
		out.Members = append(out.Members, dm)
	}
	return out
}

// kafkagoMember is kafka-go's goMemberFunc. kafka-go retries errors
// internally and only logs them; the member logs them to the test log.
func kafkagoMember(ctx context.Context, addr string, spec memberSpec, out *memberOut) error {
	if spec.Commit {
		return kafkagoGenerations(ctx, addr, spec, out)
	}
	session := time.Duration(spec.SessionTimeoutMs) * time.Millisecond
	cfg := kafka.ReaderConfig{
		Brokers:           seeds(addr),
		GroupID:           spec.Group,
		Topic:             spec.Topic,
		Dialer:            &kafka.Dialer{ClientID: spec.ClientID, Timeout: 10 * time.Second},
		SessionTimeout:    session,
		HeartbeatInterval: session / 6,
		RebalanceTimeout:  time.Duration(spec.RebalanceTimeoutMs) * time.Millisecond,
		StartOffset:       kafka.FirstOffset,
		MinBytes:          1,
		MaxBytes:          4 << 20,
		MaxWait:           kafkagoMaxWait,
	}
	cfg.Logger, cfg.ErrorLogger = kafkagoMemberLoggers(out)
	if err := kafkagoSecureDialer(cfg.Dialer, addr); err != nil {
		return err
	}
	r := kafka.NewReader(cfg)
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				break
			}
			r.Close()
			return fmt.Errorf("kafka-go read: %w", err)
		}
		out.Record(int32(m.Partition), m.Offset, m.Key)
		cctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		if err := r.CommitMessages(cctx, m); err != nil {
			out.Log("commit %d@%d: %v", m.Partition, m.Offset, err)
		}
		cancel()
	}
	// Close leaves the group.
	if err := r.Close(); err != nil {
		return fmt.Errorf("kafka-go close: %w", err)
	}
	return nil
}

func kafkagoMemberLoggers(out *memberOut) (info, errs kafka.Logger) {
	errs = kafka.LoggerFunc(func(f string, args ...any) { out.Log("kafka-go: "+f, args...) })
	if debugLogs() {
		info = log.New(os.Stderr, "[kafka-go] ", log.Lmicroseconds)
	}
	return info, errs
}

// kafkagoGenerations is a member on kafka-go's ConsumerGroup that commits
// after processing.
func kafkagoGenerations(ctx context.Context, addr string, spec memberSpec, out *memberOut) error {
	session := time.Duration(spec.SessionTimeoutMs) * time.Millisecond
	dialer := &kafka.Dialer{ClientID: spec.ClientID, Timeout: 10 * time.Second}
	if err := kafkagoSecureDialer(dialer, addr); err != nil {
		return err
	}
	cfg := kafka.ConsumerGroupConfig{
		ID:                spec.Group,
		Brokers:           seeds(addr),
		Dialer:            dialer,
		Topics:            []string{spec.Topic},
		SessionTimeout:    session,
		HeartbeatInterval: session / 6,
		RebalanceTimeout:  time.Duration(spec.RebalanceTimeoutMs) * time.Millisecond,
		StartOffset:       kafka.FirstOffset,
	}
	cfg.Logger, cfg.ErrorLogger = kafkagoMemberLoggers(out)
	cg, err := kafka.NewConsumerGroup(cfg)
	if err != nil {
		return fmt.Errorf("kafka-go consumer group: %w", err)
	}
	for {
		// Next returns a generation once the previous one's goroutines
		// have returned and the member has rejoined.
		gen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			cg.Close()
			return fmt.Errorf("kafka-go next generation: %w", err)
		}
		var ps []int32
		for _, a := range gen.Assignments[spec.Topic] {
			ps = append(ps, int32(a.ID))
			gen.Start(func(gctx context.Context) { kafkagoPartition(gctx, addr, dialer, spec, gen, a, out) })
		}
		out.Assigned(ps)
	}
	// Close ends the generation, waits for its goroutines and leaves.
	if err := cg.Close(); err != nil {
		return fmt.Errorf("kafka-go close consumer group: %w", err)
	}
	return nil
}

// kafkagoPartition reads one assigned partition until its generation ends,
// committing each message after reporting it.
func kafkagoPartition(ctx context.Context, addr string, dialer *kafka.Dialer, spec memberSpec,
	gen *kafka.Generation, a kafka.PartitionAssignment, out *memberOut) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: seeds(addr), Topic: spec.Topic, Partition: a.ID, Dialer: dialer,
		MinBytes: 1, MaxBytes: 4 << 20, MaxWait: kafkagoMaxWait,
	})
	defer r.Close()
	if err := r.SetOffset(a.Offset); err != nil {
		out.Error(fmt.Errorf("partition %d: set offset %d: %w", a.ID, a.Offset, err))
		return
	}
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			if ctx.Err() == nil {
				out.Error(fmt.Errorf("read partition %d: %w", a.ID, err))
			}
			return
		}
		out.Record(int32(m.Partition), m.Offset, m.Key)
		if err := gen.CommitOffsets(map[string]map[int]int64{spec.Topic: {m.Partition: m.Offset + 1}}); err != nil {
			out.Log("commit %d@%d: %v", m.Partition, m.Offset, err)
			continue
		}
		out.Commit(int32(m.Partition), m.Offset+1)
	}
}

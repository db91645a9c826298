package compat

// kgo in the group scenarios: a group consumer with kgo's default balancer
// (cooperative-sticky, classic protocol; KIP-848 is covered in
// test/integration). With commits, it polls with BlockRebalanceOnPoll,
// reports the records, commits them synchronously and only then allows a
// rebalance, so nothing it processed is uncommitted when it loses a
// partition. Without, it autocommits (kgo's default). kadm is its describe
// and list API.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { goMembers["kgo"] = kgoMember }

func kgoGroups() groupClient {
	return groupClient{
		name: "kgo",
		start: func(t *testing.T, addr string, spec memberSpec, log *groupLog) groupMember {
			return startGoMember(t, "kgo", addr, spec, log)
		},
		describe: kadmDescribeGroup,
		list:     kadmListGroups,
	}
}

// kadmDescribeGroup is kadm's DescribeGroups as a describedGroup.
func kadmDescribeGroup(t *testing.T, addr, group, topic string) describedGroup {
	d := kadmDescribe(t, addr, group)
	out := describedGroup{State: d.State, ProtocolType: d.ProtocolType, Protocol: d.Protocol}
	for _, m := range d.Members {
		out.Members = append(out.Members, describedMember{
			MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost, Assigned: assignedOf(m, topic),
		})
	}
	return out
}

func kadmListGroups(t *testing.T, addr string) map[string]string {
	t.Helper()
	listed, err := kadmClient(t, addr).ListGroups(brokertest.Context(t, 10*time.Second))
	if err != nil {
		t.Fatalf("kadm list groups: %v", err)
	}
	out := map[string]string{}
	for g, l := range listed {
		out[g] = l.State
	}
	return out
}

// kgoMember is kgo's goMemberFunc.
func kgoMember(ctx context.Context, addr string, spec memberSpec, out *memberOut) error {
	opts := []kgo.Opt{
		kgo.SeedBrokers(seeds(addr)...), kgo.ClientID(spec.ClientID),
		kgo.ConsumerGroup(spec.Group), kgo.ConsumeTopics(spec.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(time.Duration(spec.SessionTimeoutMs) * time.Millisecond),
		kgo.RebalanceTimeout(time.Duration(spec.RebalanceTimeoutMs) * time.Millisecond),
		kgo.FetchMaxWait(500 * time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			out.Assigned(m[spec.Topic])
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, m map[string][]int32) {
			out.Revoked(m[spec.Topic])
			if !spec.Commit {
				// kgo's default revoke handler: commit what was polled.
				if err := cl.CommitUncommittedOffsets(ctx); err != nil {
					out.Log("commit on revoke: %v", err)
				}
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			out.Log("lost %v", m[spec.Topic])
		}),
	}
	sec, err := kgoSecurity(addr)
	if err != nil {
		return err
	}
	opts = append(opts, sec...)
	if spec.Commit {
		opts = append(opts, kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll())
	}
	if debugLogs() {
		opts = append(opts, kgo.WithLogger(kgo.BasicLogger(stderr{}, kgo.LogLevelDebug, nil)))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kgo client: %w", err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		var fetchErr error
		fs.EachError(func(_ string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, kgo.ErrClientClosed) && fetchErr == nil {
				fetchErr = fmt.Errorf("fetch partition %d: %w", p, err)
			}
		})
		if fetchErr != nil {
			return fetchErr
		}
		recs := fs.Records()
		for _, r := range recs {
			out.Record(r.Partition, r.Offset, r.Key)
		}
		if spec.Commit && len(recs) > 0 {
			kgoCommit(cl, spec.Topic, recs, out)
		}
		cl.AllowRebalance()
		if ctx.Err() != nil {
			// Close leaves the group; with autocommit it commits what
			// was polled first.
			return nil
		}
	}
}

// kgoCommit commits past recs synchronously and reports each partition
// whose commit succeeded.
func kgoCommit(cl *kgo.Client, topic string, recs []*kgo.Record, out *memberOut) {
	offsets := map[int32]kgo.EpochOffset{}
	for _, r := range recs {
		offsets[r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{topic: offsets},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			if err != nil {
				out.Log("commit: %v", err)
				return
			}
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
						out.Log("commit of partition %d: %v", rp.Partition, err)
						continue
					}
					out.Commit(rp.Partition, offsets[rp.Partition].Offset)
				}
			}
		})
}

// stderr is a member's debug log: its stderr, which startProcMember shows
// with STRATA_TEST_LOG=debug.
type stderr struct{}

func (stderr) Write(b []byte) (int, error) { return os.Stderr.Write(b) }

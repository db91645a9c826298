package brokertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Client returns a franz-go client seeded with addr (one address or a
// comma-separated list), closed when the test ends. STRATA_TEST_LOG=debug turns on
// its debug log, with timestamps.
func Client(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base := []kgo.Opt{kgo.SeedBrokers(strings.Split(addr, ",")...)}
	if os.Getenv("STRATA_TEST_LOG") == "debug" {
		stamp := func() string { return time.Now().UTC().Format("15:04:05.000000 ") }
		base = append(base, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelDebug, stamp)))
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns an admin client for addr, closed when the test ends.
func Admin(t testing.TB, addr string) *kadm.Client { return kadm.NewClient(Client(t, addr)) }

// Context returns a context that ends after d or with the test.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// CreateTopic creates a topic with the broker's default replication
// factor (1 on a single node, 3 on a test cluster) or fails the test. On
// a test cluster it returns once every node knows the topic
// (SyncMetadata).
func CreateTopic(t testing.TB, adm *kadm.Client, name string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := adm.CreateTopic(Context(t, 10*time.Second), partitions, -1, configs, name)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", name, err, resp.Err)
	}
	SyncMetadata(t)
}

// CreateTopicLedByNode1 is CreateTopic with node 1, the node Start
// returns, the leader of every partition: its replicas are nodes 1 to
// ClusterSize in order. For tests that send requests for the topic's
// partitions to that node alone (hand-built requests, or per-broker
// quotas measured there).
func CreateTopicLedByNode1(t testing.TB, cl *kgo.Client, name string, partitions int32, configs map[string]*string) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10_000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, -1, -1
	for p := range partitions {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition = p
		for id := range ClusterSize() {
			a.Replicas = append(a.Replicas, int32(id+1))
		}
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	}
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, v
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(Context(t, 15*time.Second), cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("create topic %s led by node 1: %v", name, err)
	}
	SyncMetadata(t)
}

// Rand returns a random source whose seed is logged so that a failure can
// be replayed; STRATA_TEST_SEED sets the seed.
func Rand(t testing.TB) *rand.Rand {
	t.Helper()
	s := rand.Uint64()
	if env := os.Getenv("STRATA_TEST_SEED"); env != "" {
		if _, err := fmt.Sscan(env, &s); err != nil {
			t.Fatalf("STRATA_TEST_SEED: %v", err)
		}
	}
	t.Logf("seed %d (replay with STRATA_TEST_SEED=%d)", s, s)
	return rand.New(rand.NewPCG(s, s))
}

package compat

// Cluster mode. By default every client test starts its own in-process
// single node (serverAddr). With STRATA_COMPAT_CLUSTER=3, TestMain builds
// bin/strata and starts one three-node cluster (zones a, b, c) for the
// whole run, through test/clustertest; every test then uses its bootstrap
// list, test topics get replication factor 3 and min.insync.replicas 2,
// and the failover/leader-kill cells run (failover_test.go). Topic and
// group names carry the client's name and the scenario, so tests share
// the cluster without meeting. The run's matrix goes to MATRIX-CLUSTER.md;
// the README's matrix is the single-node one and is left alone.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/strata-db/strata/test/clustertest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	clusterEnv        = "STRATA_COMPAT_CLUSTER"
	clusterMatrixFile = "MATRIX-CLUSTER.md"
	// clusterRF is the replication factor of test topics on the cluster,
	// clusterMinISR their min.insync.replicas.
	clusterRF     = 3
	clusterMinISR = "2"
)

// compatCluster is the cluster of cluster mode, nil in single-node mode.
var compatCluster *clustertest.Cluster

// clusterSize is the node count asked for by STRATA_COMPAT_CLUSTER, 0 for
// single-node mode. A group member child process (groups_member_test.go)
// is told its address and never starts a cluster of its own.
func clusterSize() (int, error) {
	env := os.Getenv(clusterEnv)
	if env == "" || os.Getenv(goMemberEnv) != "" {
		return 0, nil
	}
	if env != "3" {
		return 0, fmt.Errorf("%s=%q: only 3 is supported", clusterEnv, env)
	}
	return 3, nil
}

// runCluster runs the tests against a cluster of n nodes started here.
func runCluster(m *testing.M, n int) int {
	bin, dir, err := clustertest.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, "compat:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	return clustertest.Main("compat-cluster", func(tb testing.TB) int {
		compatCluster = clustertest.StartCluster(tb, bin, n, clusterConfig(tb), "info")
		return m.Run()
	})
}

// clusterConfig writes the nodes' YAML: auto-created topics replicated
// three times, a broker session short enough that a killed leader is
// replaced within seconds on a loaded machine, and the short first
// rebalance delay brokertest.Start gives single nodes.
func clusterConfig(tb testing.TB) string {
	p := filepath.Join(tb.TempDir(), "strata.yaml")
	body := fmt.Sprintf(`broker-config:
  default.replication.factor: %d
  broker.session.timeout.ms: 6000
  broker.heartbeat.interval.ms: 500
  replica.lag.time.max.ms: 5000
  group.initial.rebalance.delay.ms: 200
  offsets.topic.num.partitions: 6
  transaction.state.log.num.partitions: 6
`, clusterRF)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// serverAddr is the bootstrap address of the Strata a client test runs
// against: a new in-process node, or in cluster mode the cluster's list
// of every node (comma-separated).
func serverAddr(t *testing.T) string {
	t.Helper()
	if compatCluster != nil {
		return compatCluster.Seeds()
	}
	return brokertest.Start(t).KafkaAddr()
}

// seeds splits a bootstrap list for clients that take a slice.
func seeds(addr string) []string { return strings.Split(hostPort(addr), ",") }

// replicationFactor is that of the suite's topics.
func replicationFactor() int16 {
	if compatCluster != nil {
		return clusterRF
	}
	return 1
}

// topicConfigs are the configs the suite's topics are created with, merged
// into extra (which wins): min.insync.replicas 2 on the cluster, where the
// producers write with acks=all.
func topicConfigs(extra map[string]*string) map[string]*string {
	if compatCluster == nil {
		return extra
	}
	out := map[string]*string{"min.insync.replicas": new(string)}
	*out["min.insync.replicas"] = clusterMinISR
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// waitTopicEverywhere waits, in cluster mode, until every node's Metadata
// shows topic with a leader for each partition: CreateTopics answers once
// the controller has the topic, and a node may learn of it a moment
// later, when a client asking that node would be told it does not exist.
func waitTopicEverywhere(t *testing.T, addr, topic string) {
	t.Helper()
	if compatCluster == nil {
		return
	}
	cl := brokertest.Client(t, addr)
	ctx := brokertest.Context(t, 30*time.Second)
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	for _, nd := range compatCluster.Nodes {
		for {
			why := topicMissing(ctx, cl.Broker(int(nd.ID)), req)
			if why == "" {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("node %d does not show topic %s: %s", nd.ID, topic, why)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// topicMissing asks one broker for the topic of req and says what is
// missing, or returns "".
func topicMissing(ctx context.Context, b *kgo.Broker, req *kmsg.MetadataRequest) string {
	resp, err := req.RequestWith(ctx, b)
	if err != nil {
		return err.Error()
	}
	if len(resp.Topics) != 1 {
		return fmt.Sprintf("%d topics in the response", len(resp.Topics))
	}
	tp := resp.Topics[0]
	if err := kerr.ErrorForCode(tp.ErrorCode); err != nil {
		return err.Error()
	}
	if len(tp.Partitions) == 0 {
		return "no partitions"
	}
	for _, p := range tp.Partitions {
		if p.Leader < 0 || kerr.ErrorForCode(p.ErrorCode) != nil {
			return fmt.Sprintf("partition %d: leader %d, error %v", p.Partition, p.Leader, kerr.ErrorForCode(p.ErrorCode))
		}
	}
	return ""
}

// waitConfigEverywhere waits, in cluster mode, until every node describes
// topic's config key with value. A config change, like a new topic,
// reaches the other nodes a moment after the answer to the request that
// made it (as in Kafka, where brokers apply the metadata log
// asynchronously).
func waitConfigEverywhere(t *testing.T, addr, topic, key, value string) {
	t.Helper()
	if compatCluster == nil {
		return
	}
	cl := brokertest.Client(t, addr)
	ctx := brokertest.Context(t, 30*time.Second)
	req := kmsg.NewPtrDescribeConfigsRequest()
	res := kmsg.NewDescribeConfigsRequestResource()
	res.ResourceType, res.ResourceName, res.ConfigNames = kmsg.ConfigResourceTypeTopic, topic, []string{key}
	req.Resources = append(req.Resources, res)
	for _, nd := range compatCluster.Nodes {
		var last string
		for {
			resp, err := req.RequestWith(ctx, cl.Broker(int(nd.ID)))
			switch {
			case err != nil:
				last = err.Error()
			case len(resp.Resources) != 1 || len(resp.Resources[0].Configs) != 1:
				last = fmt.Sprintf("%d resources in the response", len(resp.Resources))
			default:
				c := resp.Resources[0].Configs[0]
				if c.Value != nil && *c.Value == value {
					last = ""
				} else {
					last = key + " is null"
					if c.Value != nil {
						last = key + "=" + *c.Value
					}
				}
			}
			if last == "" {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("node %d does not show %s=%s for topic %s: %s", nd.ID, key, value, topic, last)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// checkReplicationFactor fails the test, in cluster mode, unless every
// partition of topic has replicationFactor() replicas.
func checkReplicationFactor(t *testing.T, addr, topic string) {
	t.Helper()
	if compatCluster == nil {
		return
	}
	md, err := brokertest.Admin(t, addr).Metadata(brokertest.Context(t, 10*time.Second), topic)
	if err != nil {
		t.Fatalf("metadata of %s: %v", topic, err)
	}
	for _, p := range md.Topics[topic].Partitions.Sorted() {
		if len(p.Replicas) != int(replicationFactor()) {
			t.Fatalf("%s-%d has replicas %v, want %d", topic, p.Partition, p.Replicas, replicationFactor())
		}
	}
}

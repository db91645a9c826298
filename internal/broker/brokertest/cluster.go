package brokertest

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/strata-db/strata/internal/broker"
	"github.com/strata-db/strata/internal/meta"
)

// clusterSize is STRATA_TEST_CLUSTER: when 3 (or more), Start runs that
// many nodes in this process as one cluster, each broker and controller,
// in zones a, b, c..., with default.replication.factor 3 and
// min.insync.replicas 2, and returns the first node. Tests written for a
// single node then run against a replicated cluster unchanged (as far as
// they only talk Kafka and the admin API to the node they get).
func clusterSize() int {
	n, _ := strconv.Atoi(os.Getenv("STRATA_TEST_CLUSTER"))
	return n
}

// startCluster starts n nodes configured by cfg (ports and directories are
// per node) and returns the first; all close when the test ends.
func startCluster(t testing.TB, cfg broker.Config, n int) *broker.Broker {
	t.Helper()
	return newCluster(t, cfg, n).Node(1)
}

// Cluster is in-process nodes (ids 1..n), each broker and controller,
// that a test can stop and start again on the same data directories and
// inter-node addresses, as restarted processes.
type Cluster struct {
	t     testing.TB
	mu    sync.Mutex
	cfgs  []broker.Config
	nodes []*broker.Broker
}

// StartCluster starts n nodes configured as Start configures one (mutate
// applies to every node's config), in zones a, b, c..., with
// default.replication.factor 3 and min.insync.replicas 2; they close when
// the test ends.
func StartCluster(t testing.TB, n int, mutate ...func(*broker.Config)) *Cluster {
	t.Helper()
	return newCluster(t, baseConfig(t, mutate), n)
}

func newCluster(t testing.TB, cfg broker.Config, n int) *Cluster {
	t.Helper()
	var voters []meta.Voter
	ctrl := make([]string, n)
	for i := range n {
		ctrl[i] = freeAddr(t)
		voters = append(voters, meta.Voter{ID: int32(i + 1), Addr: ctrl[i]})
	}
	c := &Cluster{t: t, cfgs: make([]broker.Config, n), nodes: make([]*broker.Broker, n)}
	for i := range n {
		nc := cfg
		nc.NodeID, nc.DataDir = int32(i+1), t.TempDir()
		nc.Controllers, nc.ControllerListen, nc.InternalListen = voters, ctrl[i], freeAddr(t)
		nc.Roles = broker.Roles{Broker: true, Controller: true}
		nc.Zone = string(rune('a' + i%26))
		nc.Static = map[string]string{"default.replication.factor": "3", "min.insync.replicas": "2",
			"offsets.topic.replication.factor": "3", "transaction.state.log.replication.factor": "3"}
		for k, v := range cfg.Static {
			nc.Static[k] = v
		}
		c.cfgs[i] = nc
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := broker.Start(c.cfgs[i])
			c.mu.Lock()
			c.nodes[i], errs[i] = b, err
			c.mu.Unlock()
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for i := range c.nodes {
			c.close(int32(i + 1))
		}
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start node %d of %d: %v", i+1, n, err)
		}
	}
	return c
}

// Node returns the running node id (from 1), nil while it is stopped.
func (c *Cluster) Node(id int32) *broker.Broker {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[id-1]
}

// Nodes returns the ids 1..n.
func (c *Cluster) Nodes() []int32 {
	ids := make([]int32, len(c.cfgs))
	for i := range ids {
		ids[i] = int32(i + 1)
	}
	return ids
}

// Restart closes node id (a controlled shutdown) and starts a new process
// of it on the same data directory and controller and internal addresses;
// it registers again, at a new broker epoch. Its Kafka and HTTP ports
// change.
func (c *Cluster) Restart(id int32) {
	c.t.Helper()
	c.close(id)
	b, err := broker.Start(c.cfgs[id-1])
	if err != nil {
		c.t.Fatalf("restart node %d: %v", id, err)
	}
	c.mu.Lock()
	c.nodes[id-1] = b
	c.mu.Unlock()
}

func (c *Cluster) close(id int32) {
	c.mu.Lock()
	b := c.nodes[id-1]
	c.nodes[id-1] = nil
	c.mu.Unlock()
	if b == nil {
		return
	}
	if err := b.Close(); err != nil {
		c.t.Errorf("close node %d: %v", id, err)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(fmt.Errorf("free port: %w", err))
	}
	defer ln.Close()
	return ln.Addr().String()
}

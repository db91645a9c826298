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
	return startNodes(t, cfg, n, nil).Nodes[0]
}

// Cluster is nodes of one cluster running in this process (StartCluster).
type Cluster struct {
	// Nodes holds node i+1 at i; nil once closed with Close.
	Nodes []*broker.Broker
	// Configs are the nodes' configs as started.
	Configs []broker.Config
	// Voters is the metadata quorum, every node of Nodes.
	Voters []meta.Voter
	t      testing.TB
	mu     sync.Mutex
}

// StartCluster starts n nodes (ids 1..n), each broker and controller, with
// their own directories, Kafka, inter-broker, controller and HTTP ports on
// loopback, in zones a, b, c..., with default.replication.factor 3 and
// min.insync.replicas 2, as Start does under STRATA_TEST_CLUSTER. Each
// mutate runs once per node, after those settings are made, and may look
// at cfg.NodeID. Every node closes when the test ends.
func StartCluster(t testing.TB, n int, mutate ...func(*broker.Config)) *Cluster {
	t.Helper()
	return startNodes(t, baseConfig(t, nil), n, mutate)
}

func startNodes(t testing.TB, cfg broker.Config, n int, mutate []func(*broker.Config)) *Cluster {
	t.Helper()
	cl := &Cluster{t: t, Nodes: make([]*broker.Broker, n), Configs: make([]broker.Config, n)}
	ctrl := make([]string, n)
	for i := range n {
		ctrl[i] = freeAddr(t)
		cl.Voters = append(cl.Voters, meta.Voter{ID: int32(i + 1), Addr: ctrl[i]})
	}
	for i := range n {
		c := cfg
		c.NodeID, c.DataDir = int32(i+1), t.TempDir()
		c.Controllers, c.ControllerListen, c.InternalListen = cl.Voters, ctrl[i], freeAddr(t)
		c.Roles = broker.Roles{Broker: true, Controller: true}
		c.Zone = string(rune('a' + i%26))
		c.Static = map[string]string{"default.replication.factor": "3", "min.insync.replicas": "2",
			"offsets.topic.replication.factor": "3", "transaction.state.log.replication.factor": "3"}
		for k, v := range cfg.Static {
			c.Static[k] = v
		}
		for _, m := range mutate {
			m(&c)
		}
		cl.Configs[i] = c
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl.Nodes[i], errs[i] = broker.Start(cl.Configs[i])
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for i := range cl.Nodes {
			if err := cl.Close(int32(i + 1)); err != nil {
				t.Errorf("close node %d: %v", i+1, err)
			}
		}
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start node %d of %d: %v", i+1, n, err)
		}
	}
	return cl
}

// Node is the running node id, nil if closed.
func (cl *Cluster) Node(id int32) *broker.Broker {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.Nodes[id-1]
}

// Close closes node id cleanly (a controlled shutdown); closing a closed
// node does nothing.
func (cl *Cluster) Close(id int32) error {
	cl.mu.Lock()
	b := cl.Nodes[id-1]
	cl.Nodes[id-1] = nil
	cl.mu.Unlock()
	if b == nil {
		return nil
	}
	return b.Close()
}

// Restart closes node id (a controlled shutdown) and starts a new process
// of it on the same data directory and controller and inter-broker
// addresses; it registers again, at a new broker epoch. Its Kafka and HTTP
// ports change.
func (cl *Cluster) Restart(id int32) {
	cl.t.Helper()
	if err := cl.Close(id); err != nil {
		cl.t.Fatalf("close node %d: %v", id, err)
	}
	b, err := broker.Start(cl.Configs[id-1])
	if err != nil {
		cl.t.Fatalf("restart node %d: %v", id, err)
	}
	cl.mu.Lock()
	cl.Nodes[id-1] = b
	cl.mu.Unlock()
}

// JoinConfig is the config of a broker-only node id that would join the
// cluster: its own directory, loopback ports (an inter-broker listener
// included) and the cluster's voters, with the first node's other
// settings (its peer TLS certificate too). mutate runs last.
func (cl *Cluster) JoinConfig(id int32, mutate ...func(*broker.Config)) broker.Config {
	c := cl.Configs[0]
	c.NodeID, c.DataDir = id, cl.t.TempDir()
	c.Roles = broker.Roles{Broker: true}
	c.ControllerListen, c.InternalListen = "", freeAddr(cl.t)
	c.Zone = "a"
	for _, m := range mutate {
		m(&c)
	}
	return c
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

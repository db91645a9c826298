package brokertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

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

// ClusterSize is the number of nodes Start runs: 1, or STRATA_TEST_CLUSTER.
// Their ids are 1 to ClusterSize, and the node Start returns is node 1.
func ClusterSize() int { return max(1, clusterSize()) }

// running holds the nodes of every cluster Start or StartNode runs until
// it closes, node 1 first, for Nodes and SyncMetadata.
var running struct {
	mu       sync.Mutex
	clusters [][]*broker.Broker
}

// Nodes returns every node of the cluster whose node 1 is b (b first), or
// just b if it runs alone.
func Nodes(b *broker.Broker) []*broker.Broker {
	running.mu.Lock()
	defer running.mu.Unlock()
	for _, c := range running.clusters {
		if c[0] == b {
			return slices.Clone(c)
		}
	}
	return []*broker.Broker{b}
}

// setNode1 records that a cluster's node 1 is now b (after a restart).
func setNode1(was, b *broker.Broker) {
	running.mu.Lock()
	defer running.mu.Unlock()
	for _, c := range running.clusters {
		if c[0] == was {
			c[0] = b
		}
	}
}

// SyncMetadata waits until every node of every cluster Start or StartNode
// runs has applied the metadata log as far as the node furthest along, and brought
// its partitions in line. A metadata change (a topic, an ACL, a config, a
// key) is acknowledged once the node that handled it has applied it; the
// others apply it moments later, so a test that changes metadata through
// one node and goes on at another (as Kafka clients do, picking any
// broker) waits here first, as Kafka's own tests wait for metadata to
// propagate. A single node needs no wait.
func SyncMetadata(t testing.TB) {
	t.Helper()
	running.mu.Lock()
	var clusters [][]*broker.Broker
	for _, c := range running.clusters {
		clusters = append(clusters, slices.Clone(c))
	}
	running.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, nodes := range clusters {
		nodes = slices.DeleteFunc(nodes, func(b *broker.Broker) bool { return b == nil }) // node 1 restarting
		var index uint64
		for _, b := range nodes {
			index = max(index, b.MetadataIndex())
		}
		for _, b := range nodes {
			if err := b.WaitMetadata(ctx, index); err != nil {
				t.Fatalf("sync metadata: %v", err)
			}
		}
	}
}

// startCluster starts n nodes configured by cfg (clusterConfigs) and
// returns the first; all close when the test ends.
func startCluster(t testing.TB, cfg broker.Config, n int) *broker.Broker {
	t.Helper()
	return startNodes(t, clusterConfigs(t, cfg, n))[0]
}

// clusterConfigs derives the configs of n nodes from cfg: ports and
// directories are per node, but node 1 keeps cfg's data directory, which
// a mutate function of Start may have noted.
func clusterConfigs(t testing.TB, cfg broker.Config, n int) []broker.Config {
	t.Helper()
	var voters []meta.Voter
	ctrl := make([]string, n)
	for i := range n {
		ctrl[i] = FreeAddr(t)
		voters = append(voters, meta.Voter{ID: int32(i + 1), Addr: ctrl[i]})
	}
	cfgs := make([]broker.Config, n)
	for i := range n {
		c := cfg
		c.NodeID = int32(i + 1)
		if i > 0 {
			c.DataDir = t.TempDir()
		}
		// The inter-broker listener binds any free port and registers
		// it: a port picked here could be taken, by the other nodes'
		// outgoing connections, before the node binds it.
		c.Controllers, c.ControllerListen, c.InternalListen = voters, ctrl[i], "127.0.0.1:0"
		c.Roles = broker.Roles{Broker: true, Controller: true}
		c.Zone = string(rune('a' + i%26))
		c.Static = map[string]string{"default.replication.factor": "3", "min.insync.replicas": "2",
			"offsets.topic.replication.factor": "3", "transaction.state.log.replication.factor": "3"}
		for k, v := range cfg.Static {
			c.Static[k] = v
		}
		cfgs[i] = c
	}
	return cfgs
}

// startNodes starts a cluster's nodes together and registers them as
// running; when the test ends they close, node 1 as running then holds
// it (StartNode may have restarted it).
func startNodes(t testing.TB, cfgs []broker.Config) []*broker.Broker {
	t.Helper()
	nodes := make([]*broker.Broker, len(cfgs))
	errs := make([]error, len(cfgs))
	var wg sync.WaitGroup
	for i, c := range cfgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = broker.Start(c)
		}()
	}
	wg.Wait()
	// The nodes close together: one after the other, the last would find
	// no controller quorum for its controlled shutdown and wait out
	// ShutdownTimeout (5 s per test). Together, each asks while the
	// quorum still stands.
	t.Cleanup(func() {
		running.mu.Lock()
		// This cluster's entry is nodes itself (setNode1 writes node 1
		// into it): found by its backing array.
		running.clusters = slices.DeleteFunc(running.clusters, func(c []*broker.Broker) bool { return &c[0] == &nodes[0] })
		running.mu.Unlock()
		var wg sync.WaitGroup
		for i, b := range nodes {
			if b == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := b.Close(); err != nil {
					t.Errorf("close node %d: %v", i+1, err)
				}
			}()
		}
		wg.Wait()
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start node %d of %d: %v", i+1, len(cfgs), err)
		}
	}
	running.mu.Lock()
	running.clusters = append(running.clusters, nodes)
	running.mu.Unlock()
	return nodes
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
}

// StartCluster starts n nodes (ids 1..n), each broker and controller, with
// their own directories, Kafka, inter-broker, controller and HTTP ports on
// loopback, in zones a, b, c..., with default.replication.factor 3 and
// min.insync.replicas 2, as Start does under STRATA_TEST_CLUSTER. Each
// mutate runs once per node, after those settings are made, and may look
// at cfg.NodeID. Every node closes when the test ends.
func StartCluster(t testing.TB, n int, mutate ...func(*broker.Config)) *Cluster {
	t.Helper()
	cfgs := clusterConfigs(t, baseConfig(t, nil), n)
	for i := range cfgs {
		for _, m := range mutate {
			m(&cfgs[i])
		}
	}
	cl := &Cluster{t: t, Configs: cfgs, Voters: cfgs[0].Controllers}
	// The same slice startNodes closes when the test ends, so that it
	// closes what Close and Restart leave running.
	cl.Nodes = startNodes(t, cfgs)
	return cl
}

// Node is the running node id, nil if closed.
func (cl *Cluster) Node(id int32) *broker.Broker {
	running.mu.Lock() // Nodes is shared with the registry of running clusters
	defer running.mu.Unlock()
	return cl.Nodes[id-1]
}

// Close closes node id cleanly (a controlled shutdown); closing a closed
// node does nothing.
func (cl *Cluster) Close(id int32) error {
	running.mu.Lock()
	b := cl.Nodes[id-1]
	cl.Nodes[id-1] = nil
	running.mu.Unlock()
	if b == nil {
		return nil
	}
	return b.Close()
}

// Restart closes node id (a controlled shutdown) and starts a new process
// of it on the same data directory and controller address; it registers
// again, at a new broker epoch. Its Kafka, inter-broker and HTTP ports
// change.
func (cl *Cluster) Restart(id int32) {
	cl.t.Helper()
	if err := cl.Close(id); err != nil {
		cl.t.Fatalf("close node %d: %v", id, err)
	}
	b, err := broker.Start(cl.Configs[id-1])
	if err != nil {
		cl.t.Fatalf("restart node %d: %v", id, err)
	}
	running.mu.Lock()
	cl.Nodes[id-1] = b
	running.mu.Unlock()
}

// JoinConfig is the config of a broker-only node id that would join the
// cluster: its own directory, loopback ports (an inter-broker listener
// included) and the cluster's voters, with the first node's other
// settings (its peer TLS certificate too). mutate runs last.
func (cl *Cluster) JoinConfig(id int32, mutate ...func(*broker.Config)) broker.Config {
	c := cl.Configs[0]
	c.NodeID, c.DataDir = id, cl.t.TempDir()
	c.Roles = broker.Roles{Broker: true}
	c.ControllerListen, c.InternalListen = "", "127.0.0.1:0"
	c.Zone = "a"
	for _, m := range mutate {
		m(&c)
	}
	return c
}

// FreeAddr returns a loopback address whose port is free now, for a
// listener that must be named before it binds (a voter of the controller
// quorum, whose address every node is given). It prefers a port below the
// kernel's ephemeral range: no outgoing connection, of these nodes or of
// other processes, can take one of those before the node binds it.
func FreeAddr(t testing.TB) string {
	t.Helper()
	if lo := ephemeralPortsFrom(); lo > 10_000 {
		for range 50 {
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(10_000+rand.IntN(lo-10_000)))
			if ln, err := net.Listen("tcp", addr); err == nil {
				ln.Close()
				return addr
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(fmt.Errorf("free port: %w", err))
	}
	defer ln.Close()
	return ln.Addr().String()
}

// ephemeralPortsFrom is the first port of Linux's ephemeral range, or 0
// if unknown.
func ephemeralPortsFrom() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil {
		return 0
	}
	return lo
}

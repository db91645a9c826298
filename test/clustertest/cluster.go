package clustertest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Cluster is nodes 1..n, every one a voter of the metadata quorum and a
// broker, node i in zone a, b, c, a, ... Ports and data directories are
// fixed, so a node restarted after a kill comes back at the same
// addresses with its data.
type Cluster struct {
	Nodes []*Node
	// Voters is every node's --controllers: id@controller-address, by id.
	Voters string
	args   [][]string
}

// StartCluster starts n nodes of bin that read config (a YAML file; ""
// for none) and waits until every one answers /healthz (NewCluster, then
// Start).
func StartCluster(t testing.TB, bin string, n int, config, level string) *Cluster {
	t.Helper()
	c := NewCluster(t, bin, n, config, level)
	c.Start(t)
	return c
}

// NewCluster prepares n nodes of bin that read config (a YAML file; ""
// for none) without starting them, so that a test can give nodes more
// flags (AddArgs) first. Nodes log at level (STRATA_TEST_LOG=debug wins);
// the nodes are killed when t ends.
func NewCluster(t testing.TB, bin string, n int, config, level string) *Cluster {
	t.Helper()
	if os.Getenv("STRATA_TEST_LOG") == "debug" {
		level = "debug"
	}
	c := &Cluster{}
	var voters []string
	ctrls := make([]string, n)
	for i := range n {
		ctrls[i] = FreeAddr(t)
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, ctrls[i]))
	}
	c.Voters = strings.Join(voters, ",")
	for i := range n {
		id := int32(i + 1)
		nd := NewNode(t, bin, id, FreeAddr(t), t.TempDir())
		nd.Kafka, nd.Zone, nd.LogLevel = FreeAddr(t), string(rune('a'+i%3)), level
		args := []string{"server", "--node-id", strconv.Itoa(int(id)), "--data", nd.DataDir,
			"--listen", nd.Kafka, "--http", nd.HTTPAddr, "--controller-listen", ctrls[i],
			"--controllers", c.Voters, "--zone", nd.Zone}
		if config != "" {
			args = append(args, "--config", config)
		}
		c.Nodes, c.args = append(c.Nodes, nd), append(c.args, args)
	}
	return c
}

// AddArgs adds args to node id's command line, for its start and every
// restart. Call it before Start.
func (c *Cluster) AddArgs(id int32, args ...string) {
	c.args[id-1] = append(c.args[id-1], args...)
}

// Start starts every node and waits until each answers /healthz.
func (c *Cluster) Start(t testing.TB) {
	t.Helper()
	start := time.Now()
	for i, nd := range c.Nodes {
		nd.Spawn(c.args[i])
	}
	for _, nd := range c.Nodes {
		nd.WaitReady()
	}
	t.Logf("%d nodes ready in %v, Kafka listeners %s", len(c.Nodes), time.Since(start).Round(time.Millisecond), c.Seeds())
}

// Seeds is the bootstrap list: every node's Kafka address, comma-separated.
func (c *Cluster) Seeds() string {
	addrs := make([]string, len(c.Nodes))
	for i, nd := range c.Nodes {
		addrs[i] = nd.Kafka
	}
	return strings.Join(addrs, ",")
}

// Node returns the node of id.
func (c *Cluster) Node(id int32) *Node { return c.Nodes[id-1] }

// Kill SIGKILLs node id, failing t (not the test that started the
// cluster) if it does not go away.
func (c *Cluster) Kill(t testing.TB, id int32) {
	t.Helper()
	defer c.use(t, id)()
	c.Node(id).Kill()
}

// RestartTimeout bounds how long a restarted node of a Cluster may take
// to be ready. A node that has served a long test run recovers many
// partitions and registers again once its predecessor's session lapsed,
// which takes longer than a first start (ReadyTimeout).
const RestartTimeout = 2 * time.Minute

// Restart starts node id again with its flags and waits until it is ready,
// failing t if it is not; it returns how long that took.
func (c *Cluster) Restart(t testing.TB, id int32) time.Duration {
	t.Helper()
	defer c.use(t, id)()
	nd := c.Node(id)
	start := time.Now()
	nd.Spawn(c.args[id-1])
	if err := nd.AwaitReady(RestartTimeout); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// use makes node id report to t until the returned func is called: a
// cluster started for a whole test binary (Main) is killed and restarted
// by single tests.
func (c *Cluster) use(t testing.TB, id int32) func() {
	nd := c.Node(id)
	owner := nd.T
	nd.T = t
	return func() { nd.T = owner }
}

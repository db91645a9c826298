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
	Kafka []string // Kafka listener of node i+1
	args  [][]string
}

// StartCluster starts n nodes of bin that read config (a YAML file; ""
// for none) and waits until every one answers /healthz. Nodes log at
// level (STRATA_TEST_LOG=debug wins); the nodes are killed when t ends.
func StartCluster(t testing.TB, bin string, n int, config, level string) *Cluster {
	t.Helper()
	if os.Getenv("STRATA_TEST_LOG") == "debug" {
		level = "debug"
	}
	c := &Cluster{}
	var voters []string
	ctrls := make([]string, n)
	for i := range n {
		c.Kafka = append(c.Kafka, FreeAddr(t))
		ctrls[i] = FreeAddr(t)
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, ctrls[i]))
	}
	for i := range n {
		id := int32(i + 1)
		nd := NewNode(t, bin, id, FreeAddr(t), t.TempDir())
		nd.LogLevel = level
		args := []string{"server", "--node-id", strconv.Itoa(int(id)), "--data", nd.DataDir,
			"--listen", c.Kafka[i], "--http", nd.HTTPAddr, "--controller-listen", ctrls[i],
			"--controllers", strings.Join(voters, ","), "--zone", string(rune('a' + i%3))}
		if config != "" {
			args = append(args, "--config", config)
		}
		c.Nodes, c.args = append(c.Nodes, nd), append(c.args, args)
	}
	start := time.Now()
	for i, nd := range c.Nodes {
		nd.Spawn(c.args[i])
	}
	for _, nd := range c.Nodes {
		nd.WaitReady()
	}
	t.Logf("%d nodes ready in %v, Kafka listeners %s", n, time.Since(start).Round(time.Millisecond), c.Seeds())
	return c
}

// Seeds is the bootstrap list: every node's Kafka address, comma-separated.
func (c *Cluster) Seeds() string { return strings.Join(c.Kafka, ",") }

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

package cluster

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-db/strata/test/clustertest"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestBadFlagsRefused: each bad start-up gets a clear one-line error and a
// non-zero exit, before anything listens.
func TestBadFlagsRefused(t *testing.T) {
	tests := []struct {
		name string
		args func(ctrl string) []string
		want string
	}{
		{"malformed controllers", func(ctrl string) []string {
			return []string{"--controller-listen", ctrl, "--controllers", "1@127.0.0.1"}
		}, "controllers: \"1@127.0.0.1\""},
		{"controllers without id", func(ctrl string) []string {
			return []string{"--controller-listen", ctrl, "--controllers", ctrl}
		}, "is not ID@HOST:PORT"},
		{"duplicate ids", func(ctrl string) []string {
			return []string{"--controller-listen", ctrl, "--controllers", "1@" + ctrl + ",1@127.0.0.1:1"}
		}, "node id 1 is listed twice"},
		{"controller not a voter", func(ctrl string) []string {
			return []string{"--node-id", "4", "--controller-listen", ctrl, "--controllers", "1@" + ctrl}
		}, "node 4 has the controller role but is not in --controllers"},
		{"voter without controller listener", func(ctrl string) []string {
			return []string{"--controllers", "1@" + ctrl}
		}, "node 1 is a controller and needs --controller-listen"},
		{"voter listening elsewhere", func(ctrl string) []string {
			return []string{"--controller-listen", "127.0.0.1:1", "--controllers", "1@" + ctrl}
		}, "is not on the port of node 1's entry"},
		{"broker role alone without quorum", func(ctrl string) []string {
			return []string{"--roles", "broker"}
		}, "--roles broker needs --controllers"},
		{"unknown role", func(ctrl string) []string {
			return []string{"--roles", "broker,observer"}
		}, "\"observer\" is neither broker nor controller"},
		{"authentication without an internal listener", func(ctrl string) []string {
			return []string{"--controller-listen", ctrl, "--controllers", "1@" + ctrl, "--auth", "sasl"}
		}, "need --internal-listen HOST:PORT"},
		{"voter without role", func(ctrl string) []string {
			return []string{"--roles", "broker", "--controllers", "1@" + ctrl}
		}, "node 1 is in --controllers but does not have the controller role"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, ctrl := newNode(t, 1, "a"), clustertest.FreeAddr(t)
			n.Spawn(append([]string{"server", "--data", n.DataDir, "--listen", n.Kafka, "--http", n.HTTPAddr}, tc.args(ctrl)...))
			out, err := n.WaitExit(10 * time.Second)
			checkRefused(t, out, err, tc.want)
		})
	}
}

// checkRefused fails unless the process exited non-zero with one error
// line containing want.
func checkRefused(t *testing.T, out string, err error, want string) {
	t.Helper()
	if code := exitCode(err); code <= 0 {
		t.Fatalf("exit %v, want a non-zero exit; output:\n%s", err, out)
	}
	var errLines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(l, "strata: ") {
			errLines = append(errLines, l)
		}
	}
	if len(errLines) != 1 || !strings.Contains(errLines[0], want) {
		t.Fatalf("want one error line containing %q; output:\n%s", want, out)
	}
	t.Log(errLines[0])
}

// exitCode is the process's exit status, or -1 if it did not exit by
// itself with one.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// TestClusterRefusesBadNodes: a second live broker with a node id in use,
// and a node of another cluster, exit with a clear error; the cluster
// carries on.
func TestClusterRefusesBadNodes(t *testing.T) {
	c := startCluster(t)

	t.Log("a broker-only node joins as a follower of the metadata log")
	four := newNode(t, 4, "a")
	brokerArgs := func(n *clustertest.Node) []string {
		return []string{"server", "--node-id", fmt.Sprint(n.ID), "--roles", "broker", "--data", n.DataDir,
			"--listen", n.Kafka, "--http", n.HTTPAddr, "--controllers", c.Voters, "--zone", n.Zone, "--config", configFile(t)}
	}
	four.Spawn(brokerArgs(four))
	four.WaitReady()
	cl := client(t, four)
	createTopic(t, cl, four, "from-follower", 4)
	md := direct(t, cl, four, kmsg.NewPtrMetadataRequest()).(*kmsg.MetadataResponse)
	if len(md.Brokers) != 4 {
		t.Fatalf("node 4 lists %d brokers", len(md.Brokers))
	}

	t.Log("a second live broker with node id 4 is refused")
	dup := newNode(t, 4, "b")
	start := time.Now()
	dup.Spawn(brokerArgs(dup))
	out, err := dup.WaitExit(30 * time.Second)
	checkRefused(t, out, err, "DUPLICATE_BROKER_REGISTRATION")
	t.Logf("refused after %v", time.Since(start).Round(time.Millisecond))
	if four.Healthz() != 200 {
		t.Fatal("the live node 4 stopped serving")
	}

	t.Log("a node whose data directory is of another cluster is refused")
	other := newNode(t, 5, "c")
	other.Spawn([]string{"server", "--data", other.DataDir, "--listen", other.Kafka, "--http", other.HTTPAddr})
	other.WaitReady()
	other.Signal(syscall.SIGTERM)
	if _, err := other.WaitExit(clustertest.ExitTimeout); err != nil {
		t.Fatalf("single-node run: %v", err)
	}
	other.Spawn(brokerArgs(other))
	out, err = other.WaitExit(30 * time.Second)
	checkRefused(t, out, err, "belongs to another cluster")

	for _, n := range c.Nodes {
		if n.Healthz() != 200 {
			t.Fatalf("node %d stopped serving", n.ID)
		}
	}
}

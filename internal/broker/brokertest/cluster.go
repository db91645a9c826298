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
	var voters []meta.Voter
	ctrl := make([]string, n)
	for i := range n {
		ctrl[i] = freeAddr(t)
		voters = append(voters, meta.Voter{ID: int32(i + 1), Addr: ctrl[i]})
	}
	nodes := make([]*broker.Broker, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		c := cfg
		c.NodeID, c.DataDir = int32(i+1), t.TempDir()
		c.Controllers, c.ControllerListen, c.InternalListen = voters, ctrl[i], freeAddr(t)
		c.Roles = broker.Roles{Broker: true, Controller: true}
		c.Zone = string(rune('a' + i%26))
		c.Static = map[string]string{"default.replication.factor": "3", "min.insync.replicas": "2",
			"offsets.topic.replication.factor": "3", "transaction.state.log.replication.factor": "3"}
		for k, v := range cfg.Static {
			c.Static[k] = v
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			nodes[i], errs[i] = broker.Start(c)
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for i, b := range nodes {
			if b != nil {
				if err := b.Close(); err != nil {
					t.Errorf("close node %d: %v", i+1, err)
				}
			}
		}
	})
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start node %d of %d: %v", i+1, n, err)
		}
	}
	return nodes[0]
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

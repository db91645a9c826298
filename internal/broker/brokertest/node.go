package brokertest

import (
	"testing"

	"github.com/strata-db/strata/internal/broker"
)

// Node is an in-process broker a test can restart on the same data
// directory and Kafka address, so that clients reconnect to it as to a
// restarted server. With STRATA_TEST_CLUSTER it is node 1 of a cluster
// as Start runs it; the other nodes keep running across a restart.
type Node struct {
	t   testing.TB
	cfg broker.Config
	b   *broker.Broker
}

// StartNode starts a node as Start does; it is closed when the test ends.
func StartNode(t testing.TB, mutate ...func(*broker.Config)) *Node {
	t.Helper()
	cfg := baseConfig(t, mutate)
	if n := clusterSize(); n > 1 {
		cfgs := clusterConfigs(t, cfg, n)
		node := &Node{t: t, cfg: cfgs[0], b: startNodes(t, cfgs)[0]}
		node.cfg.Listen = node.b.KafkaAddr() // a restart binds the same port
		return node
	}
	n := &Node{t: t, cfg: cfg}
	n.start()
	t.Cleanup(func() {
		if n.b != nil {
			if err := n.b.Close(); err != nil {
				t.Errorf("close broker: %v", err)
			}
		}
	})
	return n
}

func (n *Node) start() {
	n.t.Helper()
	b, err := broker.Start(n.cfg)
	if err != nil {
		n.t.Fatalf("start broker: %v", err)
	}
	n.b = b
	n.cfg.Listen = b.KafkaAddr() // a restart binds the same port
}

// Broker is the running broker.
func (n *Node) Broker() *broker.Broker { return n.b }

// Addr is the Kafka address, the same across restarts.
func (n *Node) Addr() string { return n.cfg.Listen }

// Restart closes the broker cleanly and starts it again.
func (n *Node) Restart() {
	n.t.Helper()
	was := n.b
	if err := n.b.Close(); err != nil {
		n.t.Fatalf("close broker: %v", err)
	}
	n.b = nil
	setNode1(was, nil)
	n.start()
	setNode1(nil, n.b)
}

package faults

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-db/strata/test/clustertest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Timing of the cluster under test: short, so that a fault is noticed and
// repaired within seconds and 20 rounds fit in about three minutes.
const (
	sessionTimeout = 2000 * time.Millisecond // broker.session.timeout.ms
	heartbeat      = 200 * time.Millisecond  // broker.heartbeat.interval.ms
	replicaLag     = 3000 * time.Millisecond // replica.lag.time.max.ms
	// healthTimeout bounds how long the cluster may take to be whole
	// again after a fault healed; longer is a finding.
	healthTimeout = 60 * time.Second
	// tmpfsBytes is the size of each node's data file system when the
	// test may mount one (root): small enough to fill quickly.
	tmpfsBytes = 64 << 20
)

// member is one node with its proxies. Its Kafka listener is reached
// through kafkaProxy, which it advertises; its controller listener ctrl
// (127.0.0.2N:P) through ctrlProxy (127.0.0.1N:P, same port, as
// --controllers requires), which every node's --controllers names.
type member struct {
	*clustertest.Node
	zone              string
	kafka, kafkaProxy string
	ctrl, ctrlProxy   string
	mnt               string // the tmpfs holding DataDir, "" when not mounted
	paused            bool
}

type cluster struct {
	t       *testing.T
	members []*member
	voters  string
	config  string
	nw      *network
	admin   *kgo.Client // through the proxies; never cut
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, config: writeConfig(t)}
	c.nw = newNetwork(t, c.pids)
	var voters []string
	mounted := 0
	for i, zone := range []string{"a", "b", "c"} {
		id := int32(i + 1)
		m := &member{zone: zone, kafka: clustertest.FreeAddr(t), kafkaProxy: clustertest.FreeAddr(t)}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1%d:0", id))
		if err != nil {
			t.Fatalf("controller proxy address: %v", err)
		}
		m.ctrlProxy = ln.Addr().String()
		ln.Close()
		port := ln.Addr().(*net.TCPAddr).Port
		m.ctrl = fmt.Sprintf("127.0.0.2%d:%d", id, port)
		dataDir := t.TempDir()
		if mnt, ok := mountTmpfs(t); ok {
			m.mnt, dataDir = mnt, filepath.Join(mnt, "data")
			mounted++
		}
		m.Node = clustertest.NewNode(t, strataBin, id, clustertest.FreeAddr(t), dataDir)
		c.nw.listen(m.kafkaProxy, m.kafka, id)
		c.nw.listen(m.ctrlProxy, m.ctrl, id)
		voters = append(voters, fmt.Sprintf("%d@%s", id, m.ctrlProxy))
		c.members = append(c.members, m)
	}
	c.voters = strings.Join(voters, ",")
	if mounted < len(c.members) {
		t.Log("no tmpfs (mount needs root): the disk-full fault is left out")
	}
	start := time.Now()
	for _, m := range c.members {
		c.spawn(m)
	}
	for _, m := range c.members {
		m.WaitReady()
	}
	t.Logf("three nodes ready in %v", time.Since(start).Round(time.Millisecond))
	var seeds []string
	for _, m := range c.members {
		seeds = append(seeds, m.kafkaProxy)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.MetadataMinAge(100*time.Millisecond),
		kgo.RetryTimeout(5*time.Second), kgo.RequestTimeoutOverhead(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	c.admin = cl
	return c
}

func writeConfig(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "strata.yaml")
	body := fmt.Sprintf(`broker-config:
  broker.session.timeout.ms: %d
  broker.heartbeat.interval.ms: %d
  replica.lag.time.max.ms: %d
  offsets.topic.num.partitions: 3
  transaction.state.log.num.partitions: 3
`, sessionTimeout.Milliseconds(), heartbeat.Milliseconds(), replicaLag.Milliseconds())
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// mountTmpfs mounts a small tmpfs for one node's data, unmounted at the
// end of the test (registered before the node's cleanup, so it runs after
// the process is gone). It needs root; ok is false otherwise.
func mountTmpfs(t *testing.T) (string, bool) {
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size="+strconv.Itoa(tmpfsBytes)); err != nil {
		return "", false
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	return mnt, true
}

func (c *cluster) spawn(m *member) {
	c.t.Helper()
	m.Spawn([]string{"server", "--node-id", strconv.Itoa(int(m.ID)), "--data", m.DataDir,
		"--listen", m.kafka, "--advertise", m.kafkaProxy, "--http", m.HTTPAddr,
		"--controller-listen", m.ctrl, "--controllers", c.voters, "--zone", m.zone, "--config", c.config})
}

// pids maps the running node processes to their ids (for the proxies).
func (c *cluster) pids() map[int]int32 {
	out := map[int]int32{}
	for _, m := range c.members {
		if pid := m.Pid(); pid != 0 {
			out[pid] = m.ID
		}
	}
	return out
}

func (c *cluster) member(id int32) *member { return c.members[id-1] }

func (c *cluster) ids() []int32 {
	var out []int32
	for _, m := range c.members {
		out = append(out, m.ID)
	}
	return out
}

// healthy returns nil when the cluster is whole: every node running,
// unpaused and ready; every node sees an active controller and the three
// brokers unfenced; and every node's Metadata shows every partition of
// every topic with a leader and all its replicas in the ISR.
func (c *cluster) healthy(ctx context.Context) error {
	for _, m := range c.members {
		if !m.Running() || m.paused {
			return fmt.Errorf("node %d is down", m.ID)
		}
		if code := m.Healthz(); code != http.StatusOK {
			return fmt.Errorf("node %d: /healthz %d", m.ID, code)
		}
		q, err := m.Quorum()
		if err != nil {
			return fmt.Errorf("node %d: /quorum: %v", m.ID, err)
		}
		if q.ActiveController <= 0 {
			return fmt.Errorf("node %d sees no active controller", m.ID)
		}
		unfenced := 0
		for _, b := range q.Brokers {
			if !b.Fenced {
				unfenced++
			}
		}
		if unfenced != len(c.members) {
			return fmt.Errorf("node %d sees %d unfenced brokers", m.ID, unfenced)
		}
	}
	if _, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, c.admin); err != nil {
		return fmt.Errorf("metadata: %w", err)
	}
	for _, m := range c.members {
		resp, err := c.admin.Broker(int(m.ID)).Request(ctx, kmsg.NewPtrMetadataRequest())
		if err != nil {
			return fmt.Errorf("node %d: metadata: %w", m.ID, err)
		}
		md := resp.(*kmsg.MetadataResponse)
		for _, tp := range md.Topics {
			if err := kerr.ErrorForCode(tp.ErrorCode); err != nil {
				return fmt.Errorf("node %d: topic %v: %w", m.ID, tp.Topic, err)
			}
			for _, p := range tp.Partitions {
				if p.Leader < 0 || len(p.ISR) != len(p.Replicas) {
					return fmt.Errorf("node %d: %s-%d: leader %d, ISR %v of %v", m.ID, *tp.Topic, p.Partition, p.Leader, p.ISR, p.Replicas)
				}
			}
		}
	}
	return nil
}

// stableFor is how long the cluster must stay healthy to count as
// recovered: a node just continued from SIGSTOP answers from its stale
// view for a moment.
const stableFor = time.Second

// waitHealthy waits until healthy has returned nil for stableFor,
// restarting any node that exited by itself (counted in crashes), and
// returns how long it took until the first of those checks.
func (c *cluster) waitHealthy(timeout time.Duration, crashes *[]string) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	var err error
	var since time.Time // healthy at every check since then
	for time.Now().Before(deadline) {
		for _, m := range c.members {
			if m.Exited() {
				*crashes = append(*crashes, fmt.Sprintf("node %d exited by itself", m.ID))
				c.t.Logf("node %d exited by itself; restarting it", m.ID)
				c.spawn(m)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err = c.healthy(ctx)
		cancel()
		switch {
		case err != nil:
			since = time.Time{}
		case since.IsZero():
			since = time.Now()
		case time.Since(since) >= stableFor:
			return since.Sub(start), nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start), fmt.Errorf("cluster not healthy after %v: %w", timeout, err)
}

// partitionMeta returns the metadata of a topic's partitions as a node sees
// them, and the topic's id.
func (c *cluster) partitionMeta(ctx context.Context, topic string) ([]kmsg.MetadataResponseTopicPartition, [16]byte, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, c.admin)
	if err != nil {
		return nil, [16]byte{}, err
	}
	if len(resp.Topics) != 1 {
		return nil, [16]byte{}, errors.New("no such topic")
	}
	tp := resp.Topics[0]
	if err := kerr.ErrorForCode(tp.ErrorCode); err != nil {
		return nil, [16]byte{}, err
	}
	return tp.Partitions, tp.TopicID, nil
}

// createTopic creates a topic with replication factor 3 and
// min.insync.replicas 2 and waits until it has full ISRs.
func (c *cluster) createTopic(name string, partitions int32) [16]byte {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, 3
	cfg := kmsg.NewCreateTopicsRequestTopicConfig()
	cfg.Name, cfg.Value = "min.insync.replicas", kmsg.StringPtr("2")
	rt.Configs = append(rt.Configs, cfg)
	req.Topics = append(req.Topics, rt)
	req.TimeoutMillis = 10000
	resp, err := req.RequestWith(ctx, c.admin)
	if err != nil {
		c.t.Fatalf("create %s: %v", name, err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		c.t.Fatalf("create %s: %v %v", name, err, resp.Topics[0].ErrorMessage)
	}
	var id [16]byte
	for {
		var parts []kmsg.MetadataResponseTopicPartition
		if parts, id, err = c.partitionMeta(ctx, name); err == nil && len(parts) == int(partitions) {
			break
		}
		if ctx.Err() != nil {
			c.t.Fatalf("topic %s not in Metadata: %v", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	var crashes []string
	if _, err := c.waitHealthy(30*time.Second, &crashes); err != nil {
		c.t.Fatal(err)
	}
	return id
}

// dumpGoroutines makes every running node print its goroutines to its log
// and exit (SIGQUIT), for a cluster that does not recover.
func (c *cluster) dumpGoroutines() {
	for _, m := range c.members {
		if m.Running() {
			if m.paused {
				m.Signal(syscall.SIGCONT)
			}
			m.Signal(syscall.SIGQUIT)
			m.WaitExit(10 * time.Second)
		}
	}
}

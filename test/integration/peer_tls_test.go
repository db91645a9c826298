package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker"
	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/strata-db/strata/internal/peer"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// logBuffer collects the text log lines of several nodes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// logger logs warnings and errors into l, each line with the node's id.
func (l *logBuffer) logger(node int32) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelWarn})).With("test_node", node)
}

// waitLog waits until l has a line holding every one of parts.
func waitLog(t *testing.T, l *logBuffer, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, line := range strings.Split(l.String(), "\n") {
			found := true
			for _, p := range parts {
				found = found && strings.Contains(line, p)
			}
			if found {
				t.Logf("logged: %s", line)
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line holds %q; the log:\n%s", parts, l.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPeerMTLS: three in-process nodes with mutual TLS between them
// (--peer-tls-*) on their inter-broker and controller listeners. A topic
// with replication factor 3 takes acks=all writes (so followers fetch
// over TLS) and is read in full after a node is closed; a broker-only node
// with a certificate of the peer CA joins (raft to a non-voter over
// TLS). A node whose
// certificate another CA signed, and a node without peer TLS, cannot
// join; the inter-broker listener refuses fetch connections without a
// certificate of the peer CA; and each refusal is logged.
func TestPeerMTLS(t *testing.T) {
	ca := brokertest.NewCA(t, "peer CA")
	logs := &logBuffer{}
	cl := brokertest.StartCluster(t, 3, brokertest.WithPeerTLS(t, ca), func(cfg *broker.Config) {
		cfg.Logger = logs.logger(cfg.NodeID)
	})
	seeds := func() string {
		var addrs []string
		for id := int32(1); id <= 3; id++ {
			if b := cl.Node(id); b != nil {
				addrs = append(addrs, b.KafkaAddr())
			}
		}
		return strings.Join(addrs, ",")
	}

	const topic, partitions, before, after = "secure", 3, 300, 100
	adm := kadm.NewClient(brokertest.Client(t, seeds()))
	brokertest.CreateTopic(t, adm, topic, partitions, nil)
	produce := func(cl *kgo.Client, from, n int) {
		t.Helper()
		ctx := brokertest.Context(t, 30*time.Second)
		var rs []*kgo.Record
		for i := from; i < from+n; i++ {
			rs = append(rs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint(i % 7)), Value: []byte(fmt.Sprintf("v%d", i))})
		}
		if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("produce with acks=all: %v", err)
		}
	}
	produce(brokertest.Client(t, seeds(), kgo.RequiredAcks(kgo.AllISRAcks())), 0, before)

	md, err := adm.Metadata(brokertest.Context(t, 10*time.Second), topic)
	if err != nil {
		t.Fatal(err)
	}
	parts := md.Topics[topic].Partitions
	if len(parts) != partitions {
		t.Fatalf("metadata: %d partitions", len(parts))
	}
	for _, p := range parts {
		if len(p.Replicas) != 3 || len(p.ISR) != 3 {
			t.Fatalf("partition %d: replicas %v, ISR %v; want 3 of each", p.Partition, p.Replicas, p.ISR)
		}
	}

	// Close the leader of partition 0: the others go on, still over TLS.
	victim := parts[0].Leader
	if err := cl.Close(victim); err != nil {
		t.Fatalf("close node %d: %v", victim, err)
	}
	t.Logf("closed node %d", victim)
	produce(brokertest.Client(t, seeds(), kgo.RequiredAcks(kgo.AllISRAcks())), before, after)
	consumer := brokertest.Client(t, seeds(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]bool{}
	ctx := brokertest.Context(t, 30*time.Second)
	for len(got) < before+after && ctx.Err() == nil {
		fs := consumer.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)] = true })
	}
	for i := range before + after {
		if !got[fmt.Sprintf("v%d", i)] {
			t.Fatalf("record v%d not read after node %d closed (%d of %d read)", i, victim, len(got), before+after)
		}
	}

	// A broker-only node with a certificate of the peer CA joins: it is
	// unfenced once it applied its registration, which the active
	// controller's raft sends it over TLS, and serves the topic.
	jcfg := cl.JoinConfig(6, brokertest.WithPeerTLS(t, ca), func(c *broker.Config) { c.Logger = logs.logger(6) })
	joiner, err := broker.Start(jcfg)
	if err != nil {
		t.Fatalf("a broker with a peer certificate cannot join: %v", err)
	}
	t.Cleanup(func() { joiner.Close() })
	topics, err := kadm.NewClient(brokertest.Client(t, joiner.KafkaAddr())).ListTopics(brokertest.Context(t, 10*time.Second))
	if err != nil || !topics.Has(topic) {
		t.Fatalf("the joined broker's metadata: %v %v", topics.Names(), err)
	}

	// Nodes that cannot join: one whose certificate another CA signed (it
	// trusts the cluster's CA, so it is the cluster that refuses it), and
	// one without peer TLS.
	rogueCA := brokertest.NewCA(t, "rogue CA")
	rogue := rogueCA.Issue(t, "rogue")
	both := filepath.Join(t.TempDir(), "both-cas.pem")
	writeConcat(t, both, ca.File, rogueCA.File)
	var survivor int32 = 1
	if victim == 1 {
		survivor = 2
	}
	joiners := []struct {
		name   string
		id     int32
		mutate func(*broker.Config)
		logged string // in the cluster's refusal
		err    string // in the node's start-up error
	}{
		{"another CA's certificate", 4, func(c *broker.Config) {
			c.PeerTLSCert, c.PeerTLSKey, c.PeerTLSCA = rogue.CertFile, rogue.KeyFile, both
		}, "certificate signed by unknown authority", "remote error: tls: unknown certificate authority"},
		{"no peer TLS", 5, func(c *broker.Config) {
			c.PeerTLSCert, c.PeerTLSKey, c.PeerTLSCA = "", "", ""
		}, "first record does not look like a TLS handshake", "metadata quorum not ready"},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(joiners))
	joinLogs := make([]*logBuffer, len(joiners))
	for i, j := range joiners {
		joinLogs[i] = &logBuffer{}
		cfg := cl.JoinConfig(j.id, j.mutate, func(c *broker.Config) {
			c.StartTimeout = 5 * time.Second
			c.Logger = joinLogs[i].logger(j.id)
		})
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := broker.Start(cfg)
			if err == nil {
				b.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, j := range joiners {
		if errs[i] == nil || !strings.Contains(errs[i].Error(), j.err) {
			t.Errorf("a node with %s: start: %v, want an error with %q", j.name, errs[i], j.err)
			continue
		}
		t.Logf("a node with %s: start: %v", j.name, errs[i])
		waitLog(t, logs, "refusing controller-listener connection", j.logged)
	}
	brokers, err := adm.ListBrokers(brokertest.Context(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if ids := brokers.NodeIDs(); len(ids) != 3 || slices.Contains(ids, victim) || !slices.Contains(ids, 6) {
		t.Errorf("brokers in the cluster: %v, want the two survivors and node 6", ids)
	}

	// The inter-broker listener, where followers fetch: refused without a
	// certificate of the peer CA, served with one.
	internal := cl.Node(survivor).InternalAddr()
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	pool.AddCert(rogueCA.Cert)
	for _, c := range []struct {
		name   string
		tls    *peer.TLS
		served bool
		logged string
	}{
		{"no TLS", nil, false, "first record does not look like a TLS handshake"},
		{"another CA's certificate", peer.NewTLS(rogue.TLS, pool), false, "certificate signed by unknown authority"},
		{"a peer certificate", peer.NewTLS(ca.Issue(t, "node-9").TLS, ca.Pool()), true, ""},
	} {
		err := metadataAt(internal, c.tls)
		if (err == nil) != c.served {
			t.Errorf("inter-broker listener, %s: served %v (%v)", c.name, err == nil, err)
		}
		if !c.served {
			waitLog(t, logs, "listener=internal", "closing connection: TLS", c.logged)
		}
	}
}

// metadataAt sends a Metadata request as a peer would, over TLS with tc.
func metadataAt(addr string, tc *peer.TLS) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var dialer *tls.Config
	if tc != nil {
		dialer = tc.Dialer
	}
	c, err := peer.Dial(ctx, addr, "peer-tls-test", dialer)
	if err != nil {
		return err
	}
	defer c.Close()
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	_, err = c.Do(req, time.Now().Add(5*time.Second))
	return err
}

func writeConcat(t *testing.T, dst string, files ...string) {
	t.Helper()
	var out []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b...)
	}
	if err := os.WriteFile(dst, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

package integration

import (
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker"
	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// tenantWorkload gives a tenant a topic, a group with committed offsets
// ("billing"), a group with a live member ("live") and a transactional id
// with an open transaction ("tx"). It returns the transactional client.
func tenantWorkload(t *testing.T, addr string, cred brokertest.Credential) *kgo.Client {
	t.Helper()
	ctx := brokertest.Context(t, 30*time.Second)
	cl := brokertest.SASLClient(t, addr, cred, kgo.DefaultProduceTopic("orders"))
	adm := kadm.NewClient(cl)
	brokertest.CreateTopic(t, adm, "orders", 1, nil)
	if err := cl.ProduceSync(ctx, kgo.StringRecord(cred.Tenant)).FirstErr(); err != nil {
		t.Fatal(err)
	}
	var offs kadm.Offsets
	offs.AddOffset("orders", 0, 1, -1)
	if _, err := adm.CommitOffsets(ctx, "billing", offs); err != nil {
		t.Fatal(err)
	}
	member := brokertest.SASLClient(t, addr, cred, kgo.ConsumerGroup("live"), kgo.ConsumeTopics("orders"))
	if fs := member.PollFetches(ctx); fs.Err() != nil {
		t.Fatal(fs.Err())
	}
	txn := brokertest.SASLClient(t, addr, cred, kgo.TransactionalID("tx"), kgo.DefaultProduceTopic("orders"))
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := txn.ProduceSync(ctx, kgo.StringRecord("open")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return txn
}

// rawSession is a connection authenticated with a key.
func rawSession(t *testing.T, addr string, cred brokertest.Credential) *rawConn {
	t.Helper()
	r := dialRaw(t, addr)
	if _, err := r.scram(cred.Key, cred.Secret); err != nil {
		t.Fatal(err)
	}
	return r
}

// waitClosed fails unless the broker closes the connection within a few
// seconds without the client sending anything.
func waitClosed(t *testing.T, r *rawConn, what string) {
	t.Helper()
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := r.c.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: connection still open", what)
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		t.Logf("%s: closed with %v", what, err)
	}
}

// TestTenantDeletePurges: deleting a tenant closes its live connections at
// once and purges its groups, committed offsets and transactional ids
// (the open transaction aborted first) from the coordinators, for good:
// a restart brings nothing back. The other tenant, with the same names,
// keeps everything and commits its transaction.
func TestTenantDeletePurges(t *testing.T) {
	n := brokertest.StartNode(t, brokertest.WithSASL)
	b := n.Broker()
	credA := brokertest.CreateKey(t, b, brokertest.CreateTenant(t, b, "tenant A"))
	credB := brokertest.CreateKey(t, b, brokertest.CreateTenant(t, b, "tenant B"))
	tenantWorkload(t, n.Addr(), credA)
	txnB := tenantWorkload(t, n.Addr(), credB)
	wantState := func(b *broker.Broker, tenant string, groups, txns []string) bool {
		g, x := coordinatorState(b, tenant)
		return slices.Equal(g, groups) && slices.Equal(x, txns)
	}
	full := []string{"billing", "live"}
	for _, c := range []brokertest.Credential{credA, credB} {
		if !wantState(b, c.Tenant, full, []string{"tx"}) {
			g, x := coordinatorState(b, c.Tenant)
			t.Fatalf("state of %s before: %v %v", c.Tenant, g, x)
		}
	}
	session := rawSession(t, n.Addr(), credA)

	if st := brokertest.AdminCall(t, b.HTTPAddr(), "DELETE", "/v1/tenants/"+credA.Tenant, nil, nil); st != http.StatusNoContent {
		t.Fatalf("delete: HTTP %d", st)
	}
	waitClosed(t, session, "session of the deleted tenant")
	deadline := time.Now().Add(15 * time.Second)
	for !wantState(b, credA.Tenant, nil, nil) {
		if time.Now().After(deadline) {
			g, x := coordinatorState(b, credA.Tenant)
			t.Fatalf("deleted tenant's state left: groups %v, transactional ids %v", g, x)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx := brokertest.Context(t, 30*time.Second)
	if err := txnB.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("other tenant's commit: %v", err)
	}

	n.Restart()
	b = n.Broker()
	// On a cluster the coordinators the restarted node led moved to
	// others, which load them from the logs: wait for the other tenant's
	// state to be whole again.
	for deadline := time.Now().Add(15 * time.Second); !wantState(b, credB.Tenant, full, []string{"tx"}); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			g, x := coordinatorState(b, credB.Tenant)
			t.Fatalf("other tenant's state after a restart: %v %v", g, x)
		}
	}
	if !wantState(b, credA.Tenant, nil, nil) {
		g, x := coordinatorState(b, credA.Tenant)
		t.Fatalf("deleted tenant's state back after a restart: %v %v", g, x)
	}
	adm := kadm.NewClient(brokertest.SASLClient(t, n.Addr(), credB))
	offs, err := adm.FetchOffsets(ctx, "billing")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup("orders", 0); !ok || o.At != 1 {
		t.Fatalf("other tenant's offset: %+v", offs)
	}
}

// coordinatorState is CoordinatorState over every node of b's cluster
// (each holds what it coordinates), sorted.
func coordinatorState(b *broker.Broker, tenant string) (groups, transactionalIDs []string) {
	for _, node := range brokertest.Nodes(b) {
		g, x := node.CoordinatorState(tenant)
		groups, transactionalIDs = append(groups, g...), append(transactionalIDs, x...)
	}
	slices.Sort(groups)
	slices.Sort(transactionalIDs)
	return groups, transactionalIDs
}

// TestKeyRevokeClosesConnections: revoking a key closes the connections
// authenticated with it at once; another key of the same tenant keeps
// its connection.
func TestKeyRevokeClosesConnections(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithSASL)
	tenant := brokertest.CreateTenant(t, b, "tenant")
	k1, k2 := brokertest.CreateKey(t, b, tenant), brokertest.CreateKey(t, b, tenant)
	s1a, s1b, s2 := rawSession(t, b.KafkaAddr(), k1), rawSession(t, b.KafkaAddr(), k1), rawSession(t, b.KafkaAddr(), k2)
	if st := brokertest.AdminCall(t, b.HTTPAddr(), "DELETE", "/v1/keys/"+k1.Key, nil, nil); st != http.StatusNoContent {
		t.Fatalf("revoke: HTTP %d", st)
	}
	waitClosed(t, s1a, "first session of the revoked key")
	waitClosed(t, s1b, "second session of the revoked key")
	if err := s2.metadata(); err != nil {
		t.Fatalf("the other key's session: %v", err)
	}
	if _, err := dialRaw(t, b.KafkaAddr()).scram(k1.Key, k1.Secret); err == nil {
		t.Fatal("revoked key authenticated")
	}
}

package compat

// The security scenarios (sasl/..., sasl_ssl/... and tenants/same-names of
// SCENARIOS.md): each client writes and reads records over SASL PLAIN,
// SCRAM-SHA-256 and SCRAM-SHA-512 against a node that requires SASL
// (--auth sasl), over SCRAM-SHA-512 inside TLS against a node that also
// speaks TLS (SASL_SSL), and two tenants use the same topic and group names
// at the same time and see only their own records. The client gets its
// security settings inside the bootstrap address (security_test.go), so
// the codec cells' produce and consume funcs and the group scenarios'
// members run unchanged; kgo, over the same settings, is the reference.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The security scenarios.
const (
	scSASLPlain    = "sasl/plain"
	scSASLSCRAM256 = "sasl/scram-sha-256"
	scSASLSCRAM512 = "sasl/scram-sha-512"
	scSASLSSL      = "sasl_ssl/scram-sha-512"
	scMTLS         = "ssl/mtls"
	scTenants      = "tenants/same-names"
)

// secureRecords is how many records each security scenario writes.
const secureRecords = 1000

// The tenants/same-names scenario's names, the same in both tenants, and how
// many records each tenant writes: different counts, so that a reader of
// the wrong tenant's topic also gets the wrong count.
const (
	tenantsTopic = "orders"
	tenantsGroup = "orders-readers"
)

var tenantsRecords = map[string]int{"A": 300, "B": 200}

// secureClient is what a client offers for the security scenarios.
type secureClient struct {
	// client's produce and consume write and read the records.
	client
	// groups' start runs the group member of tenants/same-names.
	groups groupClient
	// tenantsMechanism is the SASL mechanism of tenants/same-names;
	// SCRAM-SHA-512 if empty.
	tenantsMechanism string
	// missing says why the client cannot do a scenario.
	missing map[string]string
}

// secureNodes are the nodes of one client's security scenarios: a node
// that requires SASL, with tenants A and B, one that requires SASL inside
// TLS, and one that requires a client certificate naming an API key
// (--auth mtls).
type secureNodes struct {
	sasl, ssl, mtls string                           // Kafka listeners
	creds           map[string]brokertest.Credential // API keys on sasl, by tenant name
	sslCred         brokertest.Credential
	ca              *brokertest.CA // issued ssl's and mtls's certificates
	mtlsCert        brokertest.Issued
	tenantList      []string
}

func startSecureNodes(t *testing.T) *secureNodes {
	t.Helper()
	b := brokertest.Start(t, brokertest.WithSASL)
	n := &secureNodes{sasl: b.KafkaAddr(), creds: map[string]brokertest.Credential{}, tenantList: []string{"A", "B"}}
	for _, name := range n.tenantList {
		n.creds[name] = brokertest.CreateKey(t, b, brokertest.CreateTenant(t, b, "tenant-"+name))
	}
	n.ca = brokertest.NewCA(t, "strata compat CA")
	s := brokertest.Start(t, brokertest.WithSASL, brokertest.WithTLS(t, n.ca, nil))
	n.ssl = s.KafkaAddr()
	n.sslCred = brokertest.CreateKey(t, s, brokertest.CreateTenant(t, s, "tenant-ssl"))
	clientCA := brokertest.NewCA(t, "strata compat client CA")
	m := brokertest.Start(t, brokertest.WithTLS(t, n.ca, clientCA), brokertest.WithMTLS)
	n.mtls = m.KafkaAddr()
	n.mtlsCert = clientCA.Issue(t, brokertest.CreateKey(t, m, brokertest.CreateTenant(t, m, "tenant-mtls")).Key)
	// So that a pass means the client authenticated (and encrypted):
	// clients without SASL, with a wrong secret, or without TLS get
	// nowhere.
	wrong := n.creds["A"]
	wrong.Secret += "x"
	for what, addr := range map[string]string{
		"without SASL":               n.sasl,
		"with a wrong secret":        n.addr(false, wrong, mechSCRAM512),
		"over SASL_SSL without TLS":  secureAddr(n.ssl, security{Protocol: protoSASLPlaintext, Mechanism: mechSCRAM512, User: n.sslCred.Key, Password: n.sslCred.Secret}),
		"over SASL_SSL without SASL": "",
		"over SASL_SSL to the mTLS node, without a certificate": secureAddr(n.mtls, security{Protocol: protoSASLSSL, Mechanism: mechSCRAM512,
			User: n.sslCred.Key, Password: n.sslCred.Secret, CAFile: n.ca.File}),
		"over SSL with a certificate of another CA": n.mtlsAddr(brokertest.NewCA(t, "rogue CA").Issue(t, n.mtlsCert.TLS.Leaf.Subject.CommonName)),
	} {
		var cl *kgo.Client
		if addr == "" {
			cl = brokertest.Client(t, n.ssl, brokertest.DialTLS(n.ca), kgo.RequestRetries(0))
		} else {
			cl = kgoClient(t, addr, kgo.RequestRetries(0))
		}
		if _, err := kadm.NewClient(cl).ListTopics(brokertest.Context(t, 10*time.Second)); err == nil {
			t.Fatalf("a client %s lists topics", what)
		}
	}
	return n
}

// addr is the bootstrap address of a node with a credential and mechanism.
func (n *secureNodes) addr(ssl bool, c brokertest.Credential, mechanism string) string {
	if ssl {
		return secureAddr(n.ssl, security{Protocol: protoSASLSSL, Mechanism: mechanism, User: c.Key, Password: c.Secret, CAFile: n.ca.File})
	}
	return secureAddr(n.sasl, security{Protocol: protoSASLPlaintext, Mechanism: mechanism, User: c.Key, Password: c.Secret})
}

// mtlsAddr is the bootstrap address of the mtls node for a client
// certificate.
func (n *secureNodes) mtlsAddr(cert brokertest.Issued) string {
	return secureAddr(n.mtls, security{Protocol: protoSSL, CAFile: n.ca.File, CertFile: cert.CertFile, KeyFile: cert.KeyFile})
}

// runSecurityScenarios registers the security cells of a client, on nodes
// of its own.
func runSecurityScenarios(t *testing.T, c secureClient) {
	n := startSecureNodes(t)
	a := n.creds["A"]
	if why, ok := c.groups.missing[scGroupConsume]; ok && c.groups.start == nil {
		if c.missing == nil {
			c.missing = map[string]string{}
		}
		if _, ok := c.missing[scTenants]; !ok {
			c.missing[scTenants] = "no group member: " + why
		}
	}
	tenantsMech := c.tenantsMechanism
	if tenantsMech == "" {
		tenantsMech = mechSCRAM512
	}
	for _, s := range []struct {
		name string
		can  bool
		run  func(t *testing.T)
	}{
		{scSASLPlain, c.produce != nil, func(t *testing.T) { runSecureRoundTrip(t, c, scSASLPlain, n.addr(false, a, mechPlain)) }},
		{scSASLSCRAM256, c.produce != nil, func(t *testing.T) { runSecureRoundTrip(t, c, scSASLSCRAM256, n.addr(false, a, mechSCRAM256)) }},
		{scSASLSCRAM512, c.produce != nil, func(t *testing.T) { runSecureRoundTrip(t, c, scSASLSCRAM512, n.addr(false, a, mechSCRAM512)) }},
		{scSASLSSL, c.produce != nil, func(t *testing.T) { runSecureRoundTrip(t, c, scSASLSSL, n.addr(true, n.sslCred, mechSCRAM512)) }},
		{scMTLS, c.produce != nil, func(t *testing.T) { runSecureRoundTrip(t, c, scMTLS, n.mtlsAddr(n.mtlsCert)) }},
		{scTenants, c.produce != nil && c.groups.start != nil, func(t *testing.T) { runTenants(t, c, n, tenantsMech) }},
	} {
		why, isMissing := c.missing[s.name]
		switch {
		case isMissing:
			unsupported(c.name, s.name, why)
		case !s.can:
			t.Fatalf("%s: %s: the client offers no API for it and no reason why", c.name, s.name)
		default:
			cell(t, c.name, s.name, s.run)
		}
	}
}

// runSecureRoundTrip: the client writes secureRecords records over 12
// partitions through addr's security settings; kgo reads them and checks
// them byte for byte, then the client reads them back.
func runSecureRoundTrip(t *testing.T, c secureClient, scenario, addr string) {
	rng := brokertest.Rand(t)
	topic := c.name + "-" + strings.NewReplacer("/", "-", "_", "-").Replace(scenario)
	createTopic(t, addr, topic)
	recs := genRecords(rng, secureRecords, c.opts)
	ref := checkWritten(t, c.client, addr, topic, recs, c.produce(t, addr, topic, "none", recs))
	got := c.consume(t, addr, topic, endOffsets(t, addr, topic))
	checkByPos(t, c.name+" wrote, "+c.name+" read", c.readable(ref), c.readable(got))
}

// checkWritten checks with kgo what a client wrote (sent, nil if the client
// does not report positions) and returns the records by position.
func checkWritten(t *testing.T, c client, addr, topic string, recs []record, sent map[pos]record) map[pos]record {
	t.Helper()
	kgoGot := kgoConsume(t, addr, topic, "")
	if sent == nil {
		checkByKey(t, c.name+" wrote, kgo read", recs, kgoGot)
		return kgoGot
	}
	checkByPos(t, c.name+" wrote, kgo read", sent, kgoGot)
	return sent
}

// tenantRun is one tenant's side of tenants/same-names.
type tenantRun struct {
	name, addr string
	written    map[pos]record
	log        *groupLog
	member     groupMember
	clientID   string
}

// runTenants: tenants A and B each create topic "orders", the client writes
// 300 records to A's and 200 to B's (keys prefixed with the tenant's name),
// and one member per tenant, both in a group named "orders-readers", reads
// at the same time and commits. Each tenant's kgo reads exactly its own
// records; each member processes exactly its tenant's records (by
// position, and by key where the member reports keys); each tenant's group
// shows only its own member while both run; each group's committed offsets
// end at its own topic's end offsets.
func runTenants(t *testing.T, c secureClient, n *secureNodes, mechanism string) {
	rng := brokertest.Rand(t)
	var runs []*tenantRun
	for _, name := range n.tenantList {
		r := &tenantRun{name: name, addr: n.addr(false, n.creds[name], mechanism),
			clientID: "strata-compat-" + c.name + "-tenant-" + name}
		createTopic(t, r.addr, tenantsTopic)
		// Text keys: members report keys in JSON strings.
		recs := genRecords(rng, tenantsRecords[name], c.opts)
		for i := range recs {
			recs[i].Key = fmt.Appendf(nil, "tenant-%s/%06d", name, i)
		}
		r.written = checkWritten(t, c.client, r.addr, tenantsTopic, recs, c.produce(t, r.addr, tenantsTopic, "none", recs))
		runs = append(runs, r)
	}
	for _, r := range runs {
		r.log = newGroupLog(t)
		if c.groups.watchCommits {
			watchCommits(t, r.addr, tenantsGroup, tenantsTopic, r.log)
		}
		r.member = c.groups.start(t, r.addr, memberSpec{
			Name: r.name, Group: tenantsGroup, Topic: tenantsTopic, ClientID: r.clientID, Commit: true,
			SessionTimeoutMs:   int(groupSessionTimeout / time.Millisecond),
			RebalanceTimeoutMs: int(groupRebalanceTimeout / time.Millisecond),
		}, r.log)
	}
	for _, r := range runs {
		waitFor(t, "tenant "+r.name+"'s member to process its records", groupSettle, func() (bool, string) {
			missing := missingPositions(r.written, r.log.processed())
			return len(missing) == 0, describeMissing(missing)
		})
	}
	for _, r := range runs {
		d := kadmDescribe(t, r.addr, tenantsGroup)
		if len(d.Members) != 1 || d.Members[0].ClientID != r.clientID {
			var ids []string
			for _, m := range d.Members {
				ids = append(ids, m.ClientID)
			}
			t.Errorf("tenant %s's group %s has members %v, want only %s", r.name, tenantsGroup, ids, r.clientID)
		}
	}
	for _, r := range runs {
		r.member.Stop(t)
	}
	for _, r := range runs {
		checkProcessed(t, r.log, r.written)
		if got, want := len(r.log.processed()), len(r.written); got != want {
			t.Errorf("tenant %s's member processed %d records at distinct positions, want %d", r.name, got, want)
		}
		waitCommitted(t, r.addr, tenantsGroup, tenantsTopic, r.log)
		t.Logf("tenant %s: %s", r.name, r.log.summary())
	}
}

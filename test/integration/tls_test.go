package integration

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker"
	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// listTopics lists a client's topics; a refused connection is an error
// within a few seconds.
func listTopics(t *testing.T, cl *kgo.Client) ([]string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	topics, err := kadm.NewClient(cl).ListTopics(ctx)
	names := topics.Names()
	slices.Sort(names)
	return names, err
}

// TestTLS: SASL over TLS (SASL_SSL), each tenant seeing only its own
// topics; a plaintext client gets nowhere. TLS under --auth none serves
// the default tenant.
func TestTLS(t *testing.T) {
	ca := brokertest.NewCA(t, "strata test CA")
	b, credA, credB := twoTenants(t, brokertest.WithTLS(t, ca, nil))
	for _, c := range []struct {
		cred  brokertest.Credential
		topic string
	}{{credA, "a-topic"}, {credB, "b-topic"}} {
		cl := brokertest.SASLClient(t, b.KafkaAddr(), c.cred, brokertest.DialTLS(ca))
		brokertest.CreateTopic(t, kadm.NewClient(cl), c.topic, 1, nil)
		if got, err := listTopics(t, cl); err != nil || !slices.Equal(got, []string{c.topic}) {
			t.Fatalf("%s lists topics over SASL_SSL: %v %v", c.cred.Tenant, got, err)
		}
	}
	plain := brokertest.SASLClient(t, b.KafkaAddr(), credA, kgo.RequestRetries(0))
	if got, err := listTopics(t, plain); err == nil {
		t.Fatalf("a plaintext client was served: %v", got)
	}

	open := brokertest.Start(t, brokertest.WithTLS(t, ca, nil))
	cl := brokertest.Client(t, open.KafkaAddr(), brokertest.DialTLS(ca))
	brokertest.CreateTopic(t, kadm.NewClient(cl), "default-topic", 1, nil)
	ctx := brokertest.Context(t, 10*time.Second)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "default-topic", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("produce over TLS without authentication: %v", err)
	}
}

// TestMTLS: under --auth mtls a client certificate's subject CN names an
// API key, and the connection is that key's: its tenant's topics only,
// its role's rights. No certificate, a certificate of another CA, a name
// that is no key and a revoked key's name are refused.
func TestMTLS(t *testing.T) {
	serverCA := brokertest.NewCA(t, "server CA")
	clientCA := brokertest.NewCA(t, "client CA")
	b := brokertest.Start(t, brokertest.WithTLS(t, serverCA, clientCA), brokertest.WithMTLS)
	tenantA := brokertest.CreateTenant(t, b, "tenant A")
	keyA := brokertest.CreateKey(t, b, tenantA)
	keyB := brokertest.CreateKey(t, b, brokertest.CreateTenant(t, b, "tenant B"))
	member := brokertest.CreateKeyWithRole(t, b, tenantA, "member")
	client := func(certs ...tls.Certificate) *kgo.Client {
		return brokertest.Client(t, b.KafkaAddr(), brokertest.DialTLS(serverCA, certs...), kgo.RequestRetries(0))
	}

	clA := client(clientCA.Issue(t, keyA.Key).TLS)
	clB := client(clientCA.Issue(t, keyB.Key).TLS)
	brokertest.CreateTopic(t, kadm.NewClient(clA), "a-topic", 1, nil)
	brokertest.CreateTopic(t, kadm.NewClient(clB), "b-topic", 1, nil)
	for _, c := range []struct {
		cl   *kgo.Client
		want []string
	}{{clA, []string{"a-topic"}}, {clB, []string{"b-topic"}}, {client(clientCA.Issue(t, member.Key).TLS), nil}} {
		if got, err := listTopics(t, c.cl); err != nil || !slices.Equal(got, c.want) {
			t.Errorf("lists topics: %v %v, want %v", got, err, c.want)
		}
	}

	// Go's client sends no certificate the server's CAs did not sign:
	// this one is sent anyway, for the server to refuse.
	rogue := brokertest.NewCA(t, "rogue CA").Issue(t, keyA.Key).TLS
	rogueTLS := &tls.Config{RootCAs: serverCA.Pool(), GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &rogue, nil }}
	refused := map[string]*kgo.Client{
		"no certificate":          client(),
		"another CA's":            brokertest.Client(t, b.KafkaAddr(), kgo.DialTLSConfig(rogueTLS), kgo.RequestRetries(0)),
		"a name that is no key":   client(clientCA.Issue(t, "NOSUCHKEY").TLS),
		"the tenant's id as name": client(clientCA.Issue(t, tenantA).TLS),
	}
	for name, cl := range refused {
		if got, err := listTopics(t, cl); err == nil {
			t.Errorf("%s certificate was served: %v", name, got)
		}
	}

	if st := brokertest.AdminCall(t, b.HTTPAddr(), "DELETE", "/v1/keys/"+keyA.Key, nil, nil); st/100 != 2 || st == http.StatusNotFound {
		t.Fatalf("revoke: HTTP %d", st)
	}
	// The node closes the key's connections once its image has the
	// revocation, shortly after the admin API answered.
	for _, cl := range []*kgo.Client{clA, client(clientCA.Issue(t, keyA.Key).TLS)} { // connected before, and anew
		deadline := time.Now().Add(5 * time.Second)
		for got, err := listTopics(t, cl); err == nil; got, err = listTopics(t, cl) {
			if time.Now().After(deadline) {
				t.Fatalf("a revoked key's certificate is still served: %v", got)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestTLSCertificateReload: the Kafka and HTTP listeners' certificate is
// replaced on disk, the certificate file before its key (a mismatched pair
// for a moment, which the node logs and skips), and new connections get
// the new certificate within seconds, without a restart.
func TestTLSCertificateReload(t *testing.T) {
	oldCA, newCA := brokertest.NewCA(t, "strata old CA"), brokertest.NewCA(t, "strata new CA")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	install := func(is brokertest.Issued) {
		t.Helper()
		for _, f := range [][2]string{{is.CertFile, certFile}, {is.KeyFile, keyFile}} {
			b, err := os.ReadFile(f[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(f[1], b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	install(oldCA.Issue(t, "strata"))
	b := brokertest.Start(t, func(cfg *broker.Config) {
		cfg.TLSCert, cfg.TLSKey = certFile, keyFile
		cfg.HTTPTLSCert, cfg.HTTPTLSKey = certFile, keyFile
	})
	served := func(ca *brokertest.CA) error {
		if _, err := listTopics(t, brokertest.Client(t, b.KafkaAddr(), brokertest.DialTLS(ca), kgo.RequestRetries(0))); err != nil {
			return err
		}
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
		defer hc.CloseIdleConnections()
		resp, err := hc.Get("https://" + b.HTTPAddr() + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	if err := served(oldCA); err != nil {
		t.Fatalf("before the rotation: %v", err)
	}
	install(newCA.Issue(t, "strata"))
	deadline := time.Now().Add(10 * time.Second)
	for served(newCA) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the new certificate was not served within 10 s of replacing the files")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := served(oldCA); err == nil {
		t.Fatal("a client trusting only the old CA was still served after the rotation")
	}
}

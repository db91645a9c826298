package compat

// Security settings for the clients under test. A bootstrap address is
// either a plain host:port, or a URL that also carries how to authenticate
// and encrypt, with librdkafka's property names:
//
//	kafka://KEY:SECRET@127.0.0.1:9092?security.protocol=SASL_SSL&sasl.mechanism=SCRAM-SHA-512&ssl.ca.location=/tmp/ca.pem
//	kafka://127.0.0.1:9092?security.protocol=SSL&ssl.ca.location=/tmp/ca.pem&ssl.certificate.location=/tmp/c.pem&ssl.key.location=/tmp/k.pem
//
// The address is what every produce, consume and member func already takes,
// and it crosses process boundaries whole (Go members in child processes,
// the Python and JavaScript drivers' --bootstrap), so each client turns it
// into its own settings where it builds its producer or consumer:
// splitAddr here for the Go clients, bootstrap_security in
// drivers/python/common.py and bootstrapSecurity in drivers/js/common.mjs.

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"testing"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Security protocols, by Kafka's names (security.protocol).
const (
	protoSASLPlaintext = "SASL_PLAINTEXT"
	protoSASLSSL       = "SASL_SSL"
	// protoSSL is TLS without SASL; here with a client certificate, whose
	// subject CN names the API key (--auth mtls).
	protoSSL = "SSL"
)

// SASL mechanisms, by Kafka's names (sasl.mechanism).
const (
	mechPlain     = "PLAIN"
	mechSCRAM256  = "SCRAM-SHA-256"
	mechSCRAM512  = "SCRAM-SHA-512"
	addressScheme = "kafka"
)

// security is how a client reaches a node that requires SASL or a client
// certificate.
type security struct {
	Protocol       string // protoSASLPlaintext, protoSASLSSL or protoSSL
	Mechanism      string // mechPlain, mechSCRAM256 or mechSCRAM512; none with protoSSL
	User, Password string // none with protoSSL
	// CAFile is the PEM file of the CA that issued the node's certificate
	// (ssl.ca.location); set with protoSASLSSL and protoSSL.
	CAFile string
	// CertFile and KeyFile are the client's certificate and key
	// (ssl.certificate.location, ssl.key.location); set with protoSSL.
	CertFile, KeyFile string
}

// tls reports whether the connection is encrypted.
func (s *security) tls() bool { return s.Protocol == protoSASLSSL || s.Protocol == protoSSL }

// sasl reports whether the client authenticates with SASL.
func (s *security) sasl() bool { return s.Protocol != protoSSL }

// secureAddr is the bootstrap address of hostport with sec.
func secureAddr(hostport string, sec security) string {
	q := url.Values{"security.protocol": {sec.Protocol}}
	for k, v := range map[string]string{"sasl.mechanism": sec.Mechanism, "ssl.ca.location": sec.CAFile,
		"ssl.certificate.location": sec.CertFile, "ssl.key.location": sec.KeyFile} {
		if v != "" {
			q.Set(k, v)
		}
	}
	u := url.URL{Scheme: addressScheme, Host: hostport, RawQuery: q.Encode()}
	if sec.User != "" {
		u.User = url.UserPassword(sec.User, sec.Password)
	}
	return u.String()
}

// splitAddr returns the host:port of a bootstrap address and its security
// settings, nil for a plain host:port. A malformed address panics: it is a
// bug in the test.
func splitAddr(addr string) (string, *security) {
	u, err := url.Parse(addr)
	if err != nil || u.Scheme != addressScheme {
		return addr, nil
	}
	pass, _ := u.User.Password()
	q := u.Query()
	sec := &security{
		Protocol: q.Get("security.protocol"), Mechanism: q.Get("sasl.mechanism"),
		User: u.User.Username(), Password: pass, CAFile: q.Get("ssl.ca.location"),
		CertFile: q.Get("ssl.certificate.location"), KeyFile: q.Get("ssl.key.location"),
	}
	switch {
	case sec.Protocol == protoSSL && (sec.CAFile == "" || sec.CertFile == "" || sec.KeyFile == ""):
		panic(fmt.Sprintf("compat: bootstrap address %q: SSL wants ssl.ca.location, ssl.certificate.location and ssl.key.location", addr))
	case sec.Protocol != protoSSL && (sec.Protocol != protoSASLPlaintext && sec.Protocol != protoSASLSSL || sec.Mechanism == ""):
		panic(fmt.Sprintf("compat: bootstrap address %q: want security.protocol SASL_PLAINTEXT, SASL_SSL or SSL, and a sasl.mechanism with SASL", addr))
	}
	return u.Host, sec
}

// hostPort is the host:port of a bootstrap address.
func hostPort(addr string) string {
	hp, _ := splitAddr(addr)
	return hp
}

// tlsConfig trusts the CA of sec, or is nil without TLS. It returns an
// error (not a test failure) so that child processes can use it.
func (s *security) tlsConfig() (*tls.Config, error) {
	if s == nil || !s.tls() {
		return nil, nil
	}
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, fmt.Errorf("ssl.ca.location: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ssl.ca.location %s: no certificate", s.CAFile)
	}
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if s.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(s.CertFile, s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("ssl.certificate.location: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// librdkafka is sec as librdkafka properties (confluent-kafka-go, kcat),
// none for a plain address.
func (s *security) librdkafka() map[string]string {
	if s == nil {
		return nil
	}
	props := map[string]string{"security.protocol": s.Protocol}
	if s.sasl() {
		props["sasl.mechanism"], props["sasl.username"], props["sasl.password"] = s.Mechanism, s.User, s.Password
	}
	if s.tls() {
		props["ssl.ca.location"] = s.CAFile
	}
	if s.CertFile != "" {
		props["ssl.certificate.location"], props["ssl.key.location"] = s.CertFile, s.KeyFile
	}
	return props
}

// kgoSecurity are franz-go's options for the address's security: SASL
// and TLS.
func kgoSecurity(addr string) ([]kgo.Opt, error) {
	_, sec := splitAddr(addr)
	var opts []kgo.Opt
	if sec == nil {
		return nil, nil
	}
	cfg, err := sec.tlsConfig()
	if err != nil {
		return nil, err
	}
	if cfg != nil {
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if !sec.sasl() {
		return opts, nil
	}
	return append(opts, kgo.SASL(brokertest.Mechanism(sec.Mechanism,
		brokertest.Credential{Key: sec.User, Secret: sec.Password}))), nil
}

// kgoClient is brokertest.Client for a bootstrap address that may carry
// security settings.
func kgoClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	base, err := kgoSecurity(addr)
	if err != nil {
		t.Fatal(err)
	}
	return brokertest.Client(t, hostPort(addr), append(base, opts...)...)
}

// kadmClient is brokertest.Admin for a bootstrap address that may carry
// security settings.
func kadmClient(t *testing.T, addr string) *kadm.Client { return kadm.NewClient(kgoClient(t, addr)) }

package brokertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker"
	"github.com/twmb/franz-go/pkg/kgo"
)

// CA is a certificate authority made for one test; its certificate and
// the certificates it issues are written to PEM files in a temporary
// directory.
type CA struct {
	Cert *x509.Certificate
	// File is the PEM file of Cert.
	File string
	key  *ecdsa.PrivateKey
	dir  string
}

// Issued is a certificate a CA issued, with its key.
type Issued struct {
	CertFile, KeyFile string
	TLS               tls.Certificate
}

// NewCA makes a CA named name.
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &CA{Cert: cert, key: key, dir: t.TempDir()}
	ca.File = ca.write(t, "ca.pem", "CERTIFICATE", der)
	return ca
}

// Issue returns a certificate with subject common name cn, for servers
// on 127.0.0.1 and localhost and for clients.
func (ca *CA) Issue(t testing.TB, cn string) Issued {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	serialName := serial.String()
	is := Issued{
		CertFile: ca.write(t, serialName+".pem", "CERTIFICATE", der),
		KeyFile:  ca.write(t, serialName+"-key.pem", "EC PRIVATE KEY", keyDER),
	}
	if is.TLS, err = tls.LoadX509KeyPair(is.CertFile, is.KeyFile); err != nil {
		t.Fatal(err)
	}
	return is
}

func (ca *CA) write(t testing.TB, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(ca.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Pool is a pool holding the CA's certificate.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// WithTLS makes the Kafka listener speak TLS with a certificate ca
// issues; with clientCA, clients must present a certificate it signed.
func WithTLS(t testing.TB, ca, clientCA *CA) func(*broker.Config) {
	server := ca.Issue(t, "strata")
	return func(cfg *broker.Config) {
		cfg.TLSCert, cfg.TLSKey = server.CertFile, server.KeyFile
		if clientCA != nil {
			cfg.TLSClientCA = clientCA.File
		}
	}
}

// WithPeerTLS makes ca the peer CA and gives the node a certificate it
// issues, with common name node-ID: mutual TLS between the nodes
// (--peer-tls-*). Meant for StartCluster, whose mutate functions run once
// per node.
func WithPeerTLS(t testing.TB, ca *CA) func(*broker.Config) {
	return func(cfg *broker.Config) {
		is := ca.Issue(t, fmt.Sprintf("node-%d", cfg.NodeID))
		cfg.PeerTLSCert, cfg.PeerTLSKey, cfg.PeerTLSCA = is.CertFile, is.KeyFile, ca.File
	}
}

// DialTLS is the client option to reach a listener whose certificate ca
// issued, presenting the client certificates given.
func DialTLS(ca *CA, certs ...tls.Certificate) kgo.Opt {
	return kgo.DialTLSConfig(&tls.Config{RootCAs: ca.Pool(), Certificates: certs, MinVersion: tls.VersionTLS12})
}

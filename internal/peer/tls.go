package peer

// Mutual TLS between the nodes of a cluster (--peer-tls-cert,
// --peer-tls-key, --peer-tls-ca). Every node holds a certificate the
// cluster's peer CA signed and uses it both ways: its inter-broker and
// controller listeners require a client certificate the CA signed, and it
// presents its own when it dials another node, whose certificate it checks
// against the same CA.
//
// Host names are not checked: a node dials addresses taken from
// --controllers, from raft's configuration and from other brokers'
// registrations, and every certificate the peer CA signed is a member of
// the cluster with the same rights, so the CA is what identifies the
// cluster. It should sign node certificates only.

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// TLS holds the two sides of mutual TLS between nodes.
type TLS struct {
	// Listener is the inter-broker and controller listeners' config: the
	// node's certificate, and client certificates required and verified
	// against the peer CA.
	Listener *tls.Config
	// Dialer is the config of connections to other nodes: the node's
	// certificate, and the peer's checked against the peer CA.
	Dialer *tls.Config
}

// LoadTLS reads a node's PEM certificate chain and key and the peer CA's
// PEM certificates.
func LoadTLS(certFile, keyFile, caFile string) (*TLS, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("peer TLS: certificate %s and key %s: %w", certFile, keyFile, err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("peer TLS: CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("peer TLS: CA: no PEM certificate in %s", caFile)
	}
	return NewTLS(cert, pool), nil
}

// NewTLS returns the configs for a node holding cert in a cluster whose
// peer CAs are in pool.
func NewTLS(cert tls.Certificate, pool *x509.CertPool) *TLS {
	listener := &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}
	dialer := &tls.Config{
		// Always presented: with Certificates Go's client would send none
		// when the listener's CAs did not sign it, and the listener would
		// log a missing certificate instead of one of another CA.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil },
		MinVersion:           tls.VersionTLS12,
		// Go's own verification would also match the dialed host name
		// against the certificate; VerifyConnection does all of it but
		// that (see the top of this file).
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyChain(cs.PeerCertificates, pool, x509.ExtKeyUsageServerAuth)
		},
	}
	return &TLS{Listener: listener, Dialer: dialer}
}

// verifyChain checks that the first certificate of chain was signed by a
// CA of roots (through the others) and may be used for usage.
func verifyChain(chain []*x509.Certificate, roots *x509.CertPool, usage x509.ExtKeyUsage) error {
	if len(chain) == 0 {
		return errors.New("peer TLS: the peer presented no certificate")
	}
	opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool(), KeyUsages: []x509.ExtKeyUsage{usage}}
	for _, c := range chain[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := chain[0].Verify(opts); err != nil {
		return fmt.Errorf("peer TLS: certificate of %q: %w", chain[0].Subject.CommonName, err)
	}
	return nil
}

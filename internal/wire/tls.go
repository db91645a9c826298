package wire

// TLS on the Kafka listener (Config.TLS): the handshake runs before the
// first request, bounded by tlsHandshakeTimeout. With Config.CertAuth
// (mTLS) the connection's identity comes from the verified client
// certificate: its subject common name, which the CertAuthenticator maps
// to a tenant and principal (an API key). No certificate, one the client
// CAs did not sign (refused by the handshake itself), or a name that maps
// to nothing closes the connection after a log line.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"
)

// tlsHandshakeTimeout bounds a client's TLS handshake.
const tlsHandshakeTimeout = 10 * time.Second

// MechanismMTLS is Conn.Mechanism of a connection authenticated by its
// client certificate.
const MechanismMTLS = "MTLS"

// CertAuthenticator names the identity of a client certificate.
type CertAuthenticator interface {
	// Identify returns the identity a verified certificate's subject
	// common name stands for; false if none (unknown or revoked).
	Identify(commonName string) (Identity, bool)
}

func (c *conn) handshakeTLS(ctx context.Context, tc *tls.Conn) error {
	hctx, cancel := context.WithTimeout(ctx, tlsHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	auth := c.srv.cfg.CertAuth
	if auth == nil {
		return nil
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return errors.New("no client certificate") // the handshake requires one; asserted here
	}
	cn := certs[0].Subject.CommonName
	id, ok := auth.Identify(cn)
	if !ok {
		return fmt.Errorf("client certificate %q names no API key", cn)
	}
	// Published before it is checked again, as for SASL: a revocation
	// racing with this handshake is caught here or by the sweep that
	// follows it (Server.CloseConnections).
	c.identity.Store(&id)
	if _, ok := auth.Identify(cn); !ok {
		return fmt.Errorf("client certificate %q: the key was revoked meanwhile", cn)
	}
	c.info.Tenant, c.info.Principal, c.info.Mechanism = id.Tenant, id.Principal, MechanismMTLS
	c.log.Debug("authenticated", "tenant", id.Tenant, "principal", id.Principal, "mechanism", MechanismMTLS)
	return nil
}

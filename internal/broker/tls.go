package broker

import (
	"crypto/tls"
	"fmt"
	"os"
	"strings"

	"github.com/strata-db/strata/internal/peer"
)

// nodeTLS is the TLS material of the peer links and the HTTP listener,
// loaded by Start before anything listens, so that an unreadable file is
// a start-up error naming its flag. (The Kafka listener's is loaded with
// the listener.) The HTTP and Kafka listeners' certificates are read again
// when their files change (reloadingTLS); the peer links' are not.
type nodeTLS struct {
	peer *peer.TLS   // --peer-tls-*; nil: plaintext peer links
	http *tls.Config // --http-tls-*; nil: plain HTTP
}

// peerDialer is the TLS config of connections to other nodes, nil without
// peer TLS.
func (t nodeTLS) peerDialer() *tls.Config {
	if t.peer == nil {
		return nil
	}
	return t.peer.Dialer
}

// peerTLS reports whether the peer links use TLS.
func (c *Config) peerTLS() bool {
	return c.PeerTLSCert != "" || c.PeerTLSKey != "" || c.PeerTLSCA != ""
}

// validatePeerTLS checks that the peer TLS flags come together.
func (c *Config) validatePeerTLS() error {
	if !c.peerTLS() {
		return nil
	}
	var missing []string
	for _, f := range []struct{ flag, v string }{
		{"--peer-tls-cert", c.PeerTLSCert}, {"--peer-tls-key", c.PeerTLSKey}, {"--peer-tls-ca", c.PeerTLSCA},
	} {
		if f.v == "" {
			missing = append(missing, f.flag)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("broker: --peer-tls-cert, --peer-tls-key and --peer-tls-ca go together; missing: %s", strings.Join(missing, ", "))
	}
	return nil
}

func loadTLS(cfg Config) (nodeTLS, error) {
	var t nodeTLS
	if cfg.peerTLS() {
		// First, so that the error names the flag of an unreadable file.
		for _, f := range []struct{ flag, file string }{
			{"--peer-tls-cert", cfg.PeerTLSCert}, {"--peer-tls-key", cfg.PeerTLSKey}, {"--peer-tls-ca", cfg.PeerTLSCA},
		} {
			if err := readable(f.flag, f.file); err != nil {
				return t, err
			}
		}
		p, err := peer.LoadTLS(cfg.PeerTLSCert, cfg.PeerTLSKey, cfg.PeerTLSCA)
		if err != nil {
			return t, fmt.Errorf("broker: %w", err)
		}
		t.peer = p
	}
	if cfg.HTTPTLSCert != "" {
		for _, f := range []struct{ flag, file string }{{"--http-tls-cert", cfg.HTTPTLSCert}, {"--http-tls-key", cfg.HTTPTLSKey}} {
			if err := readable(f.flag, f.file); err != nil {
				return t, err
			}
		}
		var err error
		if t.http, err = newReloadingTLS(cfg.HTTPTLSCert, cfg.HTTPTLSKey, "", cfg.Logger); err != nil {
			return t, fmt.Errorf("broker: HTTP TLS: certificate %s and key %s: %w", cfg.HTTPTLSCert, cfg.HTTPTLSKey, err)
		}
	}
	return t, nil
}

// readable names the flag of a file that cannot be read.
func readable(flag, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("broker: %s: %w", flag, err)
	}
	f.Close()
	return nil
}

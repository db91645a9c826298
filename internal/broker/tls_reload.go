package broker

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// reloadingTLS serves a listener's certificate, and the CA its clients'
// certificates must chain to, from files that are read again when they
// change: certificates are rotated by replacing the files, without a
// restart, and connections already open keep theirs. The files' sizes and
// modification times are looked at, at most once a second, when a client
// starts a handshake. A set of files that does not load (a certificate
// replaced before its key, say) is logged, and the last good one is kept
// until the files change again.
type reloadingTLS struct {
	cert, key, ca string // ca: "" for no client certificates
	log           *slog.Logger

	mu      sync.Mutex  // guards the rest
	checked time.Time   // when the files were last looked at
	stamp   string      // their sizes and times then
	current *tls.Config // the last set that loaded
}

// reloadInterval is how often, at most, the files are looked at.
const reloadInterval = time.Second

// newReloadingTLS loads the files and returns the listener's config; with
// a CA, client certificates are required and verified.
func newReloadingTLS(cert, key, ca string, log *slog.Logger) (*tls.Config, error) {
	r := &reloadingTLS{cert: cert, key: key, ca: ca, log: log}
	r.stamp = r.stampFiles()
	cfg, err := r.load()
	if err != nil {
		return nil, err
	}
	r.current, r.checked = cfg, time.Now()
	// The outer config is what the wire layer inspects (ClientAuth); each
	// handshake runs with the current one.
	return &tls.Config{MinVersion: tls.VersionTLS12, ClientAuth: cfg.ClientAuth, ClientCAs: cfg.ClientCAs,
		Certificates: cfg.Certificates, GetConfigForClient: r.forHandshake}, nil
}

func (r *reloadingTLS) forHandshake(*tls.ClientHelloInfo) (*tls.Config, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) < reloadInterval {
		return r.current, nil
	}
	r.checked = time.Now()
	if stamp := r.stampFiles(); stamp != r.stamp {
		r.stamp = stamp
		cfg, err := r.load()
		if err != nil {
			r.log.Warn("TLS files changed but do not load; keeping the previous certificate", "cert", r.cert, "err", err)
		} else {
			r.current = cfg
			r.log.Info("TLS certificate reloaded", "cert", r.cert, "client_ca", r.ca)
		}
	}
	return r.current, nil
}

// stampFiles is the files' sizes and modification times (or the errors of
// looking at them).
func (r *reloadingTLS) stampFiles() string {
	var s []byte
	for _, f := range []string{r.cert, r.key, r.ca} {
		if f == "" {
			continue
		}
		fi, err := os.Stat(f)
		if err != nil {
			s = fmt.Appendf(s, "%s: %v;", f, err)
			continue
		}
		s = fmt.Appendf(s, "%s: %d %d;", f, fi.Size(), fi.ModTime().UnixNano())
	}
	return string(s)
}

func (r *reloadingTLS) load() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(r.cert, r.key)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if r.ca != "" {
		pem, err := os.ReadFile(r.ca)
		if err != nil {
			return nil, fmt.Errorf("TLS client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("TLS client CA: no PEM certificate in " + r.ca)
		}
		tc.ClientCAs, tc.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

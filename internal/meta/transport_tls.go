package meta

// Peer TLS on the controller listener (Config.ListenTLS, DialTLS). Raft's
// NetworkTransport runs over the muxListener's Accept and Dial, so TLS
// here covers raft (voters and the non-voters that follow the log) as
// well as the controller requests: forwarded proposals, broker
// registration and heartbeats, cluster-id checks. The handshake comes
// before the one-byte preamble, so a plaintext peer is refused before it
// can name a protocol.

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// dialController connects to a controller listener at addr within
// dialTimeout, then, with tc, finishes a TLS handshake within
// preambleTimeout (both bounded by ctx).
func dialController(ctx context.Context, addr string, dialTimeout time.Duration, tc *tls.Config) (net.Conn, error) {
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil || tc == nil {
		return c, err
	}
	hctx, cancel := context.WithTimeout(ctx, preambleTimeout)
	defer cancel()
	tconn := tls.Client(c, tc)
	if err := tconn.HandshakeContext(hctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("peer TLS handshake with %s: %w", addr, err)
	}
	return tconn, nil
}

// handshake runs the server side of a TLS handshake on an accepted
// connection within preambleTimeout: the peer must present a certificate
// the peer CA signed (listenTLS requires and verifies it).
func (m *muxListener) handshake(c net.Conn) (net.Conn, error) {
	tc := tls.Server(c, m.listenTLS)
	ctx, cancel := context.WithTimeout(context.Background(), preambleTimeout)
	defer cancel()
	go func() {
		// A listener closing must not wait for a stalled handshake; once
		// the handshake is done, cancelling no longer touches c.
		select {
		case <-ctx.Done():
		case <-m.closed:
			cancel()
		}
	}()
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
}

// refusalInterval is how often a refused peer address is logged: a node
// that keeps retrying (every 50 ms while it starts) leaves one line per
// interval, with the count of the refusals in between.
const refusalInterval = 10 * time.Second

// maxRefusalHosts bounds the (host, reason) pairs refusalLog remembers;
// beyond it the memory is dropped and every pair may log again.
const maxRefusalHosts = 1024

// refusalLog logs refused connections at most once per host and reason
// per refusalInterval. Safe for concurrent use; the zero value is ready.
type refusalLog struct {
	mu    sync.Mutex
	hosts map[string]*refusals
}

type refusals struct {
	logged     time.Time
	suppressed int
}

func (r *refusalLog) refuse(log *slog.Logger, remote net.Addr, err error) {
	host := remote.String()
	if h, _, splitErr := net.SplitHostPort(host); splitErr == nil {
		host = h
	}
	// The reason without the remote port, which changes per connection.
	key := host + " " + strings.ReplaceAll(err.Error(), remote.String(), host)
	now := time.Now()
	r.mu.Lock()
	if r.hosts == nil || len(r.hosts) >= maxRefusalHosts {
		r.hosts = map[string]*refusals{}
	}
	st := r.hosts[key]
	if st == nil {
		st = &refusals{}
		r.hosts[key] = st
	}
	if !st.logged.IsZero() && now.Sub(st.logged) < refusalInterval {
		st.suppressed++
		r.mu.Unlock()
		return
	}
	suppressed := st.suppressed
	st.logged, st.suppressed = now, 0
	r.mu.Unlock()
	log.Warn("refusing controller-listener connection: peer TLS handshake failed (the peer needs a certificate the peer CA signed, and to trust it)",
		"remote", remote.String(), "err", err, "refused_since_last_line", suppressed)
}

// Package wire serves the Kafka protocol on TCP connections: framing,
// request headers, version checks, per-connection ordering and limits. It
// decodes requests with kmsg and hands them to the handlers of a Mux.
package wire

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config bounds what one connection may cost.
type Config struct {
	// MaxRequestBytes is socket.request.max.bytes: a larger frame closes
	// the connection before its body is read.
	MaxRequestBytes int32
	// IdleTimeout is connections.max.idle.ms: a connection with no request
	// for this long is closed; it also bounds a stalled write.
	IdleTimeout time.Duration
	// MaxQueuedRequests bounds the requests read ahead, and the responses
	// waiting to be written, per connection.
	MaxQueuedRequests int
	// MaxQueuedBytes is queued.max.request.bytes: the bytes of requests
	// larger than smallFrame read and not yet handled, over all
	// connections; a connection that would pass it waits before reading
	// the body (TCP backpressure on its client). 0: unbounded.
	MaxQueuedBytes int64
	// MaxConnections is max.connections: connections beyond it are closed
	// as soon as they are accepted. 0: unbounded.
	MaxConnections int
	// DefaultTenant is assigned to every connection of a listener without
	// authentication.
	DefaultTenant string
	// Auth, when set, makes the listener require SASL (sasl.go): the
	// tenant of a connection is then its credential's.
	Auth Authenticator
	// MaxReauth is connections.max.reauth.ms: an authenticated session
	// expires after this long unless the client re-authenticates; 0: never.
	MaxReauth time.Duration
	// TLS, when set, makes the listener speak TLS (tls.go); with client
	// certificates required and verified, CertAuth may name identities.
	TLS *tls.Config
	// CertAuth, when set (mTLS), makes a connection's identity the one its
	// verified client certificate names, instead of SASL's; requires TLS.
	CertAuth CertAuthenticator
	// Quotas, when set, admits connections and throttles tenants
	// (quota.go).
	Quotas     Quotas
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		MaxRequestBytes:   100 << 20,
		IdleTimeout:       10 * time.Minute,
		MaxQueuedRequests: 4,
	}
}

// Validate reports a config that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.MaxRequestBytes < 1024:
		return fmt.Errorf("wire: max request bytes %d is below 1 KiB", c.MaxRequestBytes)
	case c.IdleTimeout <= 0:
		return fmt.Errorf("wire: idle timeout must be positive")
	case c.MaxQueuedRequests < 1:
		return fmt.Errorf("wire: max queued requests must be at least 1")
	case c.MaxQueuedBytes > 0 && c.MaxQueuedBytes < int64(c.MaxRequestBytes):
		return fmt.Errorf("wire: queued.max.request.bytes %d is below socket.request.max.bytes %d", c.MaxQueuedBytes, c.MaxRequestBytes)
	case c.MaxConnections < 0:
		return fmt.Errorf("wire: max connections must not be negative")
	case c.MaxReauth < 0:
		return fmt.Errorf("wire: max re-authentication time must not be negative")
	case c.CertAuth != nil && (c.TLS == nil || c.TLS.ClientAuth != tls.RequireAndVerifyClientCert):
		return fmt.Errorf("wire: certificate authentication needs TLS with verified client certificates")
	case c.CertAuth != nil && c.Auth != nil:
		return fmt.Errorf("wire: certificate and SASL authentication are exclusive")
	}
	return nil
}

// Server accepts connections and serves them until Shutdown.
type Server struct {
	cfg     Config
	mux     *Mux
	log     *slog.Logger
	metrics *metrics
	limits  *limits

	ctx    context.Context // handlers' context; cancelled when shutdown starts
	cancel context.CancelFunc

	nextID   atomic.Uint64
	stopping atomic.Bool

	mu    sync.Mutex
	lns   []net.Listener
	conns map[*conn]struct{}
	wg    sync.WaitGroup // one per live connection
}

// NewServer returns a server for the mux's APIs.
func NewServer(cfg Config, mux *Mux) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	registerSASL(mux)
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, mux: mux, log: cfg.Logger, metrics: m, limits: newLimits(cfg), ctx: ctx, cancel: cancel, conns: map[*conn]struct{}{}}, nil
}

// Serve accepts connections on ln until it is closed by Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.stopping.Load() {
		s.mu.Unlock()
		ln.Close()
		return net.ErrClosed
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.stopping.Load() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("wire: accept: %w", err)
		}
		s.start(nc)
	}
}

func (s *Server) start(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	id := s.nextID.Add(1)
	info := &Conn{ID: id, Remote: nc.RemoteAddr().String(), Local: nc.LocalAddr().String(), Tenant: s.cfg.DefaultTenant}
	if s.cfg.Auth != nil || s.cfg.CertAuth != nil {
		info.Tenant = "" // until authenticated
	}
	if s.cfg.TLS != nil {
		nc = tls.Server(nc, s.cfg.TLS)
	}
	c := &conn{srv: s, nc: nc, info: info, log: s.log.With("conn", id, "remote", info.Remote)}
	s.mu.Lock()
	if s.stopping.Load() {
		s.mu.Unlock()
		nc.Close()
		return
	}
	if max := s.cfg.MaxConnections; max > 0 && len(s.conns) >= max {
		s.mu.Unlock()
		s.refuseConnection(info.Remote)
		nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	s.metrics.connections.Inc()
	go func() {
		defer s.wg.Done()
		defer s.metrics.connections.Dec()
		c.serve(s.ctx)
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
}

// Shutdown stops accepting, stops reading new requests, lets the requests
// already read finish and their responses be written, then closes every
// connection. Long polls end early because handlers' context is cancelled.
// When ctx ends first, remaining connections are closed at once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.stopping.Store(true)
	for _, ln := range s.lns {
		ln.Close()
	}
	for c := range s.conns {
		c.nc.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()
	s.cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

// CloseConnections closes at once every authenticated connection whose
// identity match reports true (a deleted tenant, a revoked key), and
// returns how many it closed. Requests in flight on them get no answer.
// Safe to call from any goroutine.
func (s *Server) CloseConnections(match func(Identity) bool, reason string) int {
	s.mu.Lock()
	var victims []*conn
	for c := range s.conns {
		if id := c.identity.Load(); id != nil && match(*id) && c.revoked.CompareAndSwap(false, true) {
			victims = append(victims, c)
		}
	}
	s.mu.Unlock()
	for _, c := range victims {
		id := c.identity.Load()
		c.log.Info("closing connection: "+reason, "tenant", id.Tenant, "principal", id.Principal)
		c.nc.Close()
	}
	return len(victims)
}

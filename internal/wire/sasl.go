package wire

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SASL on the Kafka listener, as Kafka does it:
//
//   - KIP-43: a connection starts with ApiVersions (optional) and
//     SaslHandshake, which picks a mechanism. After a v0 handshake the
//     mechanism's messages follow as bare size-prefixed tokens; after v1
//     they travel in SaslAuthenticate requests (KIP-152), whose failures
//     carry SASL_AUTHENTICATION_FAILED and a message.
//   - Before authentication only ApiVersions, SaslHandshake and
//     SaslAuthenticate are allowed; anything else closes the connection.
//     An unknown mechanism answers UNSUPPORTED_SASL_MECHANISM and closes;
//     a failed exchange answers SASL_AUTHENTICATION_FAILED, logs a line
//     and closes. The client's message says nothing about why, so it
//     cannot probe which keys exist.
//   - KIP-368: with MaxReauth set, SaslAuthenticate v1+ tells the client
//     its session lifetime; the client re-authenticates in-band
//     (SaslHandshake v1 + SaslAuthenticate) before it ends. A connection
//     whose session expired is closed at its next other request. A
//     re-authentication must keep the mechanism and the principal; one that
//     fails (a revoked key) closes the connection.
//
// The exchange runs on the connection's own goroutines: before
// authentication on the one that will become the reader, with no read
// ahead (after a v0 handshake the next frame is not a Kafka request);
// afterwards on the processor, in request order.

// Authenticator checks credentials for a listener that requires SASL.
type Authenticator interface {
	// Mechanisms lists the enabled mechanisms.
	Mechanisms() []string
	// Start begins an exchange; false if mechanism is not enabled.
	Start(mechanism string) (Exchange, bool)
	// Valid reports whether an identity an exchange returned still holds
	// (its key not revoked, its tenant not deleted). It is asked once the
	// connection has published the identity, so that a revocation racing
	// with an authentication is caught either here or by the sweep that
	// follows it (Server.CloseConnections).
	Valid(id Identity) bool
}

// Identity is who an authenticated connection is.
type Identity struct {
	Tenant, Principal string
}

// Exchange is one SASL authentication in progress.
type Exchange interface {
	// Step consumes a client message and returns the reply. An error
	// fails the authentication; its text goes to the log only.
	Step(msg []byte) (reply []byte, done bool, err error)
	// Identity is the authenticated principal and its tenant once Step
	// reported done.
	Identity() (principal, tenant string)
}

const (
	saslHandshakeKey    = 17
	saslAuthenticateKey = 36
	// preAuthMaxBytes is Kafka's sasl.server.max.receive.size: the largest
	// frame an unauthenticated client may send.
	preAuthMaxBytes = 512 << 10
)

// authState is a connection's SASL state.
type authState struct {
	exchange         Exchange // set between a handshake and the end of its exchange
	pendingMechanism string
	handshakeVersion int16
	// expires is when the session ends without re-authentication; zero
	// for never.
	expires time.Time
}

// errAuthClose closes a connection whose authentication failed; the reason
// is already logged.
var errAuthClose = fmt.Errorf("%w: authentication failed", ErrCloseConnection)

// registerSASL adds SaslHandshake and SaslAuthenticate to the mux, so that
// ApiVersions lists them. On a listener with authentication the connection
// answers them itself; without, they answer ILLEGAL_SASL_STATE as Kafka's
// PLAINTEXT listeners do.
func registerSASL(m *Mux) {
	if _, ok := m.Lookup(saslHandshakeKey); !ok {
		m.Register(API{Key: saslHandshakeKey, MinVersion: 0, MaxVersion: 1, Handle: illegalSASLState})
	}
	if _, ok := m.Lookup(saslAuthenticateKey); !ok {
		m.Register(API{Key: saslAuthenticateKey, MinVersion: 0, MaxVersion: 2, Handle: illegalSASLState})
	}
}

func illegalSASLState(_ context.Context, r *Request) (kmsg.Response, error) {
	switch req := r.Body.(type) {
	case *kmsg.SASLHandshakeRequest:
		resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
		resp.ErrorCode = kerr.IllegalSaslState.Code
		return resp, nil
	case *kmsg.SASLAuthenticateRequest:
		resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "this listener does not use SASL"
		resp.ErrorMessage = &msg
		return resp, nil
	}
	return nil, fmt.Errorf("wire: %T is not a SASL request", r.Body)
}

// authenticate runs the exchange that must open a connection on a listener
// with authentication. It returns nil once authenticated.
func (c *conn) authenticate(ctx context.Context, br *bufio.Reader) error {
	raw := false // after a v0 handshake: bare tokens
	for {
		frame, err := c.readFrame(br, min(preAuthMaxBytes, c.srv.cfg.MaxRequestBytes), "sasl.server.max.receive.size")
		if err != nil {
			return err
		}
		if raw {
			done, err := c.rawToken(frame)
			if err != nil || done {
				return err
			}
			continue
		}
		p, err := c.decode(frame)
		if err != nil {
			return err
		}
		if p.req == nil { // an ApiVersions version we do not serve
			if err := c.writeNow(p.frame); err != nil {
				return err
			}
			continue
		}
		var out []byte
		done := false
		switch p.req.Key {
		case apiVersionsKey:
			out, err = c.handle(ctx, &p)
		case saslHandshakeKey:
			out, err = c.saslHandshake(p.req, false)
			raw = err == nil && p.req.Version == 0
		case saslAuthenticateKey:
			out, done, err = c.saslAuthenticate(p.req, false)
		default:
			c.log.Info("closing connection: request before authentication", "api", kmsg.NameForKey(p.req.Key))
			return errAuthClose
		}
		if out != nil {
			if werr := c.writeNow(out); werr != nil {
				return werr
			}
		}
		if err != nil || done {
			return err
		}
	}
}

// rawToken feeds one bare token (after a v0 handshake) to the exchange and
// writes the bare reply.
func (c *conn) rawToken(token []byte) (done bool, err error) {
	reply, done, err := c.auth.exchange.Step(token)
	if err != nil {
		c.logAuthFailure(false, err)
		return false, errAuthClose
	}
	out := binary.BigEndian.AppendUint32(nil, uint32(len(reply)))
	if err := c.writeNow(append(out, reply...)); err != nil {
		return false, err
	}
	if done {
		return true, c.finishAuth(false)
	}
	return false, nil
}

// handleAuthenticated serves a request of an authenticated connection:
// re-authentication requests here, the rest by their handlers unless the
// session expired.
func (c *conn) handleAuthenticated(ctx context.Context, p *pending) ([]byte, error) {
	switch p.req.Key {
	case saslHandshakeKey:
		return c.saslHandshake(p.req, true)
	case saslAuthenticateKey:
		out, _, err := c.saslAuthenticate(p.req, true)
		return out, err
	}
	if !c.auth.expires.IsZero() && time.Now().After(c.auth.expires) {
		c.log.Info("closing connection: SASL session expired without re-authentication",
			"tenant", c.info.Tenant, "principal", c.info.Principal, "api", kmsg.NameForKey(p.req.Key))
		return nil, ErrCloseConnection
	}
	return c.handle(ctx, p)
}

// saslHandshake picks the mechanism of an exchange.
func (c *conn) saslHandshake(r *Request, reauth bool) ([]byte, error) {
	req := r.Body.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = c.srv.cfg.Auth.Mechanisms()
	fail := func(code int16, why string) ([]byte, error) {
		resp.ErrorCode = code
		c.log.Warn("SASL handshake refused", "mechanism", req.Mechanism, "reauth", reauth, "reason", why)
		return encodeResponse(r, resp), errAuthClose
	}
	switch {
	case c.auth.exchange != nil:
		return fail(kerr.IllegalSaslState.Code, "a handshake is already in progress")
	case reauth && r.Version == 0:
		return fail(kerr.IllegalSaslState.Code, "re-authentication needs SaslHandshake v1")
	case reauth && req.Mechanism != c.info.Mechanism:
		return fail(kerr.IllegalSaslState.Code, "re-authentication may not change the mechanism")
	case !slices.Contains(resp.SupportedMechanisms, req.Mechanism):
		return fail(kerr.UnsupportedSaslMechanism.Code, "mechanism not enabled")
	}
	ex, ok := c.srv.cfg.Auth.Start(req.Mechanism)
	if !ok {
		return fail(kerr.UnsupportedSaslMechanism.Code, "mechanism not enabled")
	}
	c.auth.exchange, c.auth.pendingMechanism, c.auth.handshakeVersion = ex, req.Mechanism, r.Version
	return encodeResponse(r, resp), nil
}

// saslAuthenticate runs one step of the exchange started by the handshake.
func (c *conn) saslAuthenticate(r *Request, reauth bool) (out []byte, done bool, err error) {
	req := r.Body.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	if c.auth.exchange == nil || c.auth.handshakeVersion == 0 {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate without a SaslHandshake v1 first"
		resp.ErrorMessage = &msg
		c.log.Warn("SASL authenticate refused", "reauth", reauth, "reason", msg)
		return encodeResponse(r, resp), false, errAuthClose
	}
	reply, done, err := c.auth.exchange.Step(req.SASLAuthBytes)
	if err == nil && done {
		err = c.finishAuth(reauth)
	}
	if err != nil {
		if !errors.Is(err, errAuthClose) {
			c.logAuthFailure(reauth, err)
		}
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := "Authentication failed: invalid credentials with SASL mechanism " + c.auth.pendingMechanism
		resp.ErrorMessage = &msg
		c.auth.exchange = nil
		return encodeResponse(r, resp), false, errAuthClose
	}
	resp.SASLAuthBytes = reply
	if done && c.srv.cfg.MaxReauth > 0 {
		resp.SessionLifetimeMillis = c.srv.cfg.MaxReauth.Milliseconds()
	}
	return encodeResponse(r, resp), done, nil
}

// finishAuth takes the identity of a completed exchange.
func (c *conn) finishAuth(reauth bool) error {
	principal, tenant := c.auth.exchange.Identity()
	mechanism := c.auth.pendingMechanism
	c.auth.exchange = nil
	if principal == "" || tenant == "" {
		return errors.New("exchange completed without an identity")
	}
	if reauth && principal != c.info.Principal {
		c.log.Warn("SASL re-authentication refused: the principal changed", "principal", c.info.Principal)
		return errAuthClose
	}
	c.info.Principal, c.info.Tenant, c.info.Mechanism = principal, tenant, mechanism
	id := Identity{Tenant: tenant, Principal: principal}
	c.identity.Store(&id)
	if !c.srv.cfg.Auth.Valid(id) {
		c.log.Warn("SASL authentication refused: the key was revoked meanwhile", "tenant", tenant, "principal", principal)
		return errAuthClose
	}
	if c.srv.cfg.MaxReauth > 0 {
		c.auth.expires = time.Now().Add(c.srv.cfg.MaxReauth)
	}
	c.log.Debug("authenticated", "tenant", tenant, "principal", principal, "mechanism", mechanism, "reauth", reauth)
	return nil
}

func (c *conn) logAuthFailure(reauth bool, err error) {
	c.log.Warn("SASL authentication failed", "mechanism", c.auth.pendingMechanism, "reauth", reauth, "err", err)
}

// writeNow writes a frame before the writer goroutine runs.
func (c *conn) writeNow(frame []byte) error {
	c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.IdleTimeout))
	_, err := c.nc.Write(frame)
	if err == nil {
		c.srv.metrics.bytesOut.Add(float64(len(frame)))
	}
	return err
}

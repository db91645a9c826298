package wire

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeAuth accepts one-message exchanges "tenant/principal" and holds a
// set of revoked principals.
type fakeAuth struct {
	mu      sync.Mutex
	revoked map[string]bool
}

func (a *fakeAuth) Mechanisms() []string { return []string{"FAKE"} }

func (a *fakeAuth) Start(mechanism string) (Exchange, bool) {
	return &fakeExchange{}, mechanism == "FAKE"
}

func (a *fakeAuth) Valid(id Identity) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return !a.revoked[id.Principal]
}

func (a *fakeAuth) revoke(principal string) {
	a.mu.Lock()
	a.revoked[principal] = true
	a.mu.Unlock()
}

type fakeExchange struct{ id Identity }

func (e *fakeExchange) Step(msg []byte) ([]byte, bool, error) {
	e.id.Tenant, e.id.Principal, _ = strings.Cut(string(msg), "/")
	return nil, true, nil
}

func (e *fakeExchange) Identity() (string, string) { return e.id.Principal, e.id.Tenant }

// authenticate runs SaslHandshake v1 and SaslAuthenticate v1 on c and
// returns the SaslAuthenticate error code.
func authenticate(t *testing.T, c net.Conn, who string, corr int32) int16 {
	t.Helper()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Mechanism = "FAKE"
	c.Write(frame(hs, 1, corr))
	readFrame(t, c)
	ar := kmsg.NewPtrSASLAuthenticateRequest()
	ar.SASLAuthBytes = []byte(who)
	c.Write(frame(ar, 1, corr+1))
	resp := kmsg.NewPtrSASLAuthenticateResponse()
	resp.SetVersion(1)
	if err := resp.ReadFrom(readFrame(t, c)[4:]); err != nil {
		t.Fatal(err)
	}
	return resp.ErrorCode
}

func saslServer(t *testing.T) (*Server, string, *fakeAuth) {
	auth := &fakeAuth{revoked: map[string]bool{}}
	s, addr := testServer(t, func(c *Config) { c.Auth = auth }, 0)
	return s, addr, auth
}

// TestCloseConnections: connections matching a tenant or a principal are
// closed at once; others and unauthenticated ones stay.
func TestCloseConnections(t *testing.T) {
	s, addr, _ := saslServer(t)
	a1, a2, b := dial(t, addr), dial(t, addr), dial(t, addr)
	pre := dial(t, addr) // not authenticated: never matched
	for i, c := range []struct {
		conn net.Conn
		who  string
	}{{a1, "lc-a/k1"}, {a2, "lc-a/k2"}, {b, "lc-b/k3"}} {
		if code := authenticate(t, c.conn, c.who, int32(10*i)); code != 0 {
			t.Fatalf("authenticate %s: %v", c.who, kerr.ErrorForCode(code))
		}
	}
	if n := s.CloseConnections(func(id Identity) bool { return id.Principal == "k1" }, "test"); n != 1 {
		t.Fatalf("closed %d by principal, want 1", n)
	}
	expectClosed(t, a1)
	if n := s.CloseConnections(func(id Identity) bool { return id.Tenant == "lc-a" }, "test"); n != 1 {
		t.Fatalf("closed %d by tenant, want 1", n)
	}
	expectClosed(t, a2)
	for i, c := range []net.Conn{b, pre} {
		c.Write(frame(kmsg.NewPtrApiVersionsRequest(), 0, int32(100+i)))
		readFrame(t, c)
	}
}

// TestRevokedWhileAuthenticating: a key revoked between the exchange's
// lookup and the end of the authentication fails it; a re-authentication
// with a revoked key fails and closes (KIP-368).
func TestRevokedWhileAuthenticating(t *testing.T) {
	_, addr, auth := saslServer(t)
	auth.revoke("gone")
	c := dial(t, addr)
	if code := authenticate(t, c, "lc-a/gone", 1); code != kerr.SaslAuthenticationFailed.Code {
		t.Fatalf("revoked key: code %d", code)
	}
	expectClosed(t, c)

	c = dial(t, addr)
	if code := authenticate(t, c, "lc-a/k", 1); code != 0 {
		t.Fatalf("authenticate: %v", kerr.ErrorForCode(code))
	}
	auth.revoke("k")
	if code := authenticate(t, c, "lc-a/k", 3); code != kerr.SaslAuthenticationFailed.Code {
		t.Fatalf("re-authentication with a revoked key: code %d", code)
	}
	expectClosed(t, c)
}

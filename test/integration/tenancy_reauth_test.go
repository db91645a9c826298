package integration

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker"
	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/strata-db/strata/internal/sasl"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func shortReauth(c *broker.Config) { c.Static["connections.max.reauth.ms"] = "1000" }

// TestReauthentication: franz-go re-authenticates within the session
// lifetime and keeps producing; once its key is revoked, the next
// re-authentication fails and the connection ends.
func TestReauthentication(t *testing.T) {
	b, cred, _ := twoTenants(t, shortReauth)
	ctx := brokertest.Context(t, 60*time.Second)
	cl := brokertest.SASLClient(t, b.KafkaAddr(), cred, kgo.DefaultProduceTopic("t"), kgo.RequestRetries(0),
		kgo.RecordDeliveryTimeout(3*time.Second))
	brokertest.CreateTopic(t, kadm.NewClient(cl), "t", 1, nil)
	deadline := time.Now().Add(3 * time.Second) // three session lifetimes
	for time.Now().Before(deadline) {
		if err := cl.ProduceSync(ctx, kgo.StringRecord("v")).FirstErr(); err != nil {
			t.Fatalf("produce across re-authentications: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := brokertest.AdminCall(t, b.HTTPAddr(), "DELETE", "/v1/keys/"+cred.Key, nil, nil); st != http.StatusNoContent {
		t.Fatalf("revoke: HTTP %d", st)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		err := cl.ProduceSync(ctx, kgo.StringRecord("v")).FirstErr()
		if errors.Is(err, kerr.SaslAuthenticationFailed) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still producing 10s after revocation (last: %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rawConn speaks the protocol by hand, for what clients do not do on
// their own: letting a session expire, re-authenticating as someone else.
type rawConn struct {
	t    *testing.T
	c    net.Conn
	corr int32
}

func dialRaw(t *testing.T, addr string) *rawConn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c}
}

// call sends a request with a v1 header (so only non-flexible versions)
// and reads its response; err is set when the connection closed instead.
func (r *rawConn) call(req kmsg.Request, version int16) (kmsg.Response, error) {
	req.SetVersion(version)
	r.corr++
	body := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	body = binary.BigEndian.AppendUint16(body, uint16(version))
	body = binary.BigEndian.AppendUint32(body, uint32(r.corr))
	body = binary.BigEndian.AppendUint16(body, 0xffff) // null client id
	body = req.AppendTo(body)
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	r.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := r.c.Write(append(frame, body...)); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(r.c, size[:]); err != nil {
		return nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(r.c, buf); err != nil {
		return nil, err
	}
	resp := req.ResponseKind()
	resp.SetVersion(version)
	if err := resp.ReadFrom(buf[4:]); err != nil {
		r.t.Fatal(err)
	}
	return resp, nil
}

// scram authenticates with SCRAM-SHA-256 over SaslAuthenticate v1 and
// returns the last response.
func (r *rawConn) scram(user, pass string) (*kmsg.SASLAuthenticateResponse, error) {
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Mechanism = sasl.ScramSHA256
	resp, err := r.call(hs, 1)
	if err != nil {
		return nil, err
	}
	if code := resp.(*kmsg.SASLHandshakeResponse).ErrorCode; code != 0 {
		return nil, kerr.ErrorForCode(code)
	}
	cl, _ := sasl.NewScramClient(sasl.ScramSHA256)
	cl.Begin(user, pass, "")
	msg, _ := cl.Step("")
	for {
		ar := kmsg.NewPtrSASLAuthenticateRequest()
		ar.SASLAuthBytes = []byte(msg)
		resp, err := r.call(ar, 1)
		if err != nil {
			return nil, err
		}
		a := resp.(*kmsg.SASLAuthenticateResponse)
		if a.ErrorCode != 0 {
			return a, kerr.ErrorForCode(a.ErrorCode)
		}
		if msg, err = cl.Step(string(a.SASLAuthBytes)); err != nil {
			r.t.Fatalf("client: %v", err)
		}
		if cl.Done() {
			return a, nil
		}
	}
}

func (r *rawConn) metadata() error {
	_, err := r.call(kmsg.NewPtrMetadataRequest(), 1)
	return err
}

// TestSessionExpiry: a connection that lets its session expire is closed at
// its next request; one that re-authenticates in time goes on; changing
// the principal at re-authentication, or re-authenticating with a
// revoked key, fails and closes.
func TestSessionExpiry(t *testing.T) {
	b, cred, other := twoTenants(t, shortReauth)

	c := dialRaw(t, b.KafkaAddr())
	if err := c.metadata(); err == nil {
		t.Fatal("metadata before authentication answered")
	}

	c = dialRaw(t, b.KafkaAddr())
	a, err := c.scram(cred.Key, cred.Secret)
	if err != nil || a.SessionLifetimeMillis != 1000 {
		t.Fatalf("authenticate: %v, lifetime %d", err, a.SessionLifetimeMillis)
	}
	time.Sleep(700 * time.Millisecond)
	if _, err := c.scram(cred.Key, cred.Secret); err != nil {
		t.Fatalf("re-authenticate: %v", err)
	}
	time.Sleep(700 * time.Millisecond) // past the first session, inside the second
	if err := c.metadata(); err != nil {
		t.Fatalf("metadata after re-authentication: %v", err)
	}
	time.Sleep(1100 * time.Millisecond)
	if err := c.metadata(); err == nil {
		t.Fatal("expired session served")
	}

	c = dialRaw(t, b.KafkaAddr())
	c.scram(cred.Key, cred.Secret)
	if _, err := c.scram(other.Key, other.Secret); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("re-authenticate as another key: %v", err)
	}
	if err := c.metadata(); err == nil {
		t.Fatal("connection open after a refused re-authentication")
	}

	// Revoking the key closes the connection at once (tenancy_purge_test.go);
	// were the re-authentication first, it would fail (internal/wire's
	// TestRevokedWhileAuthenticating). Either way the connection ends.
	c = dialRaw(t, b.KafkaAddr())
	c.scram(cred.Key, cred.Secret)
	brokertest.AdminCall(t, b.HTTPAddr(), "DELETE", "/v1/keys/"+cred.Key, nil, nil)
	if a, err := c.scram(cred.Key, cred.Secret); err == nil || (a != nil && *a.ErrorMessage != "Authentication failed: invalid credentials with SASL mechanism SCRAM-SHA-256") {
		t.Fatalf("re-authenticate with a revoked key: %v", err)
	}
	if err := c.metadata(); err == nil {
		t.Fatal("connection open after its key was revoked")
	}
}

package integration

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// dialServed opens a connection and sends ApiVersions v0 on it; it returns
// the connection if the broker answered, or the error if it closed it.
func dialServed(t *testing.T, addr string) (net.Conn, error) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	req := kmsg.NewPtrApiVersionsRequest()
	b := []byte{0, 0, 0, 0, 0, 18, 0, 0, 0, 0, 0, 1, 0, 1, 'q'}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write(b); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(c, make([]byte, binary.BigEndian.Uint32(size[:]))); err != nil {
		return nil, err
	}
	return c, nil
}

// TestConnectionQuotas: under --auth none the default tenant is held to
// its connection count and connection rate; under --auth sasl a tenant's
// connections are closed after authentication, and another tenant's are
// not.
func TestConnectionQuotas(t *testing.T) {
	b := brokertest.Start(t)
	addr := b.KafkaAddr()
	setQuotas(t, b, "lc-default", map[string]any{"connections": 2})
	t.Run("count", func(t *testing.T) {
		c1, err1 := dialServed(t, addr)
		_, err2 := dialServed(t, addr)
		if err1 != nil || err2 != nil {
			t.Fatalf("connections within the quota refused: %v, %v", err1, err2)
		}
		if _, err := dialServed(t, addr); err == nil {
			t.Fatal("third connection served with a quota of 2")
		}
		c1.Close()
		deadline := time.Now().Add(5 * time.Second)
		for {
			if _, err := dialServed(t, addr); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a closed connection's place was not freed")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t.Run("rate", func(t *testing.T) {
		setQuotas(t, b, "lc-default", map[string]any{"unset": []string{"connections"}, "connectionRate": 3})
		time.Sleep(1100 * time.Millisecond) // forget the connections above
		for i := 0; i < 3; i++ {
			if _, err := dialServed(t, addr); err != nil {
				t.Fatalf("connection %d within the rate refused: %v", i, err)
			}
		}
		if _, err := dialServed(t, addr); err == nil {
			t.Fatal("fourth connection in a second served with a rate of 3/s")
		}
		time.Sleep(1100 * time.Millisecond)
		if _, err := dialServed(t, addr); err != nil {
			t.Fatalf("connection a second later refused: %v", err)
		}
	})

	t.Run("sasl", func(t *testing.T) {
		sb, a, other := twoTenants(t)
		setQuotas(t, sb, a.Tenant, map[string]any{"connections": 0})
		ctx := brokertest.Context(t, 30*time.Second)
		short := brokertest.Context(t, 3*time.Second)
		_, err := kadm.NewClient(brokertest.SASLClient(t, sb.KafkaAddr(), a, kgo.RequestRetries(1))).ListTopics(short)
		if err == nil || errors.Is(err, kerr.SaslAuthenticationFailed) {
			t.Fatalf("tenant over its connection quota: %v, want a closed connection (not an authentication failure)", err)
		}
		if _, err := kadm.NewClient(brokertest.SASLClient(t, sb.KafkaAddr(), other)).ListTopics(ctx); err != nil {
			t.Fatalf("other tenant: %v", err)
		}
		setQuotas(t, sb, a.Tenant, map[string]any{"unset": []string{"connections"}})
		if _, err := kadm.NewClient(brokertest.SASLClient(t, sb.KafkaAddr(), a)).ListTopics(ctx); err != nil {
			t.Fatalf("after the quota was lifted: %v", err)
		}
	})
}

package peer_test

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/strata-db/strata/internal/peer"
)

// TestPeerTLSHandshakes: two nodes with certificates of the peer CA talk;
// a certificate of another CA is refused whichever side holds it, as are
// a client without a certificate, a plaintext client and TLS 1.1. Host
// names are not checked (the certificates name no such host).
func TestPeerTLSHandshakes(t *testing.T) {
	ca := brokertest.NewCA(t, "peer CA")
	rogueCA := brokertest.NewCA(t, "rogue CA")
	load := func(ca *brokertest.CA, cn string) *peer.TLS {
		is := ca.Issue(t, cn)
		p, err := peer.LoadTLS(is.CertFile, is.KeyFile, ca.File)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	server, client, rogue := load(ca, "node-1"), load(ca, "node-2"), load(rogueCA, "node-1")
	// rogueTrusting holds a rogue certificate but trusts the peer CA, so
	// that the refusal is the listener's.
	rogueTrusting := peer.NewTLS(rogueCA.Issue(t, "node-3").TLS, ca.Pool())

	noCert := client.Dialer.Clone()
	noCert.GetClientCertificate = nil
	old := client.Dialer.Clone()
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	for _, tc := range []struct {
		name             string
		listener, dialer *tls.Config // nil dialer: plaintext
		ok               bool
		serverErr        string
	}{
		{"both of the peer CA", server.Listener, client.Dialer, true, ""},
		{"a client of another CA", server.Listener, rogueTrusting.Dialer, false, "certificate signed by unknown authority"},
		{"a server of another CA", rogue.Listener, client.Dialer, false, ""},
		{"no client certificate", server.Listener, noCert, false, "didn't provide a certificate"},
		{"plaintext", server.Listener, nil, false, "first record does not look like a TLS handshake"},
		{"TLS 1.1", server.Listener, old, false, "unsupported versions"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clientErr, serverErr := handshake(t, tc.listener, tc.dialer)
			if (clientErr == nil && serverErr == nil) != tc.ok {
				t.Fatalf("client: %v, server: %v; want ok=%v", clientErr, serverErr, tc.ok)
			}
			if tc.serverErr != "" && (serverErr == nil || !strings.Contains(serverErr.Error(), tc.serverErr)) {
				t.Fatalf("server: %v, want %q", serverErr, tc.serverErr)
			}
		})
	}
}

// handshake runs one connection between a TLS listener and a dialer and
// exchanges a byte each way.
func handshake(t *testing.T, listener, dialer *tls.Config) (clientErr, serverErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		tc := tls.Server(c, listener)
		if err := tc.Handshake(); err != nil {
			done <- err
			return
		}
		b := make([]byte, 1)
		if _, err := io.ReadFull(tc, b); err != nil {
			done <- err
			return
		}
		_, err = tc.Write(b)
		done <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	rw := io.ReadWriter(c)
	if dialer != nil {
		tc := tls.Client(c, dialer)
		if err := tc.Handshake(); err != nil {
			clientErr = err
		}
		rw = tc
	} else {
		// What a plaintext peer sends first: a controller request's byte.
		c.Write([]byte("C\x00\x00\x00\x02{}"))
	}
	if clientErr == nil {
		// In TLS 1.3 the listener's verdict on the client's certificate
		// arrives after the client's handshake returned.
		if _, err := rw.Write([]byte{1}); err == nil {
			_, err = io.ReadFull(rw, make([]byte, 1))
			clientErr = err
		} else {
			clientErr = err
		}
	}
	if dialer == nil && clientErr == nil {
		clientErr = errors.New("plaintext client got an answer")
	}
	c.Close()
	return clientErr, <-done
}

func TestLoadTLSErrors(t *testing.T) {
	ca := brokertest.NewCA(t, "peer CA")
	node := ca.Issue(t, "node-1")
	for _, tc := range []struct {
		name, cert, key, ca, want string
	}{
		{"missing cert", "/nonexistent.pem", node.KeyFile, ca.File, "no such file"},
		{"missing CA", node.CertFile, node.KeyFile, "/nonexistent-ca.pem", "no such file"},
		{"CA without certificates", node.CertFile, node.KeyFile, node.KeyFile, "no PEM certificate"},
		{"key as certificate", node.KeyFile, node.KeyFile, ca.File, "certificate"},
	} {
		if _, err := peer.LoadTLS(tc.cert, tc.key, tc.ca); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

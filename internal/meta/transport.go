package meta

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// A node's controller listener carries two protocols on one port. Every
// connection starts with one byte naming its protocol:
//
//	muxRaft, then a one-byte length and the dialer's cluster id (may be
//	        empty), then hashicorp/raft's own NetworkTransport stream;
//	muxRPC, then one controller request and its response (rpc.go).
//
// The cluster id in the raft preamble keeps nodes of two clusters from
// voting in or replicating into each other's logs: a listener that knows
// its cluster id drops raft connections from a node that knows another.
//
// With peer TLS (Config.ListenTLS) a connection is a TLS session first,
// whose client certificate the peer CA signed, and the preamble travels
// inside it (transport_tls.go). The muxListener is then raft's stream
// layer over TLS.
const (
	muxRaft byte = 'R'
	muxRPC  byte = 'C'
)

// preambleTimeout bounds how long an accepted connection may take to say
// what it is.
const preambleTimeout = 5 * time.Second

// muxListener is the controller listener. It is raft's StreamLayer (Accept
// returns raft connections only) and hands RPC connections to serveRPC.
// Addr is the advertised address, which is what raft records in its
// configuration and peers dial.
type muxListener struct {
	ln        net.Listener
	advertise string
	clusterID func() string // this node's cluster id, "" when not known yet
	serveRPC  func(net.Conn)
	log       *slog.Logger
	// listenTLS and dialTLS are peer TLS (Config.ListenTLS, DialTLS);
	// nil: plaintext.
	listenTLS, dialTLS *tls.Config
	refusals           refusalLog

	raftConns chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

func listenMux(addr, advertise string, clusterID func() string, log *slog.Logger) (*muxListener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("meta: controller listener: %w", err)
	}
	bound := ln.Addr().(*net.TCPAddr)
	switch host, port, err := net.SplitHostPort(advertise); {
	case advertise == "" || err != nil:
		advertise = bound.String()
	case port == "0":
		// "host:0": the advertised host with the port the system picked.
		advertise = net.JoinHostPort(host, strconv.Itoa(bound.Port))
	}
	return &muxListener{
		ln: ln, advertise: advertise, clusterID: clusterID, log: log,
		raftConns: make(chan net.Conn), closed: make(chan struct{}),
	}, nil
}

// serve accepts connections until Close. serveRPC must be set.
func (m *muxListener) serve() {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		for {
			c, err := m.ln.Accept()
			if err != nil {
				select {
				case <-m.closed:
					return
				default:
				}
				m.log.Warn("controller listener: accept", "err", err)
				time.Sleep(50 * time.Millisecond)
				continue
			}
			m.wg.Add(1)
			go func() { defer m.wg.Done(); m.route(c) }()
		}
	}()
}

// route reads a connection's preamble and hands it to raft or to the RPC
// server.
func (m *muxListener) route(c net.Conn) {
	if m.listenTLS != nil {
		tc, err := m.handshake(c)
		if err != nil {
			m.refusals.refuse(m.log, c.RemoteAddr(), err)
			c.Close()
			return
		}
		c = tc
	}
	c.SetReadDeadline(time.Now().Add(preambleTimeout))
	var kind [1]byte
	if _, err := io.ReadFull(c, kind[:]); err != nil {
		c.Close()
		return
	}
	switch kind[0] {
	case muxRPC:
		c.SetReadDeadline(time.Time{})
		m.serveRPC(c)
	case muxRaft:
		theirs, err := readShortString(c)
		if err != nil {
			c.Close()
			return
		}
		if ours := m.clusterID(); ours != "" && theirs != "" && ours != theirs {
			m.log.Error("refusing raft connection from a node of another cluster", "remote", c.RemoteAddr().String(), "their_cluster", theirs, "cluster", ours)
			c.Close()
			return
		}
		c.SetReadDeadline(time.Time{})
		select {
		case m.raftConns <- c:
		case <-m.closed:
			c.Close()
		}
	default:
		c.Close()
	}
}

// Accept returns the next raft connection (raft.StreamLayer).
func (m *muxListener) Accept() (net.Conn, error) {
	select {
	case c := <-m.raftConns:
		return c, nil
	case <-m.closed:
		return nil, errors.New("meta: controller listener closed")
	}
}

// Close stops accepting; connections already handed out stay open.
func (m *muxListener) Close() error {
	var err error
	m.closeOnce.Do(func() {
		close(m.closed)
		err = m.ln.Close()
	})
	return err
}

// wait blocks until the accept loop and every routed connection handler
// have returned. Call after Close.
func (m *muxListener) wait() { m.wg.Wait() }

func (m *muxListener) Addr() net.Addr { return advertisedAddr(m.advertise) }

// Dial opens a raft connection to a peer's controller listener.
func (m *muxListener) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := dialController(ctx, string(address), timeout, m.dialTLS)
	if err != nil {
		return nil, err
	}
	id := m.clusterID()
	pre := append([]byte{muxRaft, byte(len(id))}, id...)
	c.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := c.Write(pre); err != nil {
		c.Close()
		return nil, err
	}
	c.SetWriteDeadline(time.Time{})
	return c, nil
}

// readShortString reads a one-byte length and that many bytes.
func readShortString(r io.Reader) (string, error) {
	var n [1]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return "", err
	}
	b := make([]byte, n[0])
	if _, err := io.ReadFull(r, b); err != nil {
		return "", err
	}
	return string(b), nil
}

type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }

// Package peer is how one Strata broker talks to another over their Kafka
// (or inter-broker) listeners: replica fetching, transaction markers,
// transaction verification; and the mutual TLS every link between nodes
// may use (tls.go). The peer is a Strata broker whose served versions are
// known, so requests go at versions fixed by the caller, without
// ApiVersions. Encoding is kmsg's.
package peer

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Conn is a minimal Kafka client connection: one request at a time. It is
// not safe for concurrent use.
type Conn struct {
	c    net.Conn
	r    *bufio.Reader
	fmt  *kmsg.RequestFormatter
	corr int32
}

// maxResponse bounds a response frame a peer accepts.
const maxResponse = 256 << 20

// dialTimeout bounds connecting to a broker, and the TLS handshake.
const dialTimeout = 3 * time.Second

// Dial connects to a broker's inter-broker (or Kafka) listener at addr;
// with tc (TLS.Dialer), over TLS.
func Dial(ctx context.Context, addr, clientID string, tc *tls.Config) (*Conn, error) {
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if tc != nil {
		tconn := tls.Client(c, tc)
		hctx, cancel := context.WithTimeout(ctx, dialTimeout)
		err := tconn.HandshakeContext(hctx)
		cancel()
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
		}
		c = tconn
	}
	return &Conn{c: c, r: bufio.NewReaderSize(c, 64<<10), fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID))}, nil
}

// Close closes the connection.
func (k *Conn) Close() error { return k.c.Close() }

// Do sends req and reads its response within deadline. After an error the
// connection is unusable.
func (k *Conn) Do(req kmsg.Request, deadline time.Time) (kmsg.Response, error) {
	k.corr++
	k.c.SetDeadline(deadline)
	if _, err := k.c.Write(k.fmt.AppendRequest(nil, req, k.corr)); err != nil {
		return nil, err
	}
	var head [8]byte
	if _, err := io.ReadFull(k.r, head[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(head[:4]))
	if size < 4 || size > maxResponse {
		return nil, fmt.Errorf("peer: response frame of %d bytes", size)
	}
	if corr := int32(binary.BigEndian.Uint32(head[4:])); corr != k.corr {
		return nil, fmt.Errorf("peer: response to request %d, expected %d", corr, k.corr)
	}
	body := make([]byte, size-4)
	if _, err := io.ReadFull(k.r, body); err != nil {
		return nil, err
	}
	if req.IsFlexible() {
		var err error
		if body, err = skipTags(body); err != nil {
			return nil, err
		}
	}
	resp := req.ResponseKind()
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("peer: decode %T: %w", resp, err)
	}
	return resp, nil
}

// skipTags drops the tagged fields of a flexible response header.
func skipTags(b []byte) ([]byte, error) {
	n, w := binary.Uvarint(b)
	if w <= 0 {
		return nil, errors.New("peer: bad response header")
	}
	b = b[w:]
	for range n {
		_, w := binary.Uvarint(b) // tag
		if w <= 0 {
			return nil, errors.New("peer: bad response header tag")
		}
		b = b[w:]
		size, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < size {
			return nil, errors.New("peer: bad response header tag size")
		}
		b = b[w+int(size):]
	}
	return b, nil
}

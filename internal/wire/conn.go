package wire

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/strata-db/strata/internal/bufpool"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ErrCloseConnection, returned by a handler, closes the connection quietly
// after earlier responses are written (e.g. acks=0 produce errors, which
// Kafka signals by closing).
var ErrCloseConnection = errors.New("wire: close connection")

// Conn is the per-connection state handlers may read and, for
// authentication, change. Handlers of one connection run one at a time, so
// they need no lock for it.
type Conn struct {
	ID     uint64
	Remote string
	Local  string
	// Tenant is the logical cluster of this connection; the default tenant
	// on listeners without authentication.
	Tenant string
	// Principal is the authenticated user (the API key) and Mechanism the
	// SASL mechanism used; both empty without authentication.
	Principal, Mechanism  string
	ClientSoftwareName    string
	ClientSoftwareVersion string
}

// Request is one decoded request.
type Request struct {
	Conn          *Conn
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      string
	Body          kmsg.Request
	Received      time.Time
	// ResponseSizeHint, set by a handler, is the response's expected size
	// in bytes, so that it is encoded into a buffer that need not grow.
	ResponseSizeHint int
	// Throttle, set by a handler whose tenant is over a quota, holds the
	// connection back for this long and goes out as throttle_time_ms
	// (quota.go).
	Throttle time.Duration
	// Waited, set by a handler, is the part of its time spent waiting on
	// others (a long poll, replication, the metadata quorum), which does
	// not count against the tenant's request time share.
	Waited time.Duration
	// afterResponse runs once the handler returned and its response is
	// encoded (AfterResponse).
	afterResponse []func()
}

// AfterResponse runs f once the handler has returned and its response is
// encoded into a frame of its own: for a handler to take back buffers the
// response referred to (a fetch's read buffers).
func (r *Request) AfterResponse(f func()) { r.afterResponse = append(r.afterResponse, f) }

// pending is a request waiting for the processor, or a response prepared by
// the reader itself (an ApiVersions version mismatch).
type pending struct {
	req   *Request
	api   API
	frame []byte // ready response when req is nil
	// backsOff: the response tells the client to back off by itself
	// (KIP-219), so the connection is held back after it is sent.
	backsOff bool
	// held is what the request holds of the server's queued bytes
	// (limits.go), released once it is handled.
	held int64
	// pooled is the request's frame when it came from bufpool, put back
	// once the request is handled (readOne).
	pooled []byte
}

// conn runs one connection as three goroutines connected by bounded
// channels: read and decode -> handle, in order -> encode and write. Reading
// ahead and writing behind overlap I/O with handling while handling stays
// sequential, so responses go out in request order and produce requests on
// one connection are appended in order. When no request waits, the
// processor writes its response itself (send).
type conn struct {
	srv  *Server
	nc   net.Conn
	info *Conn
	log  *slog.Logger

	// auth is the SASL state; used by the goroutine that authenticates,
	// then by the processor only.
	auth authState
	// identity is the authenticated tenant and principal, for
	// Server.CloseConnections on other goroutines; nil until then.
	identity atomic.Pointer[Identity]
	// revoked is set once CloseConnections closed the connection.
	revoked atomic.Bool
	// mutedUntil is when a throttled connection may be read again, Unix
	// ns; 0 if never muted.
	mutedUntil atomic.Int64

	reqs chan pending  // reader -> processor
	out  chan []byte   // processor -> writer
	done chan struct{} // closed when the processor stops

	// wmu serialises writes to nc. The processor writes a response itself
	// when nothing is queued before it and no request waits to be handled,
	// which saves a goroutine hand-off (and often a thread wake-up) per
	// request; otherwise it queues the frame for the writer and goes on.
	wmu     sync.Mutex
	bw      *bufio.Writer
	queued  int  // frames in out, not yet written
	wfailed bool // a write failed: the connection is closing
}

func (c *conn) serve(ctx context.Context) {
	if tc, ok := c.nc.(*tls.Conn); ok {
		if err := c.handshakeTLS(ctx, tc); err != nil {
			level := slog.LevelInfo
			if c.srv.cfg.TLS.ClientAuth == tls.RequireAndVerifyClientCert {
				// A peer without a good certificate is worth a warning:
				// on the inter-broker listener, a node that cannot join.
				level = slog.LevelWarn
			}
			c.log.Log(ctx, level, "closing connection: TLS", "err", err)
			c.nc.Close()
			return
		}
	}
	br := bufio.NewReaderSize(c.nc, 64<<10)
	if c.srv.cfg.Auth != nil {
		if err := c.authenticate(ctx, br); err != nil {
			c.logReadEnd(err)
			c.nc.Close()
			return
		}
	}
	release, err := c.admit()
	if err != nil {
		c.log.Info("closing connection: over its tenant's quota", "tenant", c.info.Tenant, "principal", c.info.Principal, "err", err)
		c.nc.Close()
		return
	}
	defer release()
	c.reqs = make(chan pending, c.srv.cfg.MaxQueuedRequests)
	c.out = make(chan []byte, c.srv.cfg.MaxQueuedRequests)
	c.bw = bufio.NewWriterSize(c.nc, 64<<10)
	c.done = make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.write()
	}()
	go c.process(ctx)
	c.read(ctx, br)
	<-writerDone
	c.nc.Close()
}

// read decodes frames until the peer closes, a frame is bad, or the server
// stops reading (via a past read deadline).
func (c *conn) read(ctx context.Context, br *bufio.Reader) {
	defer close(c.reqs)
	// A wait for queued bytes ends with the connection's handling.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		c.waitUnmuted()
		p, err := c.readOne(ctx, br)
		if err != nil {
			c.logReadEnd(err)
			return
		}
		select {
		case c.reqs <- p:
		case <-c.done:
			c.srv.limits.release(p.held)
			return
		}
	}
}

func (c *conn) logReadEnd(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET):
		// A client going away, often by reset: routine, not a warning.
	case errors.As(err, &ne) && ne.Timeout():
		if !c.srv.stopping.Load() {
			c.log.Info("closing idle connection")
		}
	default:
		c.log.Warn("closing connection", "err", err)
	}
}

// pooledFrameMin is the smallest produce request read into a pooled
// buffer.
const pooledFrameMin = 1 << 10

func (c *conn) readOne(ctx context.Context, br *bufio.Reader) (pending, error) {
	var held int64
	var pooled bool
	frame, err := c.readFrameHeld(ctx, br, c.srv.cfg.MaxRequestBytes, "socket.request.max.bytes", &held, &pooled)
	if err != nil {
		c.srv.limits.release(held)
		return pending{}, err
	}
	p, err := c.decode(frame)
	if err != nil {
		c.srv.limits.release(held)
		return pending{}, err
	}
	p.held = held
	if pooled {
		p.pooled = frame
	}
	return p, nil
}

// readFrame reads one size-prefixed frame of at most limit bytes (the
// config limitName).
func (c *conn) readFrame(br *bufio.Reader, limit int32, limitName string) ([]byte, error) {
	return c.readFrameHeld(context.Background(), br, limit, limitName, nil, nil)
}

// readFrameHeld is readFrame; with held, the body is read only once the
// server's queued bytes have room for it (limits.go), and held is set to
// what it took. With pooled, a large produce request is read into a buffer
// from bufpool, and pooled is set.
//
// Only produce frames are pooled: decoded requests alias their frame's
// bytes (kmsg copies strings, not byte fields), and a produce request's
// records are written to the log and dropped when the handler returns,
// while other requests' bytes may live on (a group member's metadata, for
// one).
func (c *conn) readFrameHeld(ctx context.Context, br *bufio.Reader, limit int32, limitName string, held *int64, pooled *bool) ([]byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.IdleTimeout))
	// Shutdown marks the server stopping before it sets a past read
	// deadline; checking after setting ours means a deadline set between
	// two reads is never overwritten, so a client that keeps sending does
	// not keep a stopping server reading.
	if c.srv.stopping.Load() {
		return nil, net.ErrClosed
	}
	var sizeBuf [4]byte
	if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
	if size < 0 || size > limit {
		return nil, fmt.Errorf("%w: request of %d bytes exceeds %s %d", ErrMalformed, size, limitName, limit)
	}
	if held != nil {
		var err error
		if *held, err = c.srv.limits.hold(ctx, size); err != nil {
			return nil, err
		}
		// Waiting for room may take long: the body's deadline starts now.
		c.nc.SetReadDeadline(time.Now().Add(c.srv.cfg.IdleTimeout))
	}
	var frame []byte
	if pooled != nil && size >= pooledFrameMin && isProduce(br) {
		frame, *pooled = bufpool.Get(int(size))[:size], true
	} else {
		frame = make([]byte, size)
	}
	if _, err := io.ReadFull(br, frame); err != nil {
		if errors.Is(err, io.EOF) {
			err = fmt.Errorf("%w: truncated frame", io.ErrUnexpectedEOF)
		}
		return nil, err
	}
	c.srv.metrics.bytesIn.Add(float64(size + 4))
	return frame, nil
}

// isProduce reports whether the frame br is at, of at least 2 bytes, is a
// produce request.
func isProduce(br *bufio.Reader) bool {
	key, err := br.Peek(2)
	return err == nil && binary.BigEndian.Uint16(key) == produceKey
}

func (c *conn) decode(frame []byte) (pending, error) {
	h, rest, err := parseFixedHeader(frame)
	if err != nil {
		return pending{}, err
	}
	api, ok := c.srv.mux.Lookup(h.Key)
	if !ok {
		return pending{}, fmt.Errorf("%w: unsupported API key %d", ErrMalformed, h.Key)
	}
	body := kmsg.RequestForKey(h.Key)
	if h.Version < api.MinVersion || h.Version > api.MaxVersion {
		if h.Key == apiVersionsKey {
			return pending{frame: c.srv.unsupportedApiVersions(h.CorrelationID)}, nil
		}
		if h.Version > body.MaxVersion() {
			// Newer than any version kmsg knows: the body cannot even be
			// read, so there is no response of its shape to give.
			return pending{}, fmt.Errorf("%w: %s v%d is newer than any known version", ErrMalformed, kmsg.NameForKey(h.Key), h.Version)
		}
	}
	body.SetVersion(h.Version)
	if body.IsFlexible() {
		if rest, err = skipTaggedFields(rest); err != nil {
			return pending{}, err
		}
	}
	if err := body.ReadFrom(rest); err != nil {
		return pending{}, fmt.Errorf("%w: %s v%d body: %v", ErrMalformed, kmsg.NameForKey(h.Key), h.Version, err)
	}
	if h.Version < api.MinVersion || h.Version > api.MaxVersion {
		return c.refuseVersion(h, api, body)
	}
	r := &Request{Conn: c.info, Key: h.Key, Version: h.Version, CorrelationID: h.CorrelationID, Body: body, Received: time.Now()}
	if h.ClientID != nil {
		r.ClientID = *h.ClientID
	}
	return pending{req: r, api: api}, nil
}

// refuseVersion answers a request at a version outside the served range
// with UNSUPPORTED_VERSION in a response of that version. A produce with
// acks=0 expects no response, so its connection is closed instead.
func (c *conn) refuseVersion(h header, api API, body kmsg.Request) (pending, error) {
	if p, ok := body.(*kmsg.ProduceRequest); ok && p.Acks == 0 {
		return pending{}, fmt.Errorf("%w: %s v%d with acks=0 is not supported (v%d-v%d)", ErrMalformed, kmsg.NameForKey(h.Key), h.Version, api.MinVersion, api.MaxVersion)
	}
	c.log.Info("refusing request at an unsupported version", "api", kmsg.NameForKey(h.Key), "version", h.Version,
		"min", api.MinVersion, "max", api.MaxVersion)
	resp := unsupportedResponse(body, kerr.UnsupportedVersion.Code)
	buf := appendResponseHeader(nil, h.CorrelationID, resp.IsFlexible())
	buf = resp.AppendTo(buf)
	finishFrame(buf, 0)
	return pending{frame: buf}, nil
}

// process runs handlers in request order.
func (c *conn) process(ctx context.Context) {
	// Last: requests read but left unhandled give back their bytes.
	defer func() {
		for p := range c.reqs {
			c.srv.limits.release(p.held)
		}
	}()
	defer close(c.out)
	defer close(c.done)
	for p := range c.reqs {
		if p.req == nil {
			c.srv.limits.release(p.held)
			c.send(p.frame)
			continue
		}
		var frame []byte
		var err error
		if c.srv.cfg.Auth != nil {
			frame, err = c.handleAuthenticated(ctx, &p)
		} else {
			frame, err = c.handle(ctx, &p)
		}
		c.srv.limits.release(p.held)
		// Handled and its response encoded: nothing refers to the request's
		// buffers any more.
		for _, f := range p.req.afterResponse {
			f()
		}
		if p.pooled != nil {
			bufpool.Put(p.pooled)
		}
		if !p.backsOff {
			c.holdBack(ctx, p.req.Throttle) // before the response: older clients
		}
		if frame != nil {
			c.send(frame)
		}
		if p.backsOff {
			c.holdBack(ctx, p.req.Throttle)
		}
		if err != nil {
			if !errors.Is(err, ErrCloseConnection) {
				c.log.Warn("closing connection after request", "api", kmsg.NameForKey(p.req.Key), "err", err)
			}
			c.nc.SetReadDeadline(time.Now()) // stop the reader
			return
		}
	}
}

func (c *conn) handle(ctx context.Context, p *pending) (frame []byte, err error) {
	start := time.Now()
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("handler panicked", "api", kmsg.NameForKey(p.req.Key), "panic", v, "stack", string(debug.Stack()))
			frame, err = nil, fmt.Errorf("handler panic: %v", v)
		}
		c.srv.metrics.observe(p.req.Key, time.Since(start), err)
	}()
	resp, err := p.api.Handle(ctx, p.req)
	if q := c.srv.cfg.Quotas; q != nil && c.info.Tenant != "" {
		p.req.Throttle = max(p.req.Throttle, q.RequestTime(c.info.Tenant, max(time.Since(start)-p.req.Waited, 0)))
	}
	p.backsOff = true
	if resp == nil {
		return nil, err
	}
	if p.req.Throttle > 0 {
		resp.SetVersion(p.req.Version)
		p.backsOff = applyThrottle(resp, p.req.Throttle)
	}
	return encodeResponse(p.req, resp), err
}

// encodeResponse frames a response to r.
func encodeResponse(r *Request, resp kmsg.Response) []byte {
	resp.SetVersion(r.Version)
	flexibleHeader := resp.IsFlexible() && r.Key != apiVersionsKey
	buf := appendResponseHeader(bufpool.Get(256+r.ResponseSizeHint), r.CorrelationID, flexibleHeader)
	buf = resp.AppendTo(buf)
	finishFrame(buf, 0)
	return buf
}

// send writes frame at once if nothing is queued before it and no request
// waits for the processor, and otherwise queues it for the writer, so that
// a large response does not hold back handling the requests behind it.
func (c *conn) send(frame []byte) {
	c.wmu.Lock()
	if c.queued == 0 && len(c.reqs) == 0 {
		c.writeLocked(frame, true)
		c.wmu.Unlock()
		return
	}
	c.queued++
	c.wmu.Unlock()
	c.out <- frame
}

// write sends queued frames in order, flushing when no more are queued.
func (c *conn) write() {
	for frame := range c.out {
		c.wmu.Lock()
		c.queued--
		c.writeLocked(frame, c.queued == 0)
		c.wmu.Unlock()
	}
	c.wmu.Lock()
	if !c.wfailed {
		c.bw.Flush()
	}
	c.wmu.Unlock()
}

// writeLocked writes a frame (and flushes) under wmu. After a failed
// write the connection is closed and later frames are dropped.
func (c *conn) writeLocked(frame []byte, flush bool) {
	if c.wfailed {
		return
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.srv.cfg.IdleTimeout))
	_, err := c.bw.Write(frame)
	if err == nil && flush {
		err = c.bw.Flush()
	}
	if err != nil {
		c.log.Info("write failed; closing connection", "err", err)
		c.wfailed = true
		c.nc.Close() // unblocks the reader
		return
	}
	c.srv.metrics.bytesOut.Add(float64(len(frame)))
	bufpool.Put(frame) // written (or copied into bw): no longer referenced
}

const (
	produceKey     = 0
	apiVersionsKey = 18
)

// unsupportedApiVersions answers an ApiVersions request of a version we do
// not serve: a v0 response with UNSUPPORTED_VERSION and our versions, which
// clients use to retry at a version we know.
func (s *Server) unsupportedApiVersions(correlationID int32) []byte {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = s.mux.Versions()
	buf := appendResponseHeader(nil, correlationID, false)
	buf = resp.AppendTo(buf)
	finishFrame(buf, 0)
	return buf
}

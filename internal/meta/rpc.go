package meta

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Controller RPCs. A node that is not the active controller sends its
// metadata requests to the one that is, over the controller listener (see
// transport.go): one connection per request, carrying after the muxRPC byte
// one frame each way, a frame being a 4-byte big-endian length and that
// many bytes of JSON (rpcRequest, then rpcResponse). A node that is not
// the active controller answers NotController with the leader it knows,
// and the caller tries again there.
//
// A connection per request keeps the failure cases few: a request whose
// connection broke before it was fully written was never seen; one that
// broke after may or may not have been applied, and the caller is told so
// (a proposal is then not retried: records are not idempotent). With peer
// TLS the connection is TLS first (transport_tls.go).

// maxRPCBytes bounds one frame.
const maxRPCBytes = 64 << 20

type rpcKind string

const (
	rpcInfo      rpcKind = "info"      // cluster id and applied index, from any node
	rpcPropose   rpcKind = "propose"   // Propose's records
	rpcRegister  rpcKind = "register"  // BrokerRegistration
	rpcHeartbeat rpcKind = "heartbeat" // BrokerHeartbeat
)

type rpcRequest struct {
	Kind rpcKind `json:"kind"`
	// ClusterID is the caller's, "" while it does not know one. The
	// controller refuses requests from another cluster.
	ClusterID string `json:"clusterId,omitempty"`
	// AnyNode lets any node answer rpcInfo, not only the active controller.
	AnyNode   bool                `json:"anyNode,omitempty"`
	Records   json.RawMessage     `json:"records,omitempty"`
	Register  *BrokerRegistration `json:"register,omitempty"`
	Heartbeat *BrokerHeartbeat    `json:"heartbeat,omitempty"`
}

type rpcResponse struct {
	// NotController: this node is not the active controller (or is not
	// ready to act as one yet); nothing was done. LeaderAddr names the
	// leader this node knows, if any.
	NotController bool   `json:"notController,omitempty"`
	LeaderAddr    string `json:"leaderAddr,omitempty"`
	// ClusterID and Index answer rpcInfo: the responder's cluster id and
	// the raft index of its image. Index is also a proposal's entry.
	ClusterID string `json:"clusterId,omitempty"`
	Index     uint64 `json:"index,omitempty"`
	// Err is the request's error; Errs the per-record errors of a proposal.
	Err       *wireError          `json:"err,omitempty"`
	Errs      []*wireError        `json:"errs,omitempty"`
	Register  *RegistrationResult `json:"register,omitempty"`
	Heartbeat *HeartbeatResult    `json:"heartbeat,omitempty"`
}

// wireError carries an error across nodes so that the caller gets the same
// message and the same errors.Is answers as on the controller: the Kafka
// error code it wraps, or one of the package's sentinels.
type wireError struct {
	Code     int16  `json:"code,omitempty"`
	Sentinel string `json:"sentinel,omitempty"`
	Msg      string `json:"msg"`
}

// sentinels are the package errors callers match with errors.Is.
var sentinels = map[string]error{
	"producer-id-conflict": errProducerIDConflict,
	"not-ready":            ErrNotReady,
}

func encodeError(err error) *wireError {
	if err == nil {
		return nil
	}
	w := &wireError{Msg: err.Error()}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		w.Code = ke.Code
	}
	for name, s := range sentinels {
		if errors.Is(err, s) {
			w.Sentinel = name
		}
	}
	return w
}

func (w *wireError) decode() error {
	if w == nil {
		return nil
	}
	r := &remoteError{msg: w.Msg, sentinel: sentinels[w.Sentinel]}
	if w.Code != 0 {
		r.code = kerr.ErrorForCode(w.Code)
	}
	return r
}

// remoteError is an error that happened on another node.
type remoteError struct {
	msg      string
	code     error // a *kerr.Error, or nil
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }

func (e *remoteError) Unwrap() []error {
	var out []error
	for _, err := range []error{e.code, e.sentinel} {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

func writeFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > maxRPCBytes {
		return fmt.Errorf("meta: rpc frame of %d bytes exceeds %d", len(b), maxRPCBytes)
	}
	buf := make([]byte, 4, 4+len(b))
	binary.BigEndian.PutUint32(buf, uint32(len(b)))
	_, err = w.Write(append(buf, b...))
	return err
}

func readFrame(r io.Reader, v any) error {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > maxRPCBytes {
		return fmt.Errorf("meta: rpc frame of %d bytes exceeds %d", size, maxRPCBytes)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// rpcServeTimeout bounds one RPC connection on the serving side.
const rpcServeTimeout = 30 * time.Second

// serveRPC answers one request on c and closes it.
func (s *Store) serveRPC(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(rpcServeTimeout))
	var req rpcRequest
	if err := readFrame(bufio.NewReader(c), &req); err != nil {
		s.cfg.Logger.Debug("controller rpc: bad request", "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ApplyTimeout)
	defer cancel()
	resp := s.handle(ctx, &req)
	if err := writeFrame(c, resp); err != nil {
		s.cfg.Logger.Debug("controller rpc: write response", "remote", c.RemoteAddr().String(), "err", err)
	}
}

// call sends one request to the controller listener at addr. sent reports
// whether the request was fully written, after which a failure leaves its
// outcome unknown.
func (s *Store) call(ctx context.Context, addr string, req *rpcRequest) (resp *rpcResponse, sent bool, err error) {
	c, err := dialController(ctx, addr, time.Second, s.cfg.DialTLS)
	if err != nil {
		return nil, false, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	w := bufio.NewWriter(c)
	w.WriteByte(muxRPC)
	if err := writeFrame(w, req); err != nil {
		return nil, false, err
	}
	if err := w.Flush(); err != nil {
		return nil, false, err
	}
	resp = &rpcResponse{}
	if err := readFrame(bufio.NewReader(c), resp); err != nil {
		return nil, true, err
	}
	return resp, true, nil
}

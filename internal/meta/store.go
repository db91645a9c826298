package meta

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Config configures a node's metadata store.
type Config struct {
	NodeID int32
	// Dir holds the raft log (raft.db), snapshots and cluster.id.
	Dir    string
	Logger *slog.Logger
	// ApplyTimeout bounds how long a proposal may wait for commit,
	// including finding the active controller.
	ApplyTimeout time.Duration

	// Voters is the quorum (--controllers). Empty: single-node mode, this
	// node the only voter, over an in-memory transport and no listener.
	Voters []Voter
	// Listen is where the controller listener binds (--controller-listen).
	// Required with Voters. A voter advertises its address in Voters; a
	// non-voter advertises Advertise, or the bound address.
	Listen    string
	Advertise string
	// ListenTLS and DialTLS, both set or neither, secure the controller
	// listener and every connection to another node's (raft, controller
	// requests) with mutual TLS (--peer-tls-*; peer.TLS): ListenTLS must
	// require and verify client certificates. Nil: plaintext.
	ListenTLS, DialTLS *tls.Config

	// SessionTimeout is broker.session.timeout.ms: the active controller
	// fences a broker it has not heard from for this long.
	SessionTimeout time.Duration
	// LeaderRebalance is the active controller's preferred-leader
	// rebalancing (leader_rebalance.go); zero: off.
	LeaderRebalance LeaderRebalance
	// HeartbeatTimeout and ElectionTimeout are raft's; 0: 1s each.
	HeartbeatTimeout, ElectionTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ApplyTimeout == 0 {
		c.ApplyTimeout = 10 * time.Second
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 9 * time.Second
	}
	if c.HeartbeatTimeout == 0 {
		c.HeartbeatTimeout = time.Second
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = time.Second
	}
}

// isVoter reports whether this node is a member of the quorum.
func (c *Config) isVoter() bool {
	if len(c.Voters) == 0 {
		return true
	}
	_, ok := voterByID(c.Voters, c.NodeID)
	return ok
}

// Validate checks the quorum settings.
func (c *Config) Validate() error {
	if len(c.Voters) == 0 {
		return nil
	}
	seen := map[int32]bool{}
	for _, v := range c.Voters {
		if seen[v.ID] {
			return fmt.Errorf("meta: controllers: node id %d is listed twice", v.ID)
		}
		seen[v.ID] = true
	}
	if c.Listen == "" {
		return errors.New("meta: a node of a multi-node cluster needs a controller listener (--controller-listen)")
	}
	switch {
	case (c.ListenTLS == nil) != (c.DialTLS == nil):
		return errors.New("meta: peer TLS needs both a listener and a dialer config")
	case c.ListenTLS != nil && c.ListenTLS.ClientAuth != tls.RequireAndVerifyClientCert:
		return errors.New("meta: the controller listener's TLS must require and verify client certificates")
	}
	return nil
}

// Store is a node's replica of the metadata log and its image. Voters take
// part in the quorum; other nodes follow the log as raft non-voters, added
// to the configuration by the active controller when they register. Every
// node answers reads from its own image and sends writes to the active
// controller (Propose).
type Store struct {
	cfg   Config
	fsm   *fsm
	bolt  *boltStore
	raft  *raft.Raft
	trans raft.Transport
	mux   *muxListener // nil in single-node mode
	ctrl  *controller  // nil on non-voters

	// storedClusterID is cluster.id as read at Open or written since.
	idMu            sync.Mutex
	storedClusterID string

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// ErrNotReady is returned while the store has no leader to commit through.
var ErrNotReady = errors.New("meta: metadata quorum not ready")

// ErrClusterIDMismatch is returned when a node's stored cluster id is not
// the quorum's.
var ErrClusterIDMismatch = errors.New("meta: node belongs to another cluster")

// Open starts the node's raft instance. A voter whose directory holds no
// state bootstraps the quorum from the voter list (every voter bootstraps
// the same list, so whichever is elected first holds the same
// configuration); a restarted node rejoins from its log.
func Open(cfg Config) (*Store, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("meta: %w", err)
	}
	stored, err := readClusterID(cfg.Dir)
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg, fsm: newFSM(), storedClusterID: stored}
	if err := s.open(); err != nil {
		s.closeParts()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if cfg.isVoter() {
		// Before the listener serves: its RPCs read s.ctrl, and peers
		// starting at the same time send them at once.
		s.ctrl = newController(s)
	}
	if s.mux != nil {
		s.mux.serve()
	}
	if s.ctrl != nil {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.ctrl.run(ctx) }()
	}
	return s, nil
}

func (s *Store) open() error {
	cfg := s.cfg
	id := raft.ServerID(strconv.Itoa(int(cfg.NodeID)))
	var addr raft.ServerAddress
	if len(cfg.Voters) == 0 {
		addr, s.trans = raft.NewInmemTransport(raft.ServerAddress("node-" + string(id)))
	} else {
		advertise := cfg.Advertise
		if v, ok := voterByID(cfg.Voters, cfg.NodeID); ok {
			advertise = v.Addr
		}
		var err error
		if s.mux, err = listenMux(cfg.Listen, advertise, s.ClusterID, cfg.Logger); err != nil {
			return err
		}
		s.mux.listenTLS, s.mux.dialTLS = cfg.ListenTLS, cfg.DialTLS
		s.mux.serveRPC = s.serveRPC
		// Before raft runs: a node of another cluster must not take part
		// in this quorum's elections even briefly.
		if err := s.checkClusterID(); err != nil {
			return err
		}
		s.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
			Stream: s.mux, MaxPool: 3, Timeout: 10 * time.Second, Logger: raftLogger(cfg.Logger),
		})
		addr = raft.ServerAddress(advertise)
	}
	var err error
	if s.bolt, err = openBoltStore(filepath.Join(cfg.Dir, "raft.db")); err != nil {
		return err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, raftLogger(cfg.Logger))
	if err != nil {
		return fmt.Errorf("meta: snapshot store: %w", err)
	}
	rc := s.raftConfig(id)
	existing, err := raft.HasExistingState(s.bolt, s.bolt, snaps)
	if err != nil {
		return fmt.Errorf("meta: inspect state: %w", err)
	}
	if !existing && cfg.isVoter() {
		conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: id, Address: addr}}}
		if len(cfg.Voters) > 0 {
			conf.Servers = nil
			for _, v := range cfg.Voters {
				conf.Servers = append(conf.Servers, raft.Server{
					Suffrage: raft.Voter, ID: raft.ServerID(strconv.Itoa(int(v.ID))), Address: raft.ServerAddress(v.Addr),
				})
			}
		}
		if err := raft.BootstrapCluster(rc, s.bolt, s.bolt, snaps, s.trans, conf); err != nil {
			return fmt.Errorf("meta: bootstrap: %w", err)
		}
	}
	if s.raft, err = raft.NewRaft(rc, s.fsm, s.bolt, s.bolt, snaps, s.trans); err != nil {
		return fmt.Errorf("meta: start raft: %w", err)
	}
	return nil
}

func (s *Store) raftConfig(id raft.ServerID) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = id
	rc.Logger = raftLogger(s.cfg.Logger)
	if len(s.cfg.Voters) == 0 {
		// A single voter needs no slack for network delay: elect fast so a
		// restarted node serves again within a fraction of a second.
		rc.HeartbeatTimeout = 100 * time.Millisecond
		rc.ElectionTimeout = 100 * time.Millisecond
		rc.LeaderLeaseTimeout = 50 * time.Millisecond
		return rc
	}
	rc.HeartbeatTimeout = s.cfg.HeartbeatTimeout
	rc.ElectionTimeout = s.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = s.cfg.HeartbeatTimeout / 2
	return rc
}

// WaitReady blocks until this node's image has caught up with the active
// controller's and the cluster has an id. A non-voter cannot catch up
// before it registers (registration makes it a member); for it WaitReady
// only waits until a controller with a cluster id answers.
func (s *Store) WaitReady(ctx context.Context) error {
	for {
		err := s.tryReady(ctx)
		if err == nil || errors.Is(err, ErrClusterIDMismatch) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w (last: %v)", ErrNotReady, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (s *Store) tryReady(ctx context.Context) error {
	resp, err := s.callController(ctx, &rpcRequest{Kind: rpcInfo})
	if err != nil {
		return err
	}
	if resp.ClusterID == "" {
		return errors.New("the active controller has no cluster id yet")
	}
	if stored := s.ClusterID(); stored != "" && stored != resp.ClusterID {
		return s.mismatch(resp.ClusterID, "the active controller")
	}
	if !s.cfg.isVoter() {
		return nil
	}
	// The image's index, not raft's applied index: raft counts an entry
	// applied once it hands it to the state machine, before the image
	// holds it.
	if idx := s.Image().Index; idx < resp.Index {
		return fmt.Errorf("applied index %d is behind the controller's %d", idx, resp.Index)
	}
	return s.PersistClusterID()
}

// mismatch is the error of a node whose stored cluster id differs from
// the one a peer reports.
func (s *Store) mismatch(theirs, who string) error {
	return fmt.Errorf("%w: %s holds cluster %s in %s, but %s is in cluster %s; use an empty data directory to join this cluster",
		ErrClusterIDMismatch, nodeName(s.cfg.NodeID), s.ClusterID(), clusterIDPath(s.cfg.Dir), who, theirs)
}

func nodeName(id int32) string { return "node " + strconv.Itoa(int(id)) }

// checkClusterID asks the other voters for their cluster id and fails if
// one reports an id other than the stored one. A node with no stored id,
// or whose peers do not answer or know no id yet, passes: the checks at
// registration and in the raft preamble still apply.
func (s *Store) checkClusterID() error {
	stored := s.ClusterID()
	if stored == "" {
		return nil
	}
	for _, v := range s.cfg.Voters {
		if v.ID == s.cfg.NodeID {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, _, err := s.call(ctx, v.Addr, &rpcRequest{Kind: rpcInfo, AnyNode: true})
		cancel()
		if err != nil || resp.ClusterID == "" {
			continue
		}
		if resp.ClusterID != stored {
			return s.mismatch(resp.ClusterID, fmt.Sprintf("controller %d at %s", v.ID, v.Addr))
		}
		return nil
	}
	return nil
}

func newClusterID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("meta: crypto/rand: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Image returns the latest applied image. It never blocks.
func (s *Store) Image() *Image { return s.fsm.image.Load() }

// Subscribe returns a channel that receives a value after images are
// published. Notifications coalesce: a reader must look at Image() for the
// latest state, not count notifications.
func (s *Store) Subscribe() <-chan struct{} { return s.fsm.subscribe() }

// ActiveController returns the node id of the quorum's leader as this node
// knows it, or -1.
func (s *Store) ActiveController() int32 {
	_, id := s.raft.LeaderWithID()
	n, err := strconv.ParseInt(string(id), 10, 32)
	if err != nil {
		return -1
	}
	return int32(n)
}

// Propose commits records as one entry and returns each record's outcome.
// On a node that is not the active controller the records are sent to the
// one that is, and the outcomes come back unchanged. The error is set when
// the entry itself was not committed (no controller, timeout, shutdown);
// the entry may then still commit later.
func (s *Store) Propose(ctx context.Context, recs ...Record) ([]error, error) {
	data, err := encodeRecords(recs)
	if err != nil {
		return nil, fmt.Errorf("meta: encode: %w", err)
	}
	resp, err := s.callController(ctx, &rpcRequest{Kind: rpcPropose, Records: data})
	if err != nil {
		return nil, err
	}
	if resp.Err != nil {
		return nil, resp.Err.decode()
	}
	if len(resp.Errs) != len(recs) {
		return nil, fmt.Errorf("%w: controller answered %d outcomes for %d records", kerr.UnknownServerError, len(resp.Errs), len(recs))
	}
	errs := make([]error, len(recs))
	for i, e := range resp.Errs {
		errs[i] = e.decode()
	}
	// Read your writes: callers look at Image() next, and on a follower
	// the entry may not be applied here yet.
	if err := s.waitApplied(ctx, resp.Index); err != nil {
		return nil, err
	}
	return errs, nil
}

// waitApplied waits until the image reflects the entry at index.
func (s *Store) waitApplied(ctx context.Context, index uint64) error {
	if s.Image().Index >= index {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ApplyTimeout)
	defer cancel()
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for s.Image().Index < index {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: committed at index %d but not applied here (at %d): %w", kerr.RequestTimedOut, index, s.Image().Index, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// callController runs req on the active controller: here if this node is
// it, else over RPC. It retries while there is no active controller or it
// moves, within ctx and ApplyTimeout; a request whose outcome is unknown
// (the connection broke after it was sent) is not retried.
func (s *Store) callController(ctx context.Context, req *rpcRequest) (*rpcResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ApplyTimeout)
	defer cancel()
	req.ClusterID = s.ClusterID()
	var hint string
	next := 0 // round-robin over the voters when no leader is known
	backoff := 20 * time.Millisecond
	var last error
	// failed keeps the latest error of each controller address tried, so
	// that the final error shows every reason: one controller down and
	// the others refusing this node's peer TLS certificate, say.
	failed := map[string]error{}
	for {
		var resp *rpcResponse
		if s.raft.State() == raft.Leader || len(s.cfg.Voters) == 0 {
			resp = s.handle(ctx, req)
		} else {
			addr := hint
			if leader, _ := s.raft.LeaderWithID(); leader != "" {
				addr = string(leader)
			}
			if addr == "" || addr == s.mux.advertise {
				addr = s.cfg.Voters[next%len(s.cfg.Voters)].Addr
				next++
			}
			var sent bool
			var err error
			resp, sent, err = s.call(ctx, addr, req)
			if err != nil && sent && req.Kind == rpcPropose {
				return nil, fmt.Errorf("%w: controller at %s: outcome unknown: %w", kerr.RequestTimedOut, addr, err)
			}
			if err != nil {
				last = fmt.Errorf("controller at %s: %w", addr, err)
				failed[addr] = err
			}
		}
		hint = ""
		if resp != nil && !resp.NotController {
			return resp, nil
		}
		if resp != nil {
			hint = resp.LeaderAddr
			last = errNoActiveController
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: no active controller: %s (%w)", kerr.NotController, failures(last, failed), ctx.Err())
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 250*time.Millisecond)
	}
}

// errNoActiveController is a controller's answer that none is active.
var errNoActiveController = errors.New("no active controller")

// failures describes why callController found no controller: last, or,
// when several addresses failed, the latest error of each (and last if it
// was a controller's answer).
func failures(last error, failed map[string]error) string {
	if len(failed) < 2 {
		return fmt.Sprint(last)
	}
	var parts []string
	for _, addr := range slices.Sorted(maps.Keys(failed)) {
		parts = append(parts, fmt.Sprintf("controller at %s: %v", addr, failed[addr]))
	}
	if last == errNoActiveController {
		parts = append(parts, "last: "+last.Error())
	}
	return strings.Join(parts, "; ")
}

// handle serves a request on this node: info from anywhere, the rest only
// on the active controller.
func (s *Store) handle(ctx context.Context, req *rpcRequest) *rpcResponse {
	im := s.Image()
	if req.Kind == rpcInfo && req.AnyNode {
		return &rpcResponse{ClusterID: im.ClusterID, Index: im.Index}
	}
	ctrl := s.ctrl
	if ctrl == nil || !ctrl.active() {
		leader, _ := s.raft.LeaderWithID()
		return &rpcResponse{NotController: true, LeaderAddr: string(leader)}
	}
	if req.ClusterID != "" && im.ClusterID != "" && req.ClusterID != im.ClusterID {
		return &rpcResponse{Err: encodeError(fmt.Errorf("%w: %s is in cluster %s, this controller's cluster is %s",
			kerr.InconsistentClusterID, "the caller", req.ClusterID, im.ClusterID))}
	}
	switch req.Kind {
	case rpcInfo:
		// Active means every entry of earlier terms is applied (a barrier
		// ran at takeover), so the index is one a follower must reach.
		return &rpcResponse{ClusterID: im.ClusterID, Index: im.Index}
	case rpcPropose:
		return s.applyRecords(ctx, req.Records)
	case rpcRegister:
		if req.Register == nil {
			break
		}
		res, err := ctrl.register(ctx, req.Register)
		return &rpcResponse{Register: res, Err: encodeError(err)}
	case rpcHeartbeat:
		if req.Heartbeat == nil {
			break
		}
		res, err := ctrl.heartbeat(ctx, req.Heartbeat)
		return &rpcResponse{Heartbeat: res, Err: encodeError(err)}
	}
	return &rpcResponse{Err: encodeError(fmt.Errorf("%w: bad controller request %q", kerr.InvalidRequest, req.Kind))}
}

// applyRecords commits an encoded entry through the local raft leader.
func (s *Store) applyRecords(ctx context.Context, data []byte) *rpcResponse {
	res, index, err := s.applyLocal(ctx, data)
	if errors.Is(err, raft.ErrNotLeader) {
		leader, _ := s.raft.LeaderWithID()
		return &rpcResponse{NotController: true, LeaderAddr: string(leader)}
	}
	if err != nil {
		return &rpcResponse{Err: encodeError(err)}
	}
	if res.err != nil {
		return &rpcResponse{Err: encodeError(res.err)}
	}
	out := &rpcResponse{Errs: make([]*wireError, len(res.errs)), Index: index}
	for i, e := range res.errs {
		out.Errs[i] = encodeError(e)
	}
	return out
}

// applyLocal commits data through this node, which must lead the quorum,
// and returns the state machine's result and the entry's index.
// raft.ErrNotLeader is returned unwrapped: nothing was done.
func (s *Store) applyLocal(ctx context.Context, data []byte) (applyResult, uint64, error) {
	timeout := s.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	f := s.raft.Apply(data, timeout)
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) {
			return applyResult{}, 0, raft.ErrNotLeader
		}
		if errors.Is(err, raft.ErrLeadershipLost) {
			return applyResult{}, 0, fmt.Errorf("%w: %w", kerr.NotController, err)
		}
		return applyResult{}, 0, fmt.Errorf("%w: commit metadata: %w", kerr.RequestTimedOut, err)
	}
	return f.Response().(applyResult), f.Index(), nil
}

// Close stops the controller, raft and the listener and closes the log.
func (s *Store) Close() error {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	return s.closeParts()
}

func (s *Store) closeParts() error {
	var errs []error
	if s.raft != nil {
		errs = append(errs, s.raft.Shutdown().Error())
	}
	if s.mux != nil {
		if nt, ok := s.trans.(*raft.NetworkTransport); ok {
			errs = append(errs, nt.Close())
		}
		s.mux.Close()
		s.mux.wait()
	}
	if s.bolt != nil {
		errs = append(errs, s.bolt.Close())
	}
	return errors.Join(errs...)
}

// raftLogger routes raft's hclog errors to slog. Raft warns on every start
// of a single-voter cluster (an election after the heartbeat timeout), so
// warnings would be noise. Raft repeats an error for every retry to an
// unreachable peer; the same message is logged at most once per
// raftLogEvery.
func raftLogger(l *slog.Logger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:   "raft",
		Level:  hclog.Error,
		Output: &slogWriter{l: l, last: map[string]time.Time{}},
	})
}

const raftLogEvery = 10 * time.Second

type slogWriter struct {
	l    *slog.Logger
	mu   sync.Mutex
	last map[string]time.Time // by message without its timestamp and fields
}

func (w *slogWriter) Write(p []byte) (int, error) {
	msg := string(trimNewline(p))
	key := msg
	if i := strings.Index(key, "raft: "); i >= 0 {
		key = key[i:]
	}
	if i := strings.Index(key, ":"); i >= 0 && i+1 < len(key) {
		if j := strings.Index(key[i+1:], ":"); j >= 0 {
			key = key[:i+1+j] // "raft: failed to heartbeat to"
		}
	}
	w.mu.Lock()
	now := time.Now()
	if now.Sub(w.last[key]) < raftLogEvery {
		w.mu.Unlock()
		return len(p), nil
	}
	w.last[key] = now
	if len(w.last) > 1000 {
		clear(w.last)
	}
	w.mu.Unlock()
	w.l.Warn("raft", "msg", msg)
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}

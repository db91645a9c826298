package meta

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Config configures a node's metadata store.
type Config struct {
	NodeID int32
	// Dir holds the raft log (raft.db) and snapshots.
	Dir    string
	Logger *slog.Logger
	// ApplyTimeout bounds how long a proposal may wait for commit.
	ApplyTimeout time.Duration
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.ApplyTimeout == 0 {
		c.ApplyTimeout = 10 * time.Second
	}
}

// Store is a node's replica of the metadata log and its image. In
// single-node mode the node is the only voter of the quorum.
type Store struct {
	cfg   Config
	fsm   *fsm
	bolt  *boltStore
	raft  *raft.Raft
	trans raft.Transport
}

// ErrNotReady is returned while the store has no leader to commit through.
var ErrNotReady = errors.New("meta: metadata quorum not ready")

// Open starts the node's raft instance, bootstrapping a new single-voter
// cluster when the directory holds no state.
func Open(cfg Config) (*Store, error) {
	cfg.setDefaults()
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("meta: %w", err)
	}
	bs, err := openBoltStore(filepath.Join(cfg.Dir, "raft.db"))
	if err != nil {
		return nil, err
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, 2, raftLogger(cfg.Logger))
	if err != nil {
		bs.Close()
		return nil, fmt.Errorf("meta: snapshot store: %w", err)
	}
	id := raft.ServerID(strconv.Itoa(int(cfg.NodeID)))
	addr, trans := raft.NewInmemTransport(raft.ServerAddress("node-" + string(id)))

	rc := raft.DefaultConfig()
	rc.LocalID = id
	rc.Logger = raftLogger(cfg.Logger)
	// A single voter needs no slack for network delay: elect fast so a
	// restarted node serves again within a fraction of a second.
	rc.HeartbeatTimeout = 100 * time.Millisecond
	rc.ElectionTimeout = 100 * time.Millisecond
	rc.LeaderLeaseTimeout = 50 * time.Millisecond

	s := &Store{cfg: cfg, fsm: newFSM(), bolt: bs, trans: trans}
	existing, err := raft.HasExistingState(bs, bs, snaps)
	if err != nil {
		bs.Close()
		return nil, fmt.Errorf("meta: inspect state: %w", err)
	}
	if !existing {
		conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: id, Address: addr}}}
		if err := raft.BootstrapCluster(rc, bs, bs, snaps, trans, conf); err != nil {
			bs.Close()
			return nil, fmt.Errorf("meta: bootstrap: %w", err)
		}
	}
	r, err := raft.NewRaft(rc, s.fsm, bs, bs, snaps, trans)
	if err != nil {
		bs.Close()
		return nil, fmt.Errorf("meta: start raft: %w", err)
	}
	s.raft = r
	return s, nil
}

// WaitReady blocks until this node leads the quorum, every committed entry
// is applied, and the cluster has an id.
func (s *Store) WaitReady(ctx context.Context) error {
	for s.raft.State() != raft.Leader {
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ErrNotReady, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := s.raft.Barrier(s.cfg.ApplyTimeout).Error(); err != nil {
		return fmt.Errorf("meta: barrier: %w", err)
	}
	if s.Image().ClusterID != "" {
		return nil
	}
	errs, err := s.Propose(ctx, Record{InitCluster: &InitCluster{ClusterID: newClusterID()}})
	if err != nil {
		return err
	}
	return errs[0]
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

// Propose commits records as one entry and returns each record's outcome.
// The error is set when the entry itself was not committed (no leader,
// timeout, shutdown); the entry may then still commit later.
func (s *Store) Propose(ctx context.Context, recs ...Record) ([]error, error) {
	data, err := encodeRecords(recs)
	if err != nil {
		return nil, fmt.Errorf("meta: encode: %w", err)
	}
	timeout := s.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	f := s.raft.Apply(data, timeout)
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return nil, fmt.Errorf("%w: %w", kerr.NotController, err)
		}
		return nil, fmt.Errorf("%w: commit metadata: %w", kerr.RequestTimedOut, err)
	}
	res := f.Response().(applyResult)
	if res.err != nil {
		return nil, res.err
	}
	return res.errs, nil
}

// Close stops raft and closes the log store.
func (s *Store) Close() error {
	err := s.raft.Shutdown().Error()
	if cerr := s.bolt.Close(); err == nil {
		err = cerr
	}
	return err
}

// raftLogger routes raft's hclog errors to slog. Raft warns on every start
// of a single-voter cluster (an election after the heartbeat timeout), so
// warnings would be noise.
func raftLogger(l *slog.Logger) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:   "raft",
		Level:  hclog.Error,
		Output: slogWriter{l},
	})
}

type slogWriter struct{ l *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Error("raft", "msg", string(trimNewline(p)))
	return len(p), nil
}

func trimNewline(p []byte) []byte {
	for len(p) > 0 && (p[len(p)-1] == '\n' || p[len(p)-1] == '\r') {
		p = p[:len(p)-1]
	}
	return p
}

package meta

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// BrokerSession is the broker side of the lifecycle (lifecycle.go): it
// registers, heartbeats to the active controller and asks to shut down.
type BrokerSession struct {
	s        *Store
	reg      BrokerRegistration
	interval time.Duration
	epoch    int64
	fenced   atomic.Bool
	fatal    chan error // receives at most one error, then Run returns
}

// SessionConfig configures a broker's registration and heartbeats.
type SessionConfig struct {
	Host       string
	Port       int32
	Rack, Cell string
	// InternalAddr is where other brokers reach this one, if not at the
	// Kafka listener (--internal-listen).
	InternalAddr string
	// HeartbeatInterval is broker.heartbeat.interval.ms.
	HeartbeatInterval time.Duration
	// DuplicateWait is how long a registration refused as a duplicate is
	// retried before giving up: a broker restarted right after a crash
	// waits for its old session to expire. 0: the session timeout plus
	// two heartbeat intervals.
	DuplicateWait time.Duration
}

// RegisterBroker registers this node as a broker with the active
// controller. It returns an error wrapping DUPLICATE_BROKER_REGISTRATION
// when another live process holds the node id, and one wrapping
// INCONSISTENT_CLUSTER_ID when the node belongs to another cluster.
func (s *Store) RegisterBroker(ctx context.Context, cfg SessionConfig) (*BrokerSession, error) {
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 500 * time.Millisecond
	}
	if cfg.DuplicateWait == 0 {
		cfg.DuplicateWait = s.cfg.SessionTimeout + 2*cfg.HeartbeatInterval
	}
	reg := BrokerRegistration{
		ID: s.cfg.NodeID, Host: cfg.Host, Port: cfg.Port, Rack: cfg.Rack, Cell: cfg.Cell,
		InternalAddr: cfg.InternalAddr, Incarnation: newIncarnation(),
	}
	if !s.cfg.isVoter() {
		reg.RaftAddr = s.mux.advertise
	}
	deadline := time.Now().Add(cfg.DuplicateWait)
	for {
		resp, err := s.callController(ctx, &rpcRequest{Kind: rpcRegister, Register: &reg})
		if err == nil {
			err = resp.Err.decode()
		}
		if err == nil && resp.Register == nil {
			err = fmt.Errorf("%w: empty registration answer", kerr.UnknownServerError)
		}
		if err == nil {
			bs := &BrokerSession{s: s, reg: reg, interval: cfg.HeartbeatInterval, epoch: resp.Register.Epoch, fatal: make(chan error, 1)}
			bs.fenced.Store(true)
			return bs, nil
		}
		if !errors.Is(err, kerr.DuplicateBrokerRegistration) || time.Now().After(deadline) {
			return nil, fmt.Errorf("meta: register broker %d: %w", reg.ID, err)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("meta: register broker %d: %w (%w)", reg.ID, err, ctx.Err())
		case <-time.After(cfg.HeartbeatInterval):
		}
	}
}

func newIncarnation() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("meta: crypto/rand: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Epoch is the registration's broker epoch.
func (bs *BrokerSession) Epoch() int64 { return bs.epoch }

// Fatal receives an error when the registration was taken over by another
// process; the broker must stop.
func (bs *BrokerSession) Fatal() <-chan error { return bs.fatal }

// heartbeat sends one heartbeat.
func (bs *BrokerSession) heartbeat(ctx context.Context, shutdown bool) (*HeartbeatResult, error) {
	hb := &BrokerHeartbeat{ID: bs.reg.ID, Epoch: bs.epoch, AppliedIndex: bs.s.Image().Index, WantShutdown: shutdown}
	resp, err := bs.s.callController(ctx, &rpcRequest{Kind: rpcHeartbeat, Heartbeat: hb})
	if err == nil {
		err = resp.Err.decode()
	}
	if err == nil && resp.Heartbeat == nil {
		err = fmt.Errorf("%w: empty heartbeat answer", kerr.UnknownServerError)
	}
	if err != nil {
		return nil, err
	}
	bs.fenced.Store(resp.Heartbeat.Fenced)
	return resp.Heartbeat, nil
}

// Run heartbeats every interval until ctx ends or the registration is
// lost (then the error goes to Fatal).
func (bs *BrokerSession) Run(ctx context.Context) {
	t := time.NewTicker(bs.interval)
	defer t.Stop()
	failing := false
	for {
		hctx, cancel := context.WithTimeout(ctx, max(2*bs.interval, time.Second))
		_, err := bs.heartbeat(hctx, false)
		cancel()
		switch {
		case err == nil:
			if failing {
				bs.s.cfg.Logger.Info("heartbeats reach the controller again", "node", bs.reg.ID)
			}
			failing = false
		case errors.Is(err, kerr.StaleBrokerEpoch) || errors.Is(err, kerr.BrokerIDNotRegistered):
			bs.fatal <- fmt.Errorf("meta: broker %d lost its registration (epoch %d): %w", bs.reg.ID, bs.epoch, err)
			return
		case ctx.Err() == nil && !failing:
			bs.s.cfg.Logger.Warn("heartbeat failed", "node", bs.reg.ID, "err", err)
			failing = true
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// WaitUnfenced heartbeats until the controller unfences this broker and
// the local image shows it, then records the cluster id. Call it before
// Run.
func (bs *BrokerSession) WaitUnfenced(ctx context.Context) error {
	var last error
	var sent time.Time
	for {
		if b, ok := bs.s.Image().Broker(bs.reg.ID); ok && b.Epoch == bs.epoch && !b.Fenced {
			return bs.s.PersistClusterID()
		}
		// Once unfenced, only keep the session alive while the local image
		// catches up with the unfencing.
		if bs.fenced.Load() || time.Since(sent) >= bs.interval {
			sent = time.Now()
			if _, err := bs.heartbeat(ctx, false); err != nil {
				if errors.Is(err, kerr.StaleBrokerEpoch) {
					return fmt.Errorf("meta: broker %d: %w", bs.reg.ID, err)
				}
				last = err
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("meta: broker %d not unfenced: %w (last: %v)", bs.reg.ID, ctx.Err(), last)
		case <-time.After(min(bs.interval, 100*time.Millisecond)):
		}
	}
}

// Shutdown is the controlled shutdown: it tells the active controller the
// broker is going and waits until the controller agrees (in phase B, once
// the broker leads no partition), or ctx ends.
func (bs *BrokerSession) Shutdown(ctx context.Context) error {
	for {
		res, err := bs.heartbeat(ctx, true)
		if err == nil && res.ShouldShutdown {
			// The partitions move once this node applies the entry: wait
			// for it, so that requests in flight are refused with
			// NOT_LEADER_OR_FOLLOWER before the listener closes.
			return bs.waitFenced(ctx)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("meta: controlled shutdown of broker %d: %w (last: %v)", bs.reg.ID, ctx.Err(), err)
		case <-time.After(bs.interval):
		}
	}
}

// waitFenced waits until the local image shows this registration fenced.
func (bs *BrokerSession) waitFenced(ctx context.Context) error {
	for {
		if b, ok := bs.s.Image().Broker(bs.reg.ID); !ok || b.Epoch != bs.epoch || b.Fenced {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("meta: controlled shutdown of broker %d: not applied here: %w", bs.reg.ID, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

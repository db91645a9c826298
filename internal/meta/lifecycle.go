package meta

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/twmb/franz-go/pkg/kerr"
)

// The broker lifecycle of KIP-631, run by the active controller:
//
//   - A broker registers (BrokerRegistration): the controller writes a
//     RegisterBroker record, fenced, whose raft index is the broker's epoch,
//     and in the same entry takes the id out of every ISR and leadership
//     an earlier registration still held (as a fencing does).
//     A registration under an id whose current registration has another
//     incarnation and a live session is refused with
//     DUPLICATE_BROKER_REGISTRATION. A broker that is not a voter is made a
//     raft non-voter first, so that it receives the log.
//   - It then heartbeats (BrokerHeartbeat) with the raft index it has
//     applied; the controller unfences it (UnfenceBroker) once that index
//     has reached the controller's image, i.e. it caught up.
//   - A broker not heard from for the session timeout is fenced
//     (FenceBroker). Sessions live only in the active controller's memory: a
//     new active controller starts every broker with a fresh session.
//   - A heartbeat asking to shut down records ControlledShutdown, moves
//     the broker's leaderships to other in-sync replicas and takes it out
//     of every ISR (partition_change.go), and fences it, all in one entry:
//     once it applies the broker leads nothing, and ShouldShutdown is
//     answered.
//   - Every fencing, unfencing and shutdown entry carries the leader
//     elections it makes necessary, and the active controller also runs
//     the elections on its own whenever the image changes (a new active
//     controller picks up what its predecessor left).

// BrokerRegistration is a broker's request to (re)join.
type BrokerRegistration struct {
	ID   int32  `json:"id"`
	Host string `json:"host"`
	Port int32  `json:"port"`
	Rack string `json:"rack,omitempty"`
	Cell string `json:"cell,omitempty"`
	// InternalAddr is the broker's inter-broker listener, if any.
	InternalAddr string `json:"internalAddr,omitempty"`
	Incarnation  string `json:"incarnation"`
	// RaftAddr is where a non-voter receives the metadata log; "" for
	// voters, which are members already.
	RaftAddr string `json:"raftAddr,omitempty"`
}

// RegistrationResult is the controller's answer to a registration.
type RegistrationResult struct {
	Epoch int64 `json:"epoch"`
}

// BrokerHeartbeat keeps a registration's session alive.
type BrokerHeartbeat struct {
	ID    int32 `json:"id"`
	Epoch int64 `json:"epoch"`
	// AppliedIndex is the raft index the broker has applied.
	AppliedIndex uint64 `json:"appliedIndex"`
	WantShutdown bool   `json:"wantShutdown,omitempty"`
}

// HeartbeatResult is the controller's view of the broker.
type HeartbeatResult struct {
	Fenced         bool `json:"fenced"`
	CaughtUp       bool `json:"caughtUp"`
	ShouldShutdown bool `json:"shouldShutdown,omitempty"`
}

// controllerTick is how often a voter checks whether it leads and, while
// it does, fences expired sessions.
const controllerTick = 100 * time.Millisecond

// controller runs on every voter and acts while the voter leads the
// quorum. Its methods may be called concurrently (RPCs); mu guards the
// fields below it.
type controller struct {
	s *Store

	mu sync.Mutex
	// isActive: this node leads and took over (its image holds every
	// earlier entry); sessions are valid only then.
	isActive bool
	sessions map[int32]session
	// electedAt is the image index electLeaders last planned from.
	electedAt uint64
	// rebalancedAt is when rebalanceLeaders last ran.
	rebalancedAt time.Time
}

// session is what the active controller knows of a broker's liveness.
type session struct {
	epoch    int64
	lastSeen time.Time
	// heard: lastSeen is a real registration or heartbeat, not the grace
	// given at takeover. Only a heard session blocks a newcomer.
	heard bool
}

func newController(s *Store) *controller { return &controller{s: s} }

func (c *controller) active() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.isActive
}

// run follows leadership until ctx ends.
func (c *controller) run(ctx context.Context) {
	t := time.NewTicker(controllerTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if c.s.raft.State() != raft.Leader {
			c.mu.Lock()
			c.isActive, c.sessions, c.rebalancedAt = false, nil, time.Time{}
			c.mu.Unlock()
			continue
		}
		if !c.active() {
			if err := c.takeOver(ctx); err != nil {
				c.s.cfg.Logger.Warn("controller: take over", "err", err)
				continue
			}
		}
		c.fenceExpired(ctx)
		c.electLeaders(ctx)
		c.rebalanceLeaders(ctx)
	}
}

// rebalanceLeaders moves leadership back to preferred replicas
// (leader_rebalance.go), once per LeaderRebalance.Interval; the first
// check comes an interval after taking over, when restarted brokers have
// had time to rejoin.
func (c *controller) rebalanceLeaders(ctx context.Context) {
	cfg := c.s.cfg.LeaderRebalance
	if cfg.Interval <= 0 {
		return
	}
	now := time.Now()
	c.mu.Lock()
	due := !c.rebalancedAt.IsZero() && now.Sub(c.rebalancedAt) >= cfg.Interval
	if c.rebalancedAt.IsZero() || due {
		c.rebalancedAt = now
	}
	c.mu.Unlock()
	if !due {
		return
	}
	im := c.s.Image()
	recs := planLeaderRebalance(im, aliveExcept(im, nil, nil), cfg.ImbalancePercent)
	if len(recs) == 0 {
		return
	}
	if _, err := c.propose(ctx, recs); err != nil {
		c.s.cfg.Logger.Warn("controller: leader rebalance", "err", err)
		return
	}
	c.logChanges(recs)
}

// electLeaders commits the elections the current image calls for
// (planElections), or else the reassignments it can complete
// (planReassignments), once per image.
func (c *controller) electLeaders(ctx context.Context) {
	im := c.s.Image()
	c.mu.Lock()
	seen := c.electedAt
	c.mu.Unlock()
	if im.Index == seen {
		return
	}
	alive := aliveExcept(im, nil, nil)
	recs := planElections(im, alive)
	if len(recs) == 0 {
		// Elections first: a reassignment completes on a settled image.
		recs = planReassignments(im, alive)
	}
	if len(recs) > 0 {
		if _, err := c.propose(ctx, recs); err != nil {
			c.s.cfg.Logger.Warn("controller: leader elections", "err", err)
			return
		}
		c.logChanges(recs)
	}
	// Marked planned at the image planned from, not the one after the
	// proposal: another entry (an unfencing, say) may have committed in
	// between on a state this plan did not see, so the next tick plans
	// again from the image that includes both.
	c.mu.Lock()
	c.electedAt = im.Index
	c.mu.Unlock()
}

// logChanges logs the partition changes among recs.
func (c *controller) logChanges(recs []Record) {
	for _, r := range recs {
		if pc := r.PartitionChange; pc != nil {
			c.s.cfg.Logger.Info("partition change", "topic", pc.Topic.String(), "partition", pc.Partition,
				"leader", pc.Leader, "isr", pc.ISR, "reason", pc.Reason)
		}
	}
}

// takeOver makes this leader the active controller: it applies every
// entry of earlier terms, gives every broker a fresh session and, in a new
// cluster, writes the cluster id.
func (c *controller) takeOver(ctx context.Context) error {
	if err := c.s.raft.Barrier(c.s.cfg.ApplyTimeout).Error(); err != nil {
		return fmt.Errorf("barrier: %w", err)
	}
	im := c.s.Image()
	if im.ClusterID == "" {
		data, _ := encodeRecords([]Record{{InitCluster: &InitCluster{ClusterID: newClusterID()}}})
		if _, _, err := c.s.applyLocal(ctx, data); err != nil {
			return fmt.Errorf("init cluster: %w", err)
		}
		im = c.s.Image()
	}
	now := time.Now()
	sessions := map[int32]session{}
	for _, b := range im.Brokers() {
		sessions[b.ID] = session{epoch: b.Epoch, lastSeen: now}
	}
	c.mu.Lock()
	c.isActive, c.sessions = true, sessions
	c.mu.Unlock()
	c.s.cfg.Logger.Info("active controller", "node", c.s.cfg.NodeID, "cluster", im.ClusterID, "index", im.Index)
	return nil
}

// fenceExpired fences the unfenced brokers whose session expired.
func (c *controller) fenceExpired(ctx context.Context) {
	im := c.s.Image()
	now := time.Now()
	var recs []Record
	c.mu.Lock()
	if c.sessions == nil {
		c.mu.Unlock()
		return
	}
	for _, b := range im.Brokers() {
		s, ok := c.sessions[b.ID]
		if !ok || s.epoch != b.Epoch {
			// Registered through an earlier controller: a fresh session.
			c.sessions[b.ID] = session{epoch: b.Epoch, lastSeen: now}
			continue
		}
		if !b.Fenced && now.Sub(s.lastSeen) > c.s.cfg.SessionTimeout {
			recs = append(recs, Record{FenceBroker: &BrokerRef{ID: b.ID, Epoch: b.Epoch}})
		}
	}
	c.mu.Unlock()
	if len(recs) == 0 {
		return
	}
	var down []int32
	for _, r := range recs {
		down = append(down, r.FenceBroker.ID)
	}
	fences := len(recs)
	recs = append(recs, planElections(im, aliveExcept(im, down, nil))...)
	errs, err := c.propose(ctx, recs)
	for i, r := range recs[:fences] {
		if err == nil && errs[i] == nil {
			c.s.cfg.Logger.Warn("fenced broker: session expired", "node", r.FenceBroker.ID, "epoch", r.FenceBroker.Epoch, "timeout", c.s.cfg.SessionTimeout)
		}
	}
	if err == nil {
		c.logChanges(recs[fences:])
	}
}

// propose commits records through this node (the active controller).
func (c *controller) propose(ctx context.Context, recs []Record) ([]error, error) {
	data, err := encodeRecords(recs)
	if err != nil {
		return nil, err
	}
	res, _, err := c.s.applyLocal(ctx, data)
	if errors.Is(err, raft.ErrNotLeader) {
		return nil, fmt.Errorf("%w: lost leadership", kerr.NotController)
	}
	if err == nil {
		err = res.err
	}
	return res.errs, err
}

// register handles a BrokerRegistration on the active controller.
func (c *controller) register(ctx context.Context, reg *BrokerRegistration) (*RegistrationResult, error) {
	if reg.ID < 0 || reg.Incarnation == "" {
		return nil, fmt.Errorf("%w: registration needs a node id and an incarnation", kerr.InvalidRequest)
	}
	if err := c.checkDuplicate(reg); err != nil {
		return nil, err
	}
	if reg.RaftAddr != "" {
		if err := c.ensureNonvoter(reg.ID, reg.RaftAddr); err != nil {
			return nil, err
		}
	}
	b := Broker{ID: reg.ID, Host: reg.Host, Port: reg.Port, Rack: reg.Rack, Cell: reg.Cell, InternalAddr: reg.InternalAddr,
		Incarnation: reg.Incarnation, Fenced: true}
	// The new registration replaces its predecessor, which may never have
	// been fenced (its session expired a moment ago, or was never heard
	// by this controller): it leaves every ISR and leadership in this
	// entry, as at a fencing, so that the new process rejoins by catching
	// up with its leaders (Kafka's handling of an unclean restart). Left to
	// the next election pass, an unfencing could come first and keep it in
	// the ISRs on its predecessor's log end offsets.
	im := c.s.Image()
	recs := append([]Record{{RegisterBroker: &b}}, planElections(im, aliveExcept(im, []int32{reg.ID}, nil))...)
	data, err := encodeRecords(recs)
	if err != nil {
		return nil, err
	}
	res, index, err := c.s.applyLocal(ctx, data)
	if errors.Is(err, raft.ErrNotLeader) {
		return nil, fmt.Errorf("%w: lost leadership", kerr.NotController)
	}
	if err == nil {
		err = res.err
	}
	if err == nil {
		err = res.errs[0]
	}
	if err != nil {
		return nil, err
	}
	c.touch(reg.ID, int64(index))
	c.logChanges(recs[1:])
	c.s.cfg.Logger.Info("registered broker", "node", reg.ID, "epoch", index, "rack", reg.Rack, "cell", reg.Cell, "incarnation", reg.Incarnation)
	return &RegistrationResult{Epoch: int64(index)}, nil
}

// checkDuplicate refuses a registration of another incarnation while the
// current one has a live session.
func (c *controller) checkDuplicate(reg *BrokerRegistration) error {
	have, ok := c.s.Image().Broker(reg.ID)
	if !ok || have.Incarnation == reg.Incarnation {
		return nil
	}
	c.mu.Lock()
	s, ok := c.sessions[reg.ID]
	c.mu.Unlock()
	if ok && s.heard && s.epoch == have.Epoch && time.Since(s.lastSeen) <= c.s.cfg.SessionTimeout {
		return fmt.Errorf("%w: node id %d is held by a live broker at %s:%d (incarnation %s, last heard %v ago)",
			kerr.DuplicateBrokerRegistration, reg.ID, have.Host, have.Port, have.Incarnation, time.Since(s.lastSeen).Round(time.Millisecond))
	}
	return nil
}

// ensureNonvoter makes id a raft non-voter at addr, unless it is a voter
// or already a non-voter there.
func (c *controller) ensureNonvoter(id int32, addr string) error {
	f := c.s.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return fmt.Errorf("%w: raft configuration: %w", kerr.NotController, err)
	}
	sid := raft.ServerID(strconv.Itoa(int(id)))
	for _, srv := range f.Configuration().Servers {
		if srv.ID != sid {
			continue
		}
		if srv.Suffrage == raft.Voter {
			return nil
		}
		if string(srv.Address) == addr {
			return nil
		}
	}
	if err := c.s.raft.AddNonvoter(sid, raft.ServerAddress(addr), 0, c.s.cfg.ApplyTimeout).Error(); err != nil {
		return fmt.Errorf("%w: add non-voter %d at %s: %w", kerr.NotController, id, addr, err)
	}
	return nil
}

func (c *controller) touch(id int32, epoch int64) {
	c.mu.Lock()
	if c.sessions != nil {
		c.sessions[id] = session{epoch: epoch, lastSeen: time.Now(), heard: true}
	}
	c.mu.Unlock()
}

// heartbeat handles a BrokerHeartbeat on the active controller.
func (c *controller) heartbeat(ctx context.Context, hb *BrokerHeartbeat) (*HeartbeatResult, error) {
	im := c.s.Image()
	b, ok := im.Broker(hb.ID)
	if !ok {
		return nil, fmt.Errorf("%w: broker %d", kerr.BrokerIDNotRegistered, hb.ID)
	}
	if b.Epoch != hb.Epoch {
		return nil, fmt.Errorf("%w: broker %d heartbeats with epoch %d but is registered with epoch %d (incarnation %s)",
			kerr.StaleBrokerEpoch, hb.ID, hb.Epoch, b.Epoch, b.Incarnation)
	}
	ref := &BrokerRef{ID: b.ID, Epoch: b.Epoch}
	if hb.WantShutdown {
		if !b.InControlledShutdown || !b.Fenced {
			// Leaderships move away and the broker leaves the ISRs
			// before it is fenced, in the same entry.
			recs := []Record{{ControlledShutdown: ref}}
			recs = append(recs, planElections(im, aliveExcept(im, []int32{b.ID}, nil))...)
			recs = append(recs, Record{FenceBroker: ref})
			if _, err := c.propose(ctx, recs); err != nil {
				return nil, err
			}
			c.logChanges(recs)
			c.s.cfg.Logger.Info("controlled shutdown of broker", "node", b.ID, "epoch", b.Epoch)
		}
		c.mu.Lock()
		delete(c.sessions, b.ID)
		c.mu.Unlock()
		return &HeartbeatResult{Fenced: true, CaughtUp: true, ShouldShutdown: true}, nil
	}
	c.touch(b.ID, b.Epoch)
	// Caught up, as KRaft has it: the broker has applied its own
	// registration (its epoch is that entry's index), so it knows every
	// partition assigned to it before. Not the latest index: a busy
	// metadata log (ISR changes of many partitions) could keep that ahead
	// of every broker's heartbeat forever.
	res := &HeartbeatResult{Fenced: b.Fenced, CaughtUp: hb.AppliedIndex >= uint64(b.Epoch)}
	if b.Fenced && res.CaughtUp && !b.InControlledShutdown {
		// Partitions left without a leader whose last in-sync replica is
		// this broker get it back as leader in the same entry.
		recs := []Record{{UnfenceBroker: ref}}
		recs = append(recs, planElections(im, aliveExcept(im, nil, []int32{b.ID}))...)
		errs, err := c.propose(ctx, recs)
		if err == nil {
			err = errs[0]
		}
		if err != nil {
			return nil, err
		}
		res.Fenced = false
		c.s.cfg.Logger.Info("unfenced broker", "node", b.ID, "epoch", b.Epoch)
	}
	return res, nil
}

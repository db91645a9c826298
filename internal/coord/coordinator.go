package coord

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/strata-db/strata/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
)

// OffsetsTopic is the internal topic (of meta.SystemTenant) that holds
// group state, named as in Kafka.
const OffsetsTopic = "__consumer_offsets"

// Config holds the coordinator's limits, with Kafka's names in comments.
type Config struct {
	// Partitions is offsets.topic.num.partitions: how groups are spread.
	Partitions            int32
	MinSessionTimeout     time.Duration // group.min.session.timeout.ms
	MaxSessionTimeout     time.Duration // group.max.session.timeout.ms
	InitialRebalanceDelay time.Duration // group.initial.rebalance.delay.ms
	MaxGroupSize          int           // group.max.size
	OffsetsRetention      time.Duration // offsets.retention.minutes
	RetentionCheck        time.Duration // offsets.retention.check.interval.ms
	MaxMetadataBytes      int           // offset.metadata.max.bytes
	// Consumer groups (KIP-848).
	ConsumerSessionTimeout    time.Duration // group.consumer.session.timeout.ms
	ConsumerHeartbeatInterval time.Duration // group.consumer.heartbeat.interval.ms
	ConsumerMaxSize           int           // group.consumer.max.size
	// Topics is the tenants' topics, which consumer groups assign; nil
	// means none.
	Topics TopicMetadata
	Now    func() time.Time
	Logger *slog.Logger
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		Partitions:            50,
		MinSessionTimeout:     6 * time.Second,
		MaxSessionTimeout:     30 * time.Minute,
		InitialRebalanceDelay: 3 * time.Second,
		MaxGroupSize:          math.MaxInt32,
		OffsetsRetention:      7 * 24 * time.Hour,
		RetentionCheck:        10 * time.Minute,
		MaxMetadataBytes:      4096,

		ConsumerSessionTimeout:    45 * time.Second,
		ConsumerHeartbeatInterval: 5 * time.Second,
		ConsumerMaxSize:           math.MaxInt32,
	}
}

// Validate checks the limits that depend on each other.
func (c *Config) Validate() error {
	switch {
	case c.Partitions < 1:
		return fmt.Errorf("coord: %d offsets partitions", c.Partitions)
	case c.ConsumerSessionTimeout <= 0 || c.ConsumerHeartbeatInterval <= 0:
		return fmt.Errorf("coord: consumer session timeout %v and heartbeat interval %v must be positive", c.ConsumerSessionTimeout, c.ConsumerHeartbeatInterval)
	case c.ConsumerHeartbeatInterval >= c.ConsumerSessionTimeout:
		return fmt.Errorf("coord: group.consumer.heartbeat.interval.ms (%v) must be less than group.consumer.session.timeout.ms (%v)",
			c.ConsumerHeartbeatInterval, c.ConsumerSessionTimeout)
	}
	return nil
}

// Coordinator serves the groups of the offsets partitions loaded into it.
type Coordinator struct {
	cfg Config
	log *slog.Logger

	mu     sync.RWMutex
	shards map[int32]*shard
}

// shard is one loaded partition of the offsets topic.
type shard struct {
	id  int32
	log Log

	mu     sync.Mutex
	groups map[GroupKey]*lockedGroup
	// txnGroups indexes the groups with transactional offsets pending, by
	// producer id; markerEpochs holds the epoch of each producer's latest
	// transaction marker (txn_offsets.go).
	txnGroups    map[int64]map[GroupKey]struct{}
	markerEpochs map[int64]int16
}

// lockedGroup pairs a group with its lock; the map holds these so that a
// group can be found without holding its lock.
type lockedGroup struct {
	mu sync.Mutex
	*group
}

func New(cfg Config) *Coordinator {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Topics == nil {
		cfg.Topics = noTopics{}
	}
	return &Coordinator{cfg: cfg, log: cfg.Logger, shards: map[int32]*shard{}}
}

// Load replays partition id of the offsets topic and starts serving its
// groups. Loading an already loaded partition does nothing.
func (c *Coordinator) Load(id int32, l Log) error {
	c.mu.RLock()
	_, loaded := c.shards[id]
	c.mu.RUnlock()
	if loaded {
		return nil
	}
	st, err := replay(l)
	if err != nil {
		return err
	}
	s := &shard{id: id, log: l, groups: map[GroupKey]*lockedGroup{}, txnGroups: map[int64]map[GroupKey]struct{}{}, markerEpochs: st.markerEpochs}
	now := c.cfg.Now()
	for k, v := range st.cgroups {
		g, err := restoreConsumer(k, v, st.cmembers[k], st.offsets[k], now)
		if err != nil {
			return err
		}
		if _, ok := st.groups[k]; ok {
			c.log.Warn("group has classic and consumer records; keeping the consumer group", "group", k.String())
		}
		s.groups[k] = &lockedGroup{group: g}
	}
	for k, v := range st.groups {
		if _, ok := s.groups[k]; !ok {
			s.groups[k] = &lockedGroup{group: restore(k, v, st.offsets[k], now)}
		}
	}
	for k, offs := range st.offsets {
		if _, ok := s.groups[k]; !ok {
			s.groups[k] = &lockedGroup{group: restore(k, nil, offs, now)}
		}
	}
	s.restorePending(st.pending, now)
	for _, g := range s.groups {
		g.mu.Lock()
		for _, m := range g.members {
			c.armSession(s, g, m)
		}
		if g.cg != nil {
			for _, m := range g.cg.members {
				c.armConsumerSession(s, g, m)
				if m.state == memberUnrevoked {
					c.armRevocation(s, g, m)
				}
			}
		}
		g.mu.Unlock()
	}
	c.mu.Lock()
	c.shards[id] = s
	c.mu.Unlock()
	c.log.Info("loaded group coordinator partition", "partition", id, "groups", len(s.groups))
	return nil
}

// Unload stops serving a partition (its leadership moved away). Waiting
// requests are answered NOT_COORDINATOR so that clients find the new one.
func (c *Coordinator) Unload(id int32) {
	c.mu.Lock()
	s := c.shards[id]
	delete(c.shards, id)
	c.mu.Unlock()
	if s == nil {
		return
	}
	for _, g := range s.snapshot() {
		g.mu.Lock()
		g.failWaiters(kerr.NotCoordinator)
		for _, m := range g.members {
			stopTimer(m)
		}
		if g.cg != nil {
			for _, m := range g.cg.members {
				stopConsumerTimers(m)
			}
		}
		if g.rebalanceTimer != nil {
			g.rebalanceTimer.Stop()
		}
		g.mu.Unlock()
	}
}

// snapshot lists the shard's groups. Lock order is group before shard
// (deleteLocked), so callers lock groups only after this returns.
func (s *shard) snapshot() []*lockedGroup {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*lockedGroup, 0, len(s.groups))
	for _, g := range s.groups {
		out = append(out, g)
	}
	return out
}

// Close unloads every partition: timers stop and waiting requests end.
func (c *Coordinator) Close() {
	c.mu.RLock()
	ids := make([]int32, 0, len(c.shards))
	for id := range c.shards {
		ids = append(ids, id)
	}
	c.mu.RUnlock()
	for _, id := range ids {
		c.Unload(id)
	}
}

// Loaded reports whether a partition is loaded.
func (c *Coordinator) Loaded(id int32) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.shards[id]
	return ok
}

var errGroupGone = errors.New("coord: group was deleted")

// lock finds a group and locks it; with create, a missing group is created
// Empty. It returns nil without error when the group does not exist and
// create is false. The caller unlocks g.mu.
func (c *Coordinator) lock(k GroupKey, create bool) (*shard, *lockedGroup, error) {
	if k.Group == "" {
		return nil, nil, fmt.Errorf("%w: empty group id", kerr.InvalidGroupID)
	}
	c.mu.RLock()
	s := c.shards[PartitionFor(k, c.cfg.Partitions)]
	c.mu.RUnlock()
	if s == nil {
		return nil, nil, kerr.NotCoordinator
	}
	for {
		s.mu.Lock()
		g := s.groups[k]
		if g == nil {
			if !create {
				s.mu.Unlock()
				return s, nil, nil
			}
			g = &lockedGroup{group: newGroup(k, c.cfg.Now())}
			s.groups[k] = g
		}
		s.mu.Unlock()
		g.mu.Lock()
		if g.state != StateDead {
			return s, g, nil
		}
		g.mu.Unlock() // deleted meanwhile: look again
	}
}

// compressAbove is the batch size from which the coordinator compresses
// what it writes: a consumer group rebalance writes a record per member in
// one batch, and JSON compresses well, so groups ten times larger fit under
// the offsets topic's max.message.bytes.
const compressAbove = 64 << 10

// write appends records to the shard's log, as one batch. A failure is
// reported as COORDINATOR_NOT_AVAILABLE, which clients retry.
func (c *Coordinator) write(s *shard, recs ...record.Record) error {
	_, err := c.writeAt(s, recs...)
	return err
}

// writeAt is write returning the batch's base offset: record i of recs is
// at base+i.
func (c *Coordinator) writeAt(s *shard, recs ...record.Record) (int64, error) {
	batch := record.Encode(c.cfg.Now().UnixMilli(), recs)
	if len(batch) > compressAbove {
		compressed, err := record.Recompress(batch, record.CompressionZstd, 64<<20)
		if err != nil {
			panic(fmt.Sprintf("coord: compress a batch of our own: %v", err))
		}
		batch = compressed
	}
	return c.appendBatch(s, batch)
}

func (c *Coordinator) appendBatch(s *shard, batch []byte) (int64, error) {
	base, err := s.log.Append(batch)
	if err != nil {
		c.log.Error("cannot write group state", "partition", s.id, "err", err)
		return -1, fmt.Errorf("%w: %w", kerr.CoordinatorNotAvailable, err)
	}
	return base, nil
}

// armSession (re)starts a member's session timer from now. The timer
// fires at the deadline; heartbeats only move the deadline, and a timer
// that finds a later deadline re-arms itself, so heartbeats cost no timer
// work.
func (c *Coordinator) armSession(s *shard, g *lockedGroup, m *member) {
	m.deadline = c.cfg.Now().Add(m.sessionTimeout)
	if m.timer != nil {
		return
	}
	m.timer = time.AfterFunc(m.sessionTimeout, func() { c.sessionCheck(s, g, m) })
}

func (c *Coordinator) sessionCheck(s *shard, g *lockedGroup, m *member) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.members[m.id] != m || m.timer == nil {
		return // left, replaced, or unloaded while the timer fired
	}
	now := c.cfg.Now()
	if m.joinWait != nil || m.syncWait != nil {
		m.deadline = now.Add(m.sessionTimeout) // waiting members are alive
	}
	if wait := m.deadline.Sub(now); wait > 0 {
		m.timer.Reset(wait)
		return
	}
	c.log.Info("member session expired", "group", g.key.String(), "member", m.id)
	c.removeMember(s, g, m, "session expired")
}

// removeMember drops a member and moves the group towards a rebalance.
func (c *Coordinator) removeMember(s *shard, g *lockedGroup, m *member, why string) {
	stopTimer(m)
	delete(g.members, m.id)
	if m.instanceID != "" && g.static[m.instanceID] == m.id {
		delete(g.static, m.instanceID)
	}
	if m.joinWait != nil {
		m.joinWait <- JoinResult{Err: kerr.UnknownMemberID}
		m.joinWait = nil
	}
	if m.syncWait != nil {
		m.syncWait <- SyncResult{Err: kerr.UnknownMemberID}
		m.syncWait = nil
	}
	switch g.state {
	case StateStable, StateCompletingRebalance:
		c.prepareRebalance(s, g, why)
	case StatePreparingRebalance:
		c.tryCompleteJoin(s, g)
	}
}

func stopTimer(m *member) {
	if m.timer != nil {
		m.timer.Stop()
		m.timer = nil
	}
}

// failWaiters answers every waiting join and sync with err.
func (g *group) failWaiters(err error) {
	for _, m := range g.members {
		if m.joinWait != nil {
			m.joinWait <- JoinResult{Err: err}
			m.joinWait = nil
		}
		if m.syncWait != nil {
			m.syncWait <- SyncResult{Err: err}
			m.syncWait = nil
		}
	}
}

// wait blocks for a join or sync result, or until ctx ends (the server is
// stopping), which the client sees as a coordinator to retry.
func wait[T any](ctx context.Context, ch chan T, onCancel T) T {
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		return onCancel
	}
}

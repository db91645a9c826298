package replica

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/strata-db/strata/internal/config"
	"github.com/strata-db/strata/internal/log"
	"github.com/strata-db/strata/internal/meta"
)

// ImageSource is what the manager needs from the metadata store.
type ImageSource interface {
	Image() *meta.Image
	Subscribe() <-chan struct{}
}

// Config configures a Manager.
type Config struct {
	NodeID int32
	Logs   *log.Manager
	Meta   ImageSource
	// Static holds broker configs from the server's config file, the layer
	// below dynamic broker configs.
	Static map[string]string
	Logger *slog.Logger
	Now    func() time.Time
	// RetryInterval is how often partitions that failed to open are retried.
	RetryInterval time.Duration
	// ProducerExpiryInterval is how often idle producers are expired
	// (producer.id.expiration.check.interval.ms); 0: 10 minutes.
	ProducerExpiryInterval time.Duration

	// Controller takes leaders' ISR changes (AlterPartition); nil: ISRs
	// never change (tests of one node).
	Controller Controller
	// BrokerEpoch is this broker's registration epoch, sent with replica
	// fetches (KIP-903); nil: -1.
	BrokerEpoch func() int64
	// ReplicaLagTime is replica.lag.time.max.ms: a follower that has not
	// caught up with its leader for this long leaves the ISR. 0: 30s.
	ReplicaLagTime time.Duration
	// PeerTLS, when set, is the TLS config of fetch connections to
	// leaders (peer.TLS.Dialer, --peer-tls-*); nil: plaintext.
	PeerTLS *tls.Config
}

// Controller is what leaders need from the active controller.
type Controller interface {
	AlterPartition(ctx context.Context, change meta.AlterPartition) error
}

// Manager keeps the set of open partitions equal to what the metadata image
// assigns to this node: it opens logs for new partitions, deletes logs of
// deleted topics and pushes config changes down.
type Manager struct {
	cfg Config
	log *slog.Logger

	mu      sync.RWMutex
	parts   map[Key]*Partition
	offline map[Key]error // assigned here but could not be opened

	// Reconcile state, used only by the reconciling goroutine.
	seenTopics  map[meta.TopicID]*meta.Topic
	seenBrokers [2]map[string]string
	firstDone   bool

	// reconciled is the image index the open partitions reflect; changed
	// is closed and replaced whenever it moves.
	rmu        sync.Mutex
	reconciled uint64
	changed    chan struct{}

	// fetchers by leader broker; used only by the reconciling goroutine.
	fetchers map[int32]*fetcher
}

func NewManager(cfg Config) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = 10 * time.Second
	}
	if cfg.ProducerExpiryInterval == 0 {
		cfg.ProducerExpiryInterval = 10 * time.Minute
	}
	if cfg.ReplicaLagTime == 0 {
		cfg.ReplicaLagTime = 30 * time.Second
	}
	return &Manager{
		cfg: cfg, log: cfg.Logger,
		parts: map[Key]*Partition{}, offline: map[Key]error{},
		seenTopics: map[meta.TopicID]*meta.Topic{},
		changed:    make(chan struct{}),
		fetchers:   map[int32]*fetcher{},
	}
}

// Changed returns a channel closed at the next reconciliation.
func (m *Manager) Changed() <-chan struct{} {
	m.rmu.Lock()
	defer m.rmu.Unlock()
	return m.changed
}

func (m *Manager) brokerEpoch() int64 {
	if m.cfg.BrokerEpoch == nil {
		return -1
	}
	return m.cfg.BrokerEpoch()
}

// WaitReconciled blocks until the partitions reflect the image at index, or
// ctx ends.
func (m *Manager) WaitReconciled(ctx context.Context, index uint64) {
	for {
		m.rmu.Lock()
		done, ch := m.reconciled >= index, m.changed
		m.rmu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return
		}
	}
}

func (m *Manager) setReconciled(index uint64) {
	m.rmu.Lock()
	m.reconciled = index
	close(m.changed)
	m.changed = make(chan struct{})
	m.rmu.Unlock()
}

// Get returns an open partition.
func (m *Manager) Get(k Key) (*Partition, bool) {
	m.mu.RLock()
	p, ok := m.parts[k]
	m.mu.RUnlock()
	return p, ok
}

// OfflineError returns why a partition assigned here is not open, if so.
func (m *Manager) OfflineError(k Key) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.offline[k]
}

// Partitions returns every open partition.
func (m *Manager) Partitions() []*Partition {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*Partition, 0, len(m.parts))
	for _, p := range m.parts {
		out = append(out, p)
	}
	return out
}

// Run reconciles on every metadata change and retries offline partitions,
// until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	changes := m.cfg.Meta.Subscribe()
	retry := time.NewTicker(m.cfg.RetryInterval)
	defer retry.Stop()
	expiry := time.NewTicker(m.cfg.ProducerExpiryInterval)
	defer expiry.Stop()
	// Kafka checks for lagging followers every half lag time.
	lag := time.NewTicker(m.cfg.ReplicaLagTime / 2)
	defer lag.Stop()
	defer m.stopFetchers()
	// Changes committed before the subscription sent no notification.
	m.Reconcile()
	for {
		select {
		case <-ctx.Done():
			return
		case <-expiry.C:
			m.expireProducers()
			continue
		case <-lag.C:
			for _, p := range m.Partitions() {
				p.shrinkISR(m.cfg.ReplicaLagTime)
			}
			continue
		case <-changes:
		case <-retry.C:
			m.mu.RLock()
			n := len(m.offline)
			m.mu.RUnlock()
			if n == 0 {
				continue
			}
		}
		m.Reconcile()
	}
}

// Reconcile brings the open partitions in line with the current image. Only
// one goroutine may call it at a time (Run, or start-up before Run).
func (m *Manager) Reconcile() {
	im := m.cfg.Meta.Image()
	brokerCfgChanged := m.brokerConfigsChanged(im)
	desired := map[Key]*meta.Topic{}
	for _, t := range im.AllTopics() {
		for i, part := range t.Partitions {
			for _, r := range part.Replicas {
				if r == m.cfg.NodeID {
					desired[Key{t.ID, int32(i)}] = t
				}
			}
		}
	}
	m.closeUndesired(desired)
	if !m.firstDone {
		m.deleteStrays(desired)
		m.firstDone = true
	}
	for k, t := range desired {
		if brokerCfgChanged || m.seenTopics[t.ID] != t {
			m.apply(im, k, t)
		} else if _, ok := m.Get(k); !ok {
			m.apply(im, k, t)
		}
	}
	m.seenTopics = map[meta.TopicID]*meta.Topic{}
	for _, t := range desired {
		m.seenTopics[t.ID] = t
	}
	m.syncFetchers(im)
	m.setReconciled(im.Index)
}

func (m *Manager) brokerConfigsChanged(im *meta.Image) bool {
	cur := [2]map[string]string{im.BrokerConfigs(m.cfg.NodeID), im.BrokerConfigs(meta.ClusterConfigKey)}
	changed := !maps.Equal(cur[0], m.seenBrokers[0]) || !maps.Equal(cur[1], m.seenBrokers[1])
	m.seenBrokers = cur
	return changed
}

// TopicConfig resolves a topic's effective config on this node.
func (m *Manager) TopicConfig(im *meta.Image, t *meta.Topic) (config.Topic, error) {
	return config.EffectiveTopic(m.Layers(im, t.Configs))
}

// Layers returns the config layers of a topic (or, with nil overrides, of
// this broker) as this node sees them.
func (m *Manager) Layers(im *meta.Image, overrides map[string]string) config.Layers {
	return config.Layers{
		Topic:          overrides,
		Broker:         im.BrokerConfigs(m.cfg.NodeID),
		ClusterDefault: im.BrokerConfigs(meta.ClusterConfigKey),
		Static:         m.cfg.Static,
	}
}

// apply opens the partition if needed and pushes its current config.
func (m *Manager) apply(im *meta.Image, k Key, t *meta.Topic) {
	tc, err := m.TopicConfig(im, t)
	if err != nil {
		// Configs are validated before they are committed; a bad one here
		// means a default changed under it. Keep the partition on Kafka's
		// defaults rather than offline.
		m.log.Error("invalid effective topic config; using defaults", "topic", t.Name, "err", err)
		tc, _ = config.EffectiveTopic(config.Layers{})
	}
	st := t.Partitions[k.Partition]
	if p, ok := m.Get(k); ok {
		if *p.Config() != tc {
			if err := p.setConfig(tc); err != nil {
				m.log.Error("cannot apply topic config", "topic", t.Name, "partition", k.Partition, "err", err)
			}
		}
		m.applyState(p, t, st)
		return
	}
	l, err := m.cfg.Logs.Open(logName(k), LogConfig(tc))
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		if _, was := m.offline[k]; !was {
			m.log.Error("cannot open partition", "topic", t.Name, "partition", k.Partition, "err", err)
		}
		m.offline[k] = fmt.Errorf("replica: open %s: %w", k, err)
		return
	}
	delete(m.offline, k)
	p := newPartition(k, l, tc, -1, m.cfg.Now)
	if m.cfg.Controller != nil {
		p.sendISR, p.isrEligible = m.sendISR, m.isrEligible
	}
	m.applyState(p, t, st)
	m.parts[k] = p
}

// applyState gives a partition its state from the image, logging role
// changes.
func (m *Manager) applyState(p *Partition, t *meta.Topic, st meta.Partition) {
	old := p.State()
	if old.LeaderEpoch == st.LeaderEpoch && old.PartitionEpoch == st.PartitionEpoch && old.Leader == st.Leader {
		return
	}
	p.applyState(m.cfg.NodeID, st)
	if old.LeaderEpoch != st.LeaderEpoch || old.Leader != st.Leader {
		role := "follower"
		if st.Leader == m.cfg.NodeID {
			role = "leader"
		}
		m.log.Info("partition role", "topic", t.Name, "partition", p.key.Partition, "role", role,
			"leader", st.Leader, "epoch", st.LeaderEpoch, "isr", st.ISR)
	}
}

// isrEligible reports whether the image shows broker id alive (registered,
// unfenced and not in controlled shutdown) at broker epoch epoch, the
// epoch of the fetches a leader saw from it (KIP-903): fetches of an
// earlier process of the broker, or without an epoch (-1), never make it
// eligible.
func (m *Manager) isrEligible(id int32, epoch int64) bool {
	b, ok := m.cfg.Meta.Image().Broker(id)
	return ok && b.Alive() && b.Epoch == epoch
}

// sendISR sends a leader's ISR change to the controller (ISRSender).
func (m *Manager) sendISR(p *Partition, change meta.AlterPartition) {
	change.BrokerEpoch = m.brokerEpoch()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.cfg.Controller.AlterPartition(ctx, change); err != nil {
		m.log.Warn("ISR change refused", "partition", p.key.String(), "isr", change.ISR, "added", change.Added,
			"partition_epoch", change.PartitionEpoch, "err", err)
		p.ISRChangeFailed(change, err)
		return
	}
	m.log.Info("ISR changed", "partition", p.key.String(), "isr", change.ISR, "added", change.Added)
}

// syncFetchers gives each leader's fetcher the partitions this node
// follows from it, starting and stopping fetchers as leaders come and go.
func (m *Manager) syncFetchers(im *meta.Image) {
	byLeader := map[int32]map[Key]*followed{}
	for _, p := range m.Partitions() {
		st := p.State()
		if st.Leader == m.cfg.NodeID || st.Leader == meta.NoLeader {
			continue
		}
		if byLeader[st.Leader] == nil {
			byLeader[st.Leader] = map[Key]*followed{}
		}
		byLeader[st.Leader][p.key] = &followed{p: p, leaderEpoch: st.LeaderEpoch}
	}
	for id, f := range m.fetchers {
		if _, ok := byLeader[id]; !ok {
			f.stop()
			delete(m.fetchers, id)
		}
	}
	for id, parts := range byLeader {
		b, ok := im.Broker(id)
		if !ok {
			continue
		}
		addr := b.PeerAddr()
		f, ok := m.fetchers[id]
		if !ok {
			f = newFetcher(m, id, addr)
			m.fetchers[id] = f
		}
		f.set(addr, parts)
	}
}

func (m *Manager) stopFetchers() {
	for id, f := range m.fetchers {
		f.stop()
		delete(m.fetchers, id)
	}
}

func (m *Manager) closeUndesired(desired map[Key]*meta.Topic) {
	m.mu.Lock()
	var gone []Key
	for k := range m.parts {
		if _, ok := desired[k]; !ok {
			gone = append(gone, k)
			delete(m.parts, k)
		}
	}
	for k := range m.offline {
		if _, ok := desired[k]; !ok {
			delete(m.offline, k)
		}
	}
	m.mu.Unlock()
	for _, k := range gone {
		if err := m.cfg.Logs.Delete(logName(k)); err != nil {
			m.log.Error("cannot delete partition log", "log", logName(k), "err", err)
		} else {
			m.log.Info("deleted partition", "log", logName(k))
		}
	}
}

// deleteStrays removes logs on disk that the image no longer assigns here,
// e.g. of topics deleted while the node was down.
func (m *Manager) deleteStrays(desired map[Key]*meta.Topic) {
	names, err := m.cfg.Logs.Names()
	if err != nil {
		m.log.Error("cannot list logs", "err", err)
		return
	}
	want := map[string]bool{}
	for k := range desired {
		want[logName(k)] = true
	}
	for _, n := range names {
		if !want[n] {
			m.log.Info("deleting log of a removed partition", "log", n)
			if err := m.cfg.Logs.Delete(n); err != nil {
				m.log.Error("cannot delete stray log", "log", n, "err", err)
			}
		}
	}
}

// logName is a partition's directory under the data dir: the topic id, not
// its name, so a deleted and re-created topic never meets old data.
func logName(k Key) string { return k.String() }

// LogConfig converts a topic's effective config to the log's settings.
func LogConfig(c config.Topic) log.Config {
	lc := log.DefaultConfig()
	lc.SegmentBytes = int64(c.SegmentBytes)
	lc.SegmentMs = c.SegmentDuration
	lc.SegmentIndexBytes = int(c.SegmentIndexBytes)
	lc.IndexIntervalBytes = int(c.IndexIntervalBytes)
	lc.RetentionBytes = c.RetentionBytes
	lc.RetentionMs = c.Retention
	if !c.CleanupPolicyDelete {
		// Compacted only: records live until compaction replaces them.
		lc.RetentionBytes, lc.RetentionMs = -1, -1
	}
	lc.FlushMessages = c.FlushMessages
	lc.FlushMs = c.FlushInterval
	lc.FileDeleteDelay = c.FileDeleteDelay
	lc.Compact = c.CleanupPolicyCompact
	lc.DeleteRetention = c.DeleteRetention
	lc.MinCompactionLag = c.MinCompactionLag
	lc.MaxCompactionLag = c.MaxCompactionLag
	lc.MinCleanableDirtyRatio = c.MinCleanableDirtyRatio
	lc.MaxMessageBytes = int(c.MaxMessageBytes)
	return lc
}

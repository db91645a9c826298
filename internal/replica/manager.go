package replica

import (
	"context"
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
	return &Manager{
		cfg: cfg, log: cfg.Logger,
		parts: map[Key]*Partition{}, offline: map[Key]error{},
		seenTopics: map[meta.TopicID]*meta.Topic{},
		changed:    make(chan struct{}),
	}
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
	// Changes committed before the subscription sent no notification.
	m.Reconcile()
	for {
		select {
		case <-ctx.Done():
			return
		case <-expiry.C:
			m.expireProducers()
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
	if p, ok := m.Get(k); ok {
		if *p.Config() != tc {
			if err := p.setConfig(tc); err != nil {
				m.log.Error("cannot apply topic config", "topic", t.Name, "partition", k.Partition, "err", err)
			}
		}
		return
	}
	epoch := t.Partitions[k.Partition].LeaderEpoch
	l, err := m.cfg.Logs.Open(logName(k), LogConfig(tc))
	if err == nil {
		// The epoch begins now, not at the first produce: no checkpoint
		// write on the produce path. If this fails the first append
		// records the epoch instead.
		if berr := l.BeginEpoch(epoch); berr != nil {
			m.log.Warn("cannot record leader epoch", "topic", t.Name, "partition", k.Partition, "err", berr)
		}
	}
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
	m.parts[k] = newPartition(k, l, tc, epoch, m.cfg.Now)
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

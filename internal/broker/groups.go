package broker

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/strata-db/strata/internal/coord"
	"github.com/strata-db/strata/internal/log"
	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/replica"
)

// startGroups creates the offsets topic on first start and the group
// coordinator; followLeadership loads the partitions this node leads.
func (b *Broker) startGroups(ctx context.Context) error {
	cfg := coord.DefaultConfig()
	cfg.Partitions = int32(b.brokerInt("offsets.topic.num.partitions"))
	cfg.MinSessionTimeout = b.brokerDuration("group.min.session.timeout.ms")
	cfg.MaxSessionTimeout = b.brokerDuration("group.max.session.timeout.ms")
	cfg.InitialRebalanceDelay = b.brokerDuration("group.initial.rebalance.delay.ms")
	cfg.MaxGroupSize = int(b.brokerInt("group.max.size"))
	cfg.OffsetsRetention = time.Duration(b.brokerInt("offsets.retention.minutes")) * time.Minute
	cfg.RetentionCheck = b.brokerDuration("offsets.retention.check.interval.ms")
	cfg.MaxMetadataBytes = int(b.brokerInt("offset.metadata.max.bytes"))
	cfg.ConsumerSessionTimeout = b.brokerDuration("group.consumer.session.timeout.ms")
	cfg.ConsumerHeartbeatInterval = b.brokerDuration("group.consumer.heartbeat.interval.ms")
	cfg.ConsumerMaxSize = int(b.brokerInt("group.consumer.max.size"))
	cfg.Topics = groupTopics{b.meta}
	cfg.Logger = b.log
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	b.groups = coord.New(cfg)

	if _, err := b.ensureOffsetsTopic(ctx, cfg.Partitions); err != nil {
		return err
	}
	b.wg.Add(1)
	go func() { defer b.wg.Done(); b.groups.RunExpiry(ctx) }()
	return nil
}

func (b *Broker) ensureOffsetsTopic(ctx context.Context, partitions int32) (*meta.Topic, error) {
	return b.ensureInternalTopic(ctx, coord.OffsetsTopic, partitions, "offsets.topic.replication.factor", b.brokerInt("offsets.topic.segment.bytes"))
}

// internalRF is the replication factor of an internal topic created now:
// the config's, at most the live broker count. In a multi-node cluster
// it first waits, up to internalTopicWait, for as many live brokers as
// there are controllers (the nodes of a cluster normally start
// together); then it takes what is there rather than nothing.
func (b *Broker) internalRF(ctx context.Context, name string) int16 {
	want := int(b.brokerInt(name))
	if n := len(b.cfg.Controllers); n > 0 {
		deadline := time.Now().Add(internalTopicWait)
		for len(b.meta.Image().LiveBrokers()) < min(want, n) && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
		}
	}
	return int16(max(1, min(want, len(b.meta.Image().LiveBrokers()))))
}

// internalTopicWait bounds internalRF's wait for brokers.
const internalTopicWait = 15 * time.Second

// ensureInternalTopic creates a compacted topic of the system tenant on
// first start and waits until its partitions are open here.
func (b *Broker) ensureInternalTopic(ctx context.Context, name string, partitions int32, rfConfig string, segmentBytes int64) (*meta.Topic, error) {
	if t, ok := b.meta.Image().TopicByName(meta.SystemTenant, name); ok {
		// Another node may have created it after this node's partitions
		// were last reconciled: wait until they reflect the image.
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		b.replicas.WaitReconciled(wctx, b.meta.Image().Index)
		return t, nil
	}
	spec := meta.TopicSpec{
		Name: name, NumPartitions: partitions, ReplicationFactor: b.internalRF(ctx, rfConfig), Internal: true,
		Configs: map[string]string{
			"cleanup.policy": "compact",
			"segment.bytes":  strconv.FormatInt(segmentBytes, 10),
		},
	}
	res := b.meta.CreateTopics(ctx, meta.SystemTenant, []meta.TopicSpec{spec}, false)
	if err := res[0].Err; err != nil && !meta.IsKafkaError(err) {
		return nil, fmt.Errorf("broker: create %s: %w", name, err)
	}
	// The partition manager's Run loop opens the new partitions.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	b.replicas.WaitReconciled(wctx, b.meta.Image().Index)
	t, ok := b.meta.Image().TopicByName(meta.SystemTenant, name)
	if !ok {
		return nil, fmt.Errorf("broker: create %s: %v", name, res[0].Err)
	}
	return t, nil
}

// partitionLog lets the coordinator use a partition of the offsets topic.
type partitionLog struct{ p *replica.Partition }

// coordinatorWriteTimeout bounds how long a coordinator's write waits for
// replication (Kafka's offsets.commit.timeout.ms default).
const coordinatorWriteTimeout = 5 * time.Second

// Append writes as a coordinator: transactional offset commits carry
// their producer's id and epoch but no sequence (Kafka's
// AppendOrigin.COORDINATOR). It returns once the batch is committed (the
// HW passed it), as the coordinators expect.
func (l partitionLog) Append(batch []byte) (int64, error) {
	res, err := l.p.AppendWith(batch, replica.AppendOptions{Origin: log.OriginCoordinator})
	if err != nil {
		return -1, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), coordinatorWriteTimeout)
	defer cancel()
	if err := l.p.WaitReplicated(ctx, res.LastOffset+1, res.LeaderEpoch); err != nil {
		return -1, err
	}
	return res.BaseOffset, nil
}

// Read and EndOffset serve the coordinator's replay when it loads a
// partition it now leads: up to the log end, since what the log holds
// above the HW will be committed by this leader (see ReadUncommitted).
func (l partitionLog) Read(offset int64, maxBytes int) ([]byte, error) {
	return l.p.ReadUncommitted(offset, maxBytes)
}

func (l partitionLog) StartOffset() int64 { return l.p.LogStartOffset() }
func (l partitionLog) EndOffset() int64   { return l.p.LogEndOffset() }

// followLeadership keeps the coordinators' loaded partitions equal to the
// partitions of the internal topics this node leads: after every
// reconciliation of the partitions, and every second to retry a failed
// load. FindCoordinator follows, since it names the leader.
func (b *Broker) followLeadership(ctx context.Context, loaded map[replica.Key]int32) {
	for {
		ch := b.replicas.Changed()
		b.syncCoordinators(loaded)
		select {
		case <-ctx.Done():
			return
		case <-ch:
		case <-time.After(time.Second):
		}
	}
}

// syncCoordinators loads and unloads coordinator partitions; loaded maps
// each loaded partition to the leader epoch it was loaded at. Groups go
// first: completing a transaction writes markers the group coordinator
// applies.
func (b *Broker) syncCoordinators(loaded map[replica.Key]int32) {
	im := b.meta.Image()
	if t, ok := im.TopicByName(meta.SystemTenant, coord.OffsetsTopic); ok {
		b.syncTopic(t, loaded, func(id int32, p *replica.Partition) error { return b.groups.Load(id, partitionLog{p}) }, b.groups.Unload)
	}
	if t, ok := im.TopicByName(meta.SystemTenant, coord.TransactionStateTopic); ok && b.txns != nil {
		b.syncTopic(t, loaded, func(id int32, p *replica.Partition) error {
			return b.txns.Load(id, partitionLog{p}, p.LeaderEpoch())
		}, b.txns.Unload)
	}
}

func (b *Broker) syncTopic(t *meta.Topic, loaded map[replica.Key]int32, load func(int32, *replica.Partition) error, unload func(int32)) {
	for i := range t.Partitions {
		k := replica.Key{Topic: t.ID, Partition: int32(i)}
		p, ok := b.replicas.Get(k)
		leading := ok && p.IsLeader()
		epoch, was := loaded[k]
		if was && (!leading || epoch != p.LeaderEpoch()) {
			unload(int32(i))
			delete(loaded, k)
			b.log.Info("unloaded coordinator partition", "topic", t.Name, "partition", i)
		}
		if !leading {
			continue
		}
		if _, now := loaded[k]; now {
			continue
		}
		epoch = p.LeaderEpoch()
		if err := load(int32(i), p); err != nil {
			b.log.Error("cannot load coordinator partition", "topic", t.Name, "partition", i, "err", err)
			continue
		}
		loaded[k] = epoch
		b.notifyCoordLoaded()
	}
}

// groupTopics shows consumer groups the tenants' topics from the metadata
// image. A snapshot is one image; its raft index is its version.
type groupTopics struct{ meta *meta.Store }

func (t groupTopics) Snapshot() coord.TopicSnapshot { return imageTopics{t.meta.Image()} }

type imageTopics struct{ im *meta.Image }

func topicInfo(t *meta.Topic) coord.TopicInfo {
	return coord.TopicInfo{ID: coord.TopicID(t.ID), Name: t.Name, Partitions: int32(len(t.Partitions))}
}

func (s imageTopics) Version() uint64 { return s.im.Index }

func (s imageTopics) ByName(tenant, name string) (coord.TopicInfo, bool) {
	t, ok := s.im.TopicByName(meta.TenantID(tenant), name)
	if !ok {
		return coord.TopicInfo{}, false
	}
	return topicInfo(t), true
}

func (s imageTopics) ByID(tenant string, id coord.TopicID) (coord.TopicInfo, bool) {
	t, ok := s.im.TopicByID(meta.TopicID(id))
	if !ok || t.Tenant != meta.TenantID(tenant) {
		return coord.TopicInfo{}, false
	}
	return topicInfo(t), true
}

func (s imageTopics) List(tenant string) []coord.TopicInfo {
	var out []coord.TopicInfo
	for _, t := range s.im.Topics(meta.TenantID(tenant)) {
		if !t.Internal {
			out = append(out, topicInfo(t))
		}
	}
	return out
}

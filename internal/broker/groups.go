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

// startGroups creates the offsets topic on first start, then loads the
// partitions of it that this node leads into the group coordinator.
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

	t, err := b.ensureOffsetsTopic(ctx, cfg.Partitions)
	if err != nil {
		return err
	}
	for i, p := range t.Partitions {
		if p.Leader != b.cfg.NodeID {
			continue
		}
		part, ok := b.replicas.Get(replica.Key{Topic: t.ID, Partition: int32(i)})
		if !ok {
			return fmt.Errorf("broker: offsets partition %d is not open: %v", i, b.replicas.OfflineError(replica.Key{Topic: t.ID, Partition: int32(i)}))
		}
		if err := b.groups.Load(int32(i), partitionLog{part}); err != nil {
			return err
		}
	}
	b.wg.Add(1)
	go func() { defer b.wg.Done(); b.groups.RunExpiry(ctx) }()
	return nil
}

func (b *Broker) ensureOffsetsTopic(ctx context.Context, partitions int32) (*meta.Topic, error) {
	return b.ensureInternalTopic(ctx, coord.OffsetsTopic, partitions, b.brokerInt("offsets.topic.segment.bytes"))
}

// ensureInternalTopic creates a compacted topic of the system tenant on
// first start and waits until its partitions are open here.
func (b *Broker) ensureInternalTopic(ctx context.Context, name string, partitions int32, segmentBytes int64) (*meta.Topic, error) {
	if t, ok := b.meta.Image().TopicByName(meta.SystemTenant, name); ok {
		// Another node may have created it after this node's partitions
		// were last reconciled: wait until they reflect the image.
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		b.replicas.WaitReconciled(wctx, b.meta.Image().Index)
		return t, nil
	}
	spec := meta.TopicSpec{
		Name: name, NumPartitions: partitions, ReplicationFactor: 1, Internal: true,
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

// Append writes as a coordinator: transactional offset commits carry
// their producer's id and epoch but no sequence (Kafka's
// AppendOrigin.COORDINATOR).
func (l partitionLog) Append(batch []byte) (int64, error) {
	res, err := l.p.AppendWith(batch, replica.AppendOptions{Origin: log.OriginCoordinator})
	return res.BaseOffset, err
}

func (l partitionLog) Read(offset int64, maxBytes int) ([]byte, error) {
	f, err := l.p.Read(offset, maxBytes, true)
	return f.Records, err
}

func (l partitionLog) StartOffset() int64 { return l.p.LogStartOffset() }
func (l partitionLog) EndOffset() int64   { return l.p.HighWatermark() }

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

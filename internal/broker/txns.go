package broker

import (
	"context"
	"fmt"

	"github.com/strata-db/strata/internal/coord"
	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/replica"
	"github.com/twmb/franz-go/pkg/kerr"
)

// startTxns creates the transaction state topic on first start and the
// transaction coordinator, then loads the coordinator partitions this node
// leads (groups and transactions) and starts following leadership.
func (b *Broker) startTxns(ctx context.Context) error {
	cfg := coord.DefaultTxnConfig()
	cfg.MaxTimeout = b.brokerDuration("transaction.max.timeout.ms")
	cfg.AbortCheckInterval = b.brokerDuration("transaction.abort.timed.out.transaction.cleanup.interval.ms")
	cfg.IDExpiration = b.brokerDuration("transactional.id.expiration.ms")
	cfg.ExpirationCheckInterval = b.brokerDuration("transaction.remove.expired.transaction.cleanup.interval.ms")
	offsets, ok := b.meta.Image().TopicByName(meta.SystemTenant, coord.OffsetsTopic)
	if !ok {
		return fmt.Errorf("broker: %s does not exist", coord.OffsetsTopic)
	}
	cfg.OffsetsPartitions = int32(len(offsets.Partitions))
	t, err := b.ensureInternalTopic(ctx, coord.TransactionStateTopic,
		int32(b.brokerInt("transaction.state.log.num.partitions")), "transaction.state.log.replication.factor",
		b.brokerInt("transaction.state.log.segment.bytes"))
	if err != nil {
		return err
	}
	// The topic's partition count places transactional ids, whatever the
	// config says now.
	cfg.Partitions = int32(len(t.Partitions))
	cfg.ProducerIDs = producerIDSource{meta: b.meta, node: b.cfg.NodeID}
	cfg.Markers = markerWriter{b}
	cfg.Logger = b.log
	if b.txns, err = coord.NewTxn(cfg); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	b.wg.Add(1)
	go func() { defer b.wg.Done(); b.txns.Run(ctx) }()
	// Load what this node leads before serving, then follow leadership.
	loaded := map[replica.Key]int32{}
	b.syncCoordinators(loaded)
	b.wg.Add(1)
	go func() { defer b.wg.Done(); b.followLeadership(ctx, loaded) }()
	return nil
}

// producerIDSource takes blocks of producer ids from the metadata log.
type producerIDSource struct {
	meta *meta.Store
	node int32
}

func (s producerIDSource) AllocateProducerIDs(ctx context.Context, size int64) (int64, error) {
	return s.meta.AllocateProducerIDs(ctx, s.node, size)
}

// markerWriter writes transaction markers to the partitions of this node
// (Kafka's WriteTxnMarkers, in-process). A marker on a partition of the
// offsets topic is then applied by the group coordinator.
type markerWriter struct{ b *Broker }

func (w markerWriter) WriteTxnMarker(ctx context.Context, tenant string, p coord.TxnPartition, producerID int64, epoch int16, commit bool, coordinatorEpoch int32) error {
	owner, name := meta.TenantID(tenant), p.Topic
	if p.Offsets {
		owner, name = meta.SystemTenant, coord.OffsetsTopic
	}
	t, ok := w.b.meta.Image().TopicByName(owner, name)
	if !ok || p.Partition < 0 || int(p.Partition) >= len(t.Partitions) {
		return fmt.Errorf("%w: %s-%d", kerr.UnknownTopicOrPartition, name, p.Partition)
	}
	k := replica.Key{Topic: t.ID, Partition: p.Partition}
	part, ok := w.b.replicas.Get(k)
	if !ok {
		if err := w.b.replicas.OfflineError(k); err != nil {
			return fmt.Errorf("%w: %w", kerr.KafkaStorageError, err)
		}
		return fmt.Errorf("%w: %s-%d is not open on node %d", kerr.NotLeaderForPartition, name, p.Partition, w.b.cfg.NodeID)
	}
	wctx, cancel := context.WithTimeout(ctx, coordinatorWriteTimeout)
	defer cancel()
	if _, err := part.WriteTxnMarkerReplicated(wctx, producerID, epoch, commit, coordinatorEpoch); err != nil {
		return err
	}
	if p.Offsets {
		w.b.groups.CompleteTxn(p.Partition, producerID, epoch, commit)
	}
	return nil
}

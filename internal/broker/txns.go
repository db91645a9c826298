package broker

import (
	"context"
	"errors"
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

// markerWriter writes transaction markers (Kafka's WriteTxnMarkers) for
// the transaction coordinator: to a partition this node leads in-process,
// to one another node leads by sending it WriteTxnMarkers. Each attempt
// goes to the leader the image names now; the coordinator retries a
// failed one (txn_end.go), so a marker follows leadership as it moves.
type markerWriter struct{ b *Broker }

func (w markerWriter) WriteTxnMarker(ctx context.Context, tenant string, p coord.TxnPartition, producerID int64, epoch int16, commit bool, coordinatorEpoch int32) error {
	owner, name := meta.TenantID(tenant), p.Topic
	if p.Offsets {
		owner, name = meta.SystemTenant, coord.OffsetsTopic
	}
	im := w.b.meta.Image()
	t, ok := im.TopicByName(owner, name)
	if !ok || p.Partition < 0 || int(p.Partition) >= len(t.Partitions) {
		return fmt.Errorf("%w: %s-%d", kerr.UnknownTopicOrPartition, name, p.Partition)
	}
	switch leader := t.Partitions[p.Partition].Leader; leader {
	case w.b.cfg.NodeID:
		return w.WriteLocalTxnMarker(ctx, tenant, p, producerID, epoch, commit, coordinatorEpoch)
	case -1:
		return fmt.Errorf("%w: %s-%d has no leader", kerr.LeaderNotAvailable, name, p.Partition)
	default:
		return w.b.peers.writeTxnMarker(ctx, im, leader, owner, name, p.Partition, producerID, epoch, commit, coordinatorEpoch)
	}
}

// WriteLocalTxnMarker writes a marker to a partition of this node and
// waits until it is committed (api.MarkerWriter). A marker on a partition
// of the offsets topic is then applied by the group coordinator.
func (w markerWriter) WriteLocalTxnMarker(ctx context.Context, tenant string, p coord.TxnPartition, producerID int64, epoch int16, commit bool, coordinatorEpoch int32) error {
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

// txnVerifier answers the produce path's and TxnOffsetCommit's KIP-890
// checks (api.TxnVerifier): from this node's transaction coordinator when
// it holds the transactional id, else from the node leading the id's
// partition of the transaction state topic.
type txnVerifier struct{ b *Broker }

func (v txnVerifier) VerifyPartitions(ctx context.Context, tenant meta.TenantID, transactionalID string, producerID int64, producerEpoch int16, parts []coord.TxnPartition) ([]error, error) {
	errs, err := v.b.txns.VerifyPartitions(string(tenant), transactionalID, producerID, producerEpoch, parts)
	if !errors.Is(err, kerr.NotCoordinator) {
		return errs, err
	}
	im := v.b.meta.Image()
	t, ok := im.TopicByName(meta.SystemTenant, coord.TransactionStateTopic)
	if !ok {
		return nil, kerr.CoordinatorNotAvailable
	}
	p := coord.TxnPartitionFor(coord.TxnKey{Tenant: string(tenant), ID: transactionalID}, int32(len(t.Partitions)))
	switch leader := t.Partitions[p].Leader; leader {
	case v.b.cfg.NodeID:
		// Led here but not loaded yet (or unloading).
		return nil, kerr.CoordinatorLoadInProgress
	case -1:
		return nil, kerr.CoordinatorNotAvailable
	default:
		return v.b.peers.verifyTxn(ctx, im, leader, tenant, transactionalID, producerID, producerEpoch, parts)
	}
}

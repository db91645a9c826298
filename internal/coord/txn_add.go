package coord

// AddPartitionsToTxn, AddOffsetsToTxn, and the verification of KIP-890
// part 1: before a broker appends a transactional batch (or the group
// coordinator a transactional offset commit) it checks that the partition
// was added to the producer's ongoing transaction, so that no write can
// land outside a transaction the coordinator knows, where no marker would
// ever end it (a "hanging" transaction).

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
)

// checkProducer applies the checks every request of a transaction's
// producer goes through: the id must have state, held by this producer
// id, at this epoch.
func checkProducer(k TxnKey, t *lockedTxn, producerID int64, epoch int16) error {
	switch {
	case t == nil:
		return fmt.Errorf("%w: transactional id %s has no producer", kerr.InvalidProducerIDMapping, k)
	case t.producerID != producerID:
		return fmt.Errorf("%w: producer id %d does not hold transactional id %s", kerr.InvalidProducerIDMapping, producerID, k)
	case t.epoch != epoch:
		return fmt.Errorf("%w: producer epoch %d, current %d", kerr.ProducerFenced, epoch, t.epoch)
	}
	return nil
}

// AddPartitions adds partitions to the producer's transaction, starting
// the transaction if none is ongoing. The error applies to every
// partition, as in Kafka.
func (c *TxnCoordinator) AddPartitions(tenant, transactionalID string, producerID int64, epoch int16, parts []TxnPartition) error {
	k := TxnKey{tenant, transactionalID}
	s, t, err := c.lock(k)
	if err != nil {
		return err
	}
	if t != nil {
		defer t.mu.Unlock()
	}
	if err := checkProducer(k, t, producerID, epoch); err != nil {
		return err
	}
	if t.inPrepare() {
		return fmt.Errorf("%w: the previous transaction of %s is completing", kerr.ConcurrentTransactions, k)
	}
	added := 0
	for _, p := range parts {
		if _, ok := t.partitions[p]; !ok {
			added++
		}
	}
	if t.state == TxnOngoing && added == 0 {
		return nil
	}
	if len(t.partitions)+added > c.cfg.MaxPartitions {
		return fmt.Errorf("%w: a transaction may hold at most %d partitions", kerr.InvalidRequest, c.cfg.MaxPartitions)
	}
	now := c.cfg.Now().UnixMilli()
	next := t.next(now)
	for _, p := range parts {
		next.partitions[p] = struct{}{}
	}
	switch t.state {
	case TxnEmpty, TxnCompleteCommit, TxnCompleteAbort:
		next.startMs = now
	case TxnOngoing:
	default:
		panic(fmt.Sprintf("coord: transactional id %s in state %s adds partitions", k, t.state))
	}
	next.state = TxnOngoing
	return c.transition(s, t, next)
}

// OffsetsPartition is the transaction partition holding a group's offset
// commits: the group's partition of the offsets topic.
func (c *TxnCoordinator) OffsetsPartition(tenant, group string) TxnPartition {
	return TxnPartition{Topic: OffsetsTopic, Partition: PartitionFor(GroupKey{tenant, group}, c.cfg.OffsetsPartitions), Offsets: true}
}

// AddOffsets adds a group's offsets partition to the producer's
// transaction (AddOffsetsToTxn), so that TxnOffsetCommit may write there.
// As in Kafka the group id is not checked here; TxnOffsetCommit refuses an
// empty one.
func (c *TxnCoordinator) AddOffsets(tenant, transactionalID string, producerID int64, epoch int16, group string) error {
	return c.AddPartitions(tenant, transactionalID, producerID, epoch, []TxnPartition{c.OffsetsPartition(tenant, group)})
}

// VerifyPartitions reports, per partition, whether it is in the
// producer's ongoing transaction (AddPartitionsToTxn v4+ with VerifyOnly):
// nil if so, TRANSACTION_ABORTABLE if not. A request-level error (unknown
// producer, fenced epoch, a transaction completing) applies to all.
func (c *TxnCoordinator) VerifyPartitions(tenant, transactionalID string, producerID int64, epoch int16, parts []TxnPartition) ([]error, error) {
	k := TxnKey{tenant, transactionalID}
	_, t, err := c.lock(k)
	if err != nil {
		return nil, err
	}
	if t != nil {
		defer t.mu.Unlock()
	}
	if err := checkProducer(k, t, producerID, epoch); err != nil {
		return nil, err
	}
	if t.inPrepare() {
		return nil, fmt.Errorf("%w: the transaction of %s is completing", kerr.ConcurrentTransactions, k)
	}
	out := make([]error, len(parts))
	for i, p := range parts {
		if _, ok := t.partitions[p]; !ok || t.state != TxnOngoing {
			out[i] = fmt.Errorf("%w: %w", kerr.TransactionAbortable, ErrNotInTransaction)
		}
	}
	return out, nil
}

// ErrNotInTransaction marks a verification that failed because the
// partition was not added to the transaction.
var ErrNotInTransaction = fmt.Errorf("coord: partition was not added to the transaction")

package api

// Error mapping shared by the transaction APIs and the produce path's
// transaction verification (KIP-890 part 1), as Kafka's KafkaApis,
// AddPartitionsToTxnManager and ReplicaManager map them.

import (
	"context"
	"errors"
	"fmt"

	"github.com/strata-db/strata/internal/coord"
	"github.com/strata-db/strata/internal/meta"
	"github.com/twmb/franz-go/pkg/kerr"
)

// fencedAs sends PRODUCER_FENCED as INVALID_PRODUCER_EPOCH to clients of
// request versions from before KIP-588 introduced it.
func fencedAs(err error, old bool) error {
	if old && errors.Is(err, kerr.ProducerFenced) {
		return fmt.Errorf("%w: %w", kerr.InvalidProducerEpoch, err)
	}
	return err
}

// verifyOne asks v about one partition and returns the coordinator's
// answer for it.
func verifyOne(ctx context.Context, v TxnVerifier, tenant meta.TenantID, transactionalID string, producerID int64, producerEpoch int16, p coord.TxnPartition) error {
	errs, err := v.VerifyPartitions(ctx, tenant, transactionalID, producerID, producerEpoch, []coord.TxnPartition{p})
	if err == nil {
		err = errs[0]
	}
	return err
}

// verificationError maps the coordinator's answer to a verification to
// the error of the produce request it guards (AddPartitionsToTxnManager
// and ReplicaManager.appendRecords): INVALID_PRODUCER_EPOCH for a fenced
// producer, INVALID_PRODUCER_ID_MAPPING for a producer that does not hold
// the transactional id, NOT_ENOUGH_REPLICAS (retriable without a metadata
// refresh) while the coordinator cannot answer or the transaction is
// completing, and INVALID_TXN_STATE, wrapping coord.ErrNotInTransaction,
// for a partition not added to the transaction: ProduceTxnError turns
// that into TRANSACTION_ABORTABLE for produce v11 and later.
func verificationError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kerr.ProducerFenced):
		return fmt.Errorf("%w: %w", kerr.InvalidProducerEpoch, err)
	case errors.Is(err, coord.ErrNotInTransaction):
		return fmt.Errorf("%w: partition was not added to the transaction: %w", kerr.InvalidTxnState, coord.ErrNotInTransaction)
	case errors.Is(err, kerr.ConcurrentTransactions), errors.Is(err, kerr.CoordinatorLoadInProgress),
		errors.Is(err, kerr.CoordinatorNotAvailable), errors.Is(err, kerr.NotCoordinator):
		return fmt.Errorf("%w: unable to verify the partition has been added to the transaction: %w", kerr.NotEnoughReplicas, err)
	}
	return err
}

// ProduceTxnError is the error a produce request of version gets for a
// failed verification (err from TxnVerifier.VerifyPartition): from v11 a
// partition not in the transaction is TRANSACTION_ABORTABLE (KIP-890),
// which the producer recovers from by aborting; older clients know only
// INVALID_TXN_STATE.
func ProduceTxnError(version int16, err error) error {
	if version > 10 && errors.Is(err, coord.ErrNotInTransaction) {
		return fmt.Errorf("%w: %w", kerr.TransactionAbortable, coord.ErrNotInTransaction)
	}
	return err
}

package replica

// Transactions on a partition: markers written for the transaction
// coordinator, and the guard of KIP-890's verification.
//
// # Verification (KIP-890 part 1)
//
// A transactional batch that does not continue a transaction already open
// on this partition is written only after the coordinator confirmed that
// the partition was added to the producer's transaction. Between that
// answer and the append, the coordinator may end the transaction and
// write its marker here; the batch would then open a transaction nobody
// ends (a hanging transaction). So, as in Kafka, the produce path takes a
// guard first (StartTxnVerification), asks the coordinator, and appends
// with the guard; a marker written meanwhile drops the guard and the
// append fails with INVALID_TXN_STATE (the client retries, verifying
// again).

import (
	"context"
	"fmt"

	"github.com/strata-db/strata/internal/log"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TxnVerification is the guard of one verification (see above); only its
// identity matters.
type TxnVerification struct {
	producerID int64
}

// StartTxnVerification returns the guard a transactional write of
// producerID at producerEpoch must carry, or nil if the producer has a
// transaction open here at that epoch (nothing to verify). A new guard
// replaces the producer's previous one.
func (p *Partition) StartTxnVerification(producerID int64, producerEpoch int16) *TxnVerification {
	if p.log.HasOngoingTxn(producerID, producerEpoch) {
		return nil
	}
	g := &TxnVerification{producerID: producerID}
	p.mu.Lock()
	p.verifying[producerID] = g
	p.mu.Unlock()
	return g
}

// EndTxnVerification drops guard g if it is still the producer's (the
// request that took it is done, whatever happened).
func (p *Partition) EndTxnVerification(g *TxnVerification) {
	if g == nil {
		return
	}
	p.mu.Lock()
	if p.verifying[g.producerID] == g {
		delete(p.verifying, g.producerID)
	}
	p.mu.Unlock()
}

// checkVerificationLocked admits a transactional batch: it continues an
// open transaction, or it carries the producer's current guard. Caller
// holds mu.
func (p *Partition) checkVerificationLocked(producerID int64, producerEpoch int16, g *TxnVerification) error {
	if p.log.HasOngoingTxn(producerID, producerEpoch) {
		return nil
	}
	if g == nil || p.verifying[producerID] != g {
		return fmt.Errorf("%w: transactional write of producer %d to %s was not verified with the transaction coordinator, "+
			"or its transaction ended meanwhile", kerr.InvalidTxnState, producerID, p.key)
	}
	return nil
}

// WriteTxnMarker appends a control batch ending producerID's transaction on
// this partition (commit or abort), as the transaction coordinator asks
// (Kafka's WriteTxnMarkers), at the current leader epoch. It returns the
// marker's offset. The transaction's records become visible to
// read_committed readers (commit) or are listed as aborted (abort), and
// the last stable offset moves; waiting fetches are woken.
//
// Errors carry Kafka codes: INVALID_PRODUCER_EPOCH for an epoch below the
// producer's, TRANSACTION_COORDINATOR_FENCED for a coordinator epoch below
// the last marker's, KAFKA_STORAGE_ERROR. A retry of the producer's last
// marker (same epoch, coordinator epoch and outcome, nothing written by
// the producer since) returns that marker's offset and writes nothing.
func (p *Partition) WriteTxnMarker(producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32) (int64, error) {
	off, _, err := p.writeTxnMarker(producerID, producerEpoch, commit, coordinatorEpoch)
	return off, err
}

// WriteTxnMarkerReplicated is WriteTxnMarker that also waits, within ctx,
// until the marker is committed (Kafka writes markers with acks=all): a
// transaction is complete only once its markers cannot be lost.
func (p *Partition) WriteTxnMarkerReplicated(ctx context.Context, producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32) (int64, error) {
	off, epoch, err := p.writeTxnMarker(producerID, producerEpoch, commit, coordinatorEpoch)
	if err != nil {
		return -1, err
	}
	return off, p.WaitReplicated(ctx, off+1, epoch)
}

func (p *Partition) writeTxnMarker(producerID int64, producerEpoch int16, commit bool, coordinatorEpoch int32) (int64, int32, error) {
	p.mu.Lock()
	if p.leading == nil {
		p.mu.Unlock()
		return -1, -1, fmt.Errorf("%w: node %d does not lead %s", kerr.NotLeaderForPartition, p.node, p.key)
	}
	delete(p.verifying, producerID)
	epoch := p.epoch.Load()
	off, err := p.log.AppendTxnMarker(producerID, producerEpoch, commit, coordinatorEpoch, epoch)
	if err == nil {
		p.maybeAdvanceHWLocked()
	}
	p.mu.Unlock()
	if err != nil {
		return -1, -1, appendError(err)
	}
	p.notify()
	return off, epoch, nil
}

// HasOngoingTxn reports whether producerID has a transaction open on this
// partition at producerEpoch.
func (p *Partition) HasOngoingTxn(producerID int64, producerEpoch int16) bool {
	return p.log.HasOngoingTxn(producerID, producerEpoch)
}

// Producers describes the producers this partition has state for
// (DescribeProducers).
func (p *Partition) Producers() []log.ProducerInfo { return p.log.Producers() }

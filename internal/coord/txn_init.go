package coord

// InitProducerID: producer ids for idempotent producers, and the start
// (or restart, KIP-360) of a transactional producer, which fences every
// older producer of its transactional id by bumping the epoch.

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// InitRequest is an InitProducerID request. Without a transactional id
// the producer gets a fresh producer id at epoch 0. ProducerID and
// ProducerEpoch (v3+) name the producer's current id when it recovers
// from an error (KIP-360); both are -1 otherwise.
type InitRequest struct {
	Tenant             string
	Transactional      bool
	TransactionalID    string
	TransactionTimeout time.Duration
	ProducerID         int64
	ProducerEpoch      int16
}

// ProducerIDAndEpoch is what InitProducerID answers.
type ProducerIDAndEpoch struct {
	ProducerID int64
	Epoch      int16
}

var noProducer = ProducerIDAndEpoch{ProducerID: noProducerID, Epoch: noEpoch}

// InitProducerID serves an InitProducerID request. Errors are Kafka's:
// INVALID_REQUEST, INVALID_TRANSACTION_TIMEOUT, NOT_COORDINATOR,
// CONCURRENT_TRANSACTIONS (a transaction is completing, or an ongoing one
// was just aborted to fence its producer: retry), PRODUCER_FENCED.
func (c *TxnCoordinator) InitProducerID(ctx context.Context, req InitRequest) (ProducerIDAndEpoch, error) {
	var expected *ProducerIDAndEpoch
	switch {
	case req.ProducerID == noProducerID && req.ProducerEpoch == noEpoch:
	case req.ProducerID == noProducerID || req.ProducerEpoch == noEpoch:
		return noProducer, fmt.Errorf("%w: producer id %d with epoch %d", kerr.InvalidRequest, req.ProducerID, req.ProducerEpoch)
	default:
		expected = &ProducerIDAndEpoch{req.ProducerID, req.ProducerEpoch}
	}
	if !req.Transactional {
		pid, err := c.ids.take(ctx)
		if err != nil {
			return noProducer, err
		}
		return ProducerIDAndEpoch{ProducerID: pid, Epoch: 0}, nil
	}
	if req.TransactionalID == "" {
		return noProducer, fmt.Errorf("%w: empty transactional id", kerr.InvalidRequest)
	}
	if req.TransactionTimeout <= 0 || req.TransactionTimeout > c.cfg.MaxTimeout {
		return noProducer, fmt.Errorf("%w: transaction timeout %v is not in (0, transaction.max.timeout.ms %v]",
			kerr.InvalidTransactionTimeout, req.TransactionTimeout, c.cfg.MaxTimeout)
	}
	k := TxnKey{req.Tenant, req.TransactionalID}
	s, t, err := c.lockOrCreate(ctx, k, req.TransactionTimeout)
	if err != nil {
		return noProducer, err
	}
	defer t.mu.Unlock()
	if expected != nil && !t.validProducer(*expected) {
		return noProducer, fmt.Errorf("%w: producer %d epoch %d is not the current producer %d of %s",
			kerr.ProducerFenced, expected.ProducerID, expected.Epoch, t.producerID, k)
	}
	switch t.state {
	case TxnPrepareCommit, TxnPrepareAbort:
		return noProducer, fmt.Errorf("%w: the previous transaction of %s is completing", kerr.ConcurrentTransactions, k)
	case TxnOngoing:
		// Fence the producer of the ongoing transaction and abort it; the
		// client retries and gets the epoch after that.
		if err := c.fenceAndAbort(s, t); err != nil {
			return noProducer, err
		}
		return noProducer, fmt.Errorf("%w: aborting the ongoing transaction of %s to fence its producer", kerr.ConcurrentTransactions, k)
	case TxnEmpty, TxnCompleteCommit, TxnCompleteAbort:
	default:
		panic(fmt.Sprintf("coord: transactional id %s in state %s at InitProducerID", k, t.state))
	}
	next, err := c.initTransition(ctx, t, expected, req.TransactionTimeout)
	if err != nil {
		return noProducer, err
	}
	if err := c.transition(s, t, next); err != nil {
		return noProducer, err
	}
	return ProducerIDAndEpoch{ProducerID: t.producerID, Epoch: t.epoch}, nil
}

// validProducer is Kafka's isValidProducerId: a producer that names its id
// must be the current one, or the one before a rotation retrying with its
// exhausted epoch; anything goes while the id has no epoch yet (it was
// just created, e.g. after its state expired).
func (t *txnMetadata) validProducer(p ProducerIDAndEpoch) bool {
	return t.epoch == noEpoch || p.ProducerID == t.producerID ||
		(p.ProducerID == t.prevProducerID && p.Epoch >= exhaustedEpoch)
}

// initTransition is the state InitProducerID moves t to: Empty with the
// epoch bumped, or with a new producer id once the epochs are exhausted.
func (c *TxnCoordinator) initTransition(ctx context.Context, t *lockedTxn, expected *ProducerIDAndEpoch, timeout time.Duration) (*txnMetadata, error) {
	next := t.next(c.cfg.Now().UnixMilli())
	next.state, next.timeout, next.startMs = TxnEmpty, timeout, -1
	clear(next.partitions)
	if t.epochExhausted() && (expected == nil || expected.Epoch == t.epoch) {
		pid, err := c.ids.take(ctx)
		if err != nil {
			return nil, err
		}
		next.prevProducerID, next.producerID, next.epoch, next.lastEpoch = t.producerID, pid, 0, noEpoch
		if expected != nil {
			next.lastEpoch = t.epoch
		}
		return next, nil
	}
	switch {
	case expected == nil:
		// A producer starting: bump, and forget the last epoch so that no
		// older producer can retry its way back in.
		next.epoch, next.lastEpoch = t.epoch+1, noEpoch
	case t.epoch == noEpoch || expected.Epoch == t.epoch:
		// The current producer recovering (KIP-360).
		next.epoch, next.lastEpoch = t.epoch+1, t.epoch
	case expected.Epoch == t.lastEpoch:
		// A retry of a bump that succeeded: answer the same epoch.
	default:
		return nil, fmt.Errorf("%w: producer epoch %d is neither the current %d nor the last %d of %s",
			kerr.ProducerFenced, expected.Epoch, t.epoch, t.lastEpoch, t.key)
	}
	return next, nil
}

// fenceAndAbort aborts t's ongoing transaction under a bumped epoch, so
// that its producer is fenced, and starts writing the abort markers
// (Kafka's PrepareEpochFence followed by PrepareAbort, written as one
// record). The epoch stays if it cannot grow; only a fenced producer's own
// InitProducerID could have put it there.
func (c *TxnCoordinator) fenceAndAbort(s *txnShard, t *lockedTxn) error {
	next := t.next(c.cfg.Now().UnixMilli())
	if t.epoch < math.MaxInt16 {
		next.epoch = t.epoch + 1
	}
	next.lastEpoch = noEpoch
	next.state = TxnPrepareAbort
	if err := c.transition(s, t, next); err != nil {
		return err
	}
	c.startCompletion(s, t)
	return nil
}

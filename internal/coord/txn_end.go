package coord

// EndTxn and the completion of a transaction: PrepareCommit or
// PrepareAbort is written first, which decides the outcome; then a marker
// goes to every partition of the transaction; then CompleteCommit or
// CompleteAbort. A coordinator that restarts between the first and the
// last step finds the Prepare state on replay and writes the markers
// again; a partition that gets a marker twice ignores the second, since
// its producer has no transaction open there any more.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// EndTxn commits or aborts the producer's ongoing transaction. It returns
// once the transaction is complete, or after EndTxnWait with the markers
// still being written (the outcome is decided; later requests of the
// producer get CONCURRENT_TRANSACTIONS until it completes), or when ctx
// ends. Errors are Kafka's: INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED,
// CONCURRENT_TRANSACTIONS, INVALID_TXN_STATE.
func (c *TxnCoordinator) EndTxn(ctx context.Context, tenant, transactionalID string, producerID int64, epoch int16, commit bool) error {
	k := TxnKey{tenant, transactionalID}
	s, t, err := c.lock(k)
	if err != nil {
		return err
	}
	if t == nil {
		return fmt.Errorf("%w: transactional id %s has no producer", kerr.InvalidProducerIDMapping, k)
	}
	done, err := c.endLocked(s, t, producerID, epoch, commit)
	t.mu.Unlock()
	if err != nil || done == nil {
		return err
	}
	timer := time.NewTimer(c.cfg.EndTxnWait)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		c.log.Warn("answering EndTxn before its markers are written", "transactional_id", k.String(), "commit", commit)
	case <-ctx.Done():
	}
	return nil
}

// endLocked moves an ongoing transaction to its Prepare state and starts
// its completion, whose channel it returns; it returns nil without error
// when the transaction already ended the way asked (a retry).
func (c *TxnCoordinator) endLocked(s *txnShard, t *lockedTxn, producerID int64, epoch int16, commit bool) (chan struct{}, error) {
	if err := checkProducer(t.key, t, producerID, epoch); err != nil {
		return nil, err
	}
	invalid := func() error {
		return fmt.Errorf("%w: cannot %s the transaction of %s in state %s", kerr.InvalidTxnState, endVerb(commit), t.key, t.state)
	}
	switch t.state {
	case TxnOngoing:
	case TxnCompleteCommit:
		if commit {
			return nil, nil
		}
		return nil, invalid()
	case TxnCompleteAbort:
		if !commit {
			return nil, nil
		}
		return nil, invalid()
	case TxnPrepareCommit:
		if commit {
			return nil, fmt.Errorf("%w: the commit of %s is completing", kerr.ConcurrentTransactions, t.key)
		}
		return nil, invalid()
	case TxnPrepareAbort:
		if !commit {
			return nil, fmt.Errorf("%w: the abort of %s is completing", kerr.ConcurrentTransactions, t.key)
		}
		return nil, invalid()
	default:
		return nil, invalid()
	}
	next := t.next(c.cfg.Now().UnixMilli())
	next.state = TxnPrepareAbort
	if commit {
		next.state = TxnPrepareCommit
	}
	if err := c.transition(s, t, next); err != nil {
		return nil, err
	}
	return c.startCompletion(s, t), nil
}

func endVerb(commit bool) string {
	if commit {
		return "commit"
	}
	return "abort"
}

// startCompletion starts the goroutine that writes t's markers and then
// its Complete state. t is in a Prepare state and locked by the caller.
// It returns the channel closed when the completion ends.
func (c *TxnCoordinator) startCompletion(s *txnShard, t *lockedTxn) chan struct{} {
	if !t.inPrepare() {
		panic(fmt.Sprintf("coord: completing transactional id %s in state %s", t.key, t.state))
	}
	if t.completion != nil {
		return t.completion
	}
	done := make(chan struct{})
	t.completion = done
	job := completionJob{
		producerID: t.producerID, epoch: t.epoch, commit: t.state == TxnPrepareCommit,
		partitions: t.sortedPartitions(),
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.complete(s, t, job)
		t.mu.Lock()
		if t.completion == done {
			t.completion = nil
		}
		t.mu.Unlock()
		close(done)
	}()
	return done
}

// completionJob is what a completion needs, copied under the lock: none of
// it changes while the transaction is in its Prepare state.
type completionJob struct {
	producerID int64
	epoch      int16
	commit     bool
	partitions []TxnPartition
}

// complete writes the markers, then the Complete state, retrying each
// step until it succeeds or the shard unloads (the next coordinator
// replays the Prepare state and completes the transaction).
func (c *TxnCoordinator) complete(s *txnShard, t *lockedTxn, job completionJob) {
	for _, p := range job.partitions {
		for {
			err := c.cfg.Markers.WriteTxnMarker(c.ctx, t.key.Tenant, p, job.producerID, job.epoch, job.commit, s.epoch)
			if err == nil || errors.Is(err, kerr.UnknownTopicOrPartition) || errors.Is(err, kerr.UnknownTopicID) {
				if err != nil {
					c.log.Info("no marker for a deleted partition", "transactional_id", t.key.String(), "topic", p.Topic, "partition", p.Partition)
				}
				break
			}
			c.log.Warn("cannot write transaction marker; retrying", "transactional_id", t.key.String(), "topic", p.Topic, "partition", p.Partition, "err", err)
			if !c.pause(s) {
				return
			}
		}
		t.mu.Lock()
		delete(t.partitions, p) // DescribeTransactions lists the partitions still without a marker
		t.mu.Unlock()
	}
	for {
		t.mu.Lock()
		err := c.completeLocked(s, t, job)
		t.mu.Unlock()
		if err == nil {
			return
		}
		if !c.pause(s) {
			return
		}
	}
}

func (c *TxnCoordinator) completeLocked(s *txnShard, t *lockedTxn, job completionJob) error {
	want := TxnPrepareAbort
	if job.commit {
		want = TxnPrepareCommit
	}
	if t.state != want || t.producerID != job.producerID || t.epoch != job.epoch {
		panic(fmt.Sprintf("coord: transactional id %s changed to %s (producer %d epoch %d) while completing", t.key, t.state, t.producerID, t.epoch))
	}
	next := t.next(c.cfg.Now().UnixMilli())
	next.state = TxnCompleteAbort
	if job.commit {
		next.state = TxnCompleteCommit
	}
	clear(next.partitions)
	return c.transition(s, t, next)
}

// pause waits before a retry; it reports false when the shard unloaded or
// the coordinator closed meanwhile.
func (c *TxnCoordinator) pause(s *txnShard) bool {
	timer := time.NewTimer(c.cfg.MarkerRetry)
	defer timer.Stop()
	select {
	case <-timer.C:
		return !s.unloaded()
	case <-s.gone:
		return false
	case <-c.ctx.Done():
		return false
	}
}

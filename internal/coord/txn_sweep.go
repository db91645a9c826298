package coord

// Background work of the transaction coordinator: transactions that run
// longer than their timeout are aborted under a bumped epoch, which fences
// their producer (its EndTxn then gets PRODUCER_FENCED, its writes
// INVALID_PRODUCER_EPOCH); transactional ids idle for
// transactional.id.expiration.ms are deleted.

import (
	"context"
	"time"
)

// Run aborts timed-out transactions and expires idle transactional ids
// until ctx ends.
func (c *TxnCoordinator) Run(ctx context.Context) {
	abort := time.NewTicker(c.cfg.AbortCheckInterval)
	defer abort.Stop()
	expire := time.NewTicker(c.cfg.ExpirationCheckInterval)
	defer expire.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-abort.C:
			c.AbortTimedOut()
		case <-expire.C:
			c.ExpireTransactionalIDs()
		}
	}
}

func (c *TxnCoordinator) loadedShards() []*txnShard {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*txnShard, 0, len(c.shards))
	for _, s := range c.shards {
		out = append(out, s)
	}
	return out
}

// AbortTimedOut runs one pass of the timeout check: every ongoing
// transaction older than its timeout is aborted and its producer fenced.
func (c *TxnCoordinator) AbortTimedOut() {
	nowMs := c.cfg.Now().UnixMilli()
	for _, s := range c.loadedShards() {
		for _, t := range s.snapshot() {
			t.mu.Lock()
			if t.state == TxnOngoing && t.startMs+t.timeout.Milliseconds() <= nowMs {
				c.log.Info("aborting a transaction that timed out", "transactional_id", t.key.String(),
					"producer_id", t.producerID, "epoch", t.epoch, "timeout", t.timeout)
				if err := c.fenceAndAbort(s, t); err != nil {
					c.log.Warn("cannot abort a timed-out transaction; retrying next pass", "transactional_id", t.key.String(), "err", err)
				}
			}
			t.mu.Unlock()
		}
	}
}

// ExpireTransactionalIDs runs one pass of the expiry: an id without a
// transaction (Empty, CompleteCommit, CompleteAbort) whose state has not
// changed for transactional.id.expiration.ms is deleted with a tombstone.
func (c *TxnCoordinator) ExpireTransactionalIDs() {
	nowMs := c.cfg.Now().UnixMilli()
	for _, s := range c.loadedShards() {
		for _, t := range s.snapshot() {
			t.mu.Lock()
			if c.expirable(t, nowMs) {
				if err := c.write(s, t.key, nil); err != nil {
					c.log.Warn("cannot expire a transactional id; retrying next pass", "transactional_id", t.key.String(), "err", err)
				} else {
					t.state = TxnDead
					s.mu.Lock()
					if s.txns[t.key] == t {
						delete(s.txns, t.key)
					}
					s.mu.Unlock()
					c.log.Info("expired transactional id", "transactional_id", t.key.String(), "producer_id", t.producerID)
				}
			}
			t.mu.Unlock()
		}
	}
}

func (c *TxnCoordinator) expirable(t *lockedTxn, nowMs int64) bool {
	switch t.state {
	case TxnEmpty, TxnCompleteCommit, TxnCompleteAbort:
		return t.updateMs+c.cfg.IDExpiration.Milliseconds() <= nowMs && t.completion == nil
	}
	return false
}

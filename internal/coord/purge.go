package coord

// Purging a deleted tenant. When a tenant is deleted from the metadata
// log, every broker removes what its loaded coordinator partitions hold of
// that tenant: groups with their committed offsets (tombstones in
// __consumer_offsets) and transactional ids (tombstones in
// __transaction_state). A transaction still open is aborted first, under a
// bumped epoch, as a timed-out one would be; its markers to the tenant's
// topics are skipped since those topics are gone, and the marker to the
// offsets partitions discards the pending transactional offsets, after
// which the group can go too. Work that cannot finish in one pass (an
// abort completing, a failed write) is counted in the result so that the
// caller runs another pass later.

import (
	"github.com/strata-db/strata/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
)

// PurgeTenants deletes every group of a tenant for which deleted reports
// true, with its offsets, from the loaded partitions. It returns how many
// groups could not be deleted yet: those with transactional offsets still
// pending, or whose tombstones failed to write.
func (c *Coordinator) PurgeTenants(deleted func(tenant string) bool) (left int) {
	c.mu.RLock()
	shards := make([]*shard, 0, len(c.shards))
	for _, s := range c.shards {
		shards = append(shards, s)
	}
	c.mu.RUnlock()
	for _, s := range shards {
		for _, g := range s.snapshot() {
			if !deleted(g.key.Tenant) { // the key never changes: no lock needed
				continue
			}
			g.mu.Lock()
			if !c.purgeLocked(s, g) {
				left++
			}
			g.mu.Unlock()
		}
	}
	return left
}

// purgeLocked deletes a group whatever its state: its members' requests
// in wait end with NOT_COORDINATOR and its timers stop. It reports false
// when the group must wait for a later pass.
func (c *Coordinator) purgeLocked(s *shard, g *lockedGroup) bool {
	if g.state == StateDead {
		return true
	}
	if len(g.pendingTxn) > 0 {
		return false // the transaction's abort marker clears them
	}
	recs := g.deletionRecords()
	for tp := range g.offsets {
		recs = append(recs, record.Record{Key: offsetKey(g.key, tp)})
	}
	if err := c.write(s, recs...); err != nil {
		c.log.Warn("cannot purge a group of a deleted tenant; retrying", "group", g.key.String(), "err", err)
		return false
	}
	g.failWaiters(kerr.NotCoordinator)
	for _, m := range g.members {
		stopTimer(m)
	}
	if g.cg != nil {
		for _, m := range g.cg.members {
			stopConsumerTimers(m)
		}
	}
	if g.rebalanceTimer != nil {
		g.rebalanceTimer.Stop()
	}
	c.log.Info("purged group of a deleted tenant", "group", g.key.String(), "offsets", len(g.offsets))
	g.offsets = map[topicPartition]offsetCommit{}
	c.deleteLocked(s, g)
	return true
}

// PurgeTenants deletes every transactional id of a tenant for which
// deleted reports true from the loaded partitions, aborting an open
// transaction first. It returns how many ids are not deleted yet: those
// whose abort is completing, or whose tombstone failed to write.
func (c *TxnCoordinator) PurgeTenants(deleted func(tenant string) bool) (left int) {
	for _, s := range c.loadedShards() {
		for _, t := range s.snapshot() {
			if !deleted(t.key.Tenant) {
				continue
			}
			t.mu.Lock()
			if !c.purgeLocked(s, t) {
				left++
			}
			t.mu.Unlock()
		}
	}
	return left
}

// purgeLocked moves a transactional id one step towards deletion and
// reports whether it is gone.
func (c *TxnCoordinator) purgeLocked(s *txnShard, t *lockedTxn) bool {
	switch {
	case t.state == TxnDead:
		return true
	case t.state == TxnOngoing:
		c.log.Info("aborting a transaction of a deleted tenant", "transactional_id", t.key.String(), "producer_id", t.producerID)
		if err := c.fenceAndAbort(s, t); err != nil {
			c.log.Warn("cannot abort a transaction of a deleted tenant; retrying", "transactional_id", t.key.String(), "err", err)
		}
		return false
	case t.inPrepare() || t.completion != nil:
		return false // completing: markers, then the Complete state
	}
	if err := c.write(s, t.key, nil); err != nil {
		c.log.Warn("cannot purge a transactional id of a deleted tenant; retrying", "transactional_id", t.key.String(), "err", err)
		return false
	}
	t.state = TxnDead
	s.mu.Lock()
	if s.txns[t.key] == t {
		delete(s.txns, t.key)
	}
	s.mu.Unlock()
	c.log.Info("purged transactional id of a deleted tenant", "transactional_id", t.key.String(), "producer_id", t.producerID)
	return true
}

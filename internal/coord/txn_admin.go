package coord

// DescribeTransactions and ListTransactions: what the coordinator knows of
// a tenant's transactional ids.

import (
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TxnDescription is one transactional id as DescribeTransactions reports
// it. Partitions are those still without a marker once the transaction is
// preparing to end.
type TxnDescription struct {
	TransactionalID string
	Err             error
	State           TxnState
	Timeout         time.Duration
	StartMs         int64
	ProducerID      int64
	ProducerEpoch   int16
	Partitions      []TxnPartition
}

// Describe describes the tenant's transactional ids: NOT_COORDINATOR for
// an id this node does not coordinate, TRANSACTIONAL_ID_NOT_FOUND for one
// without state (or empty).
func (c *TxnCoordinator) Describe(tenant string, ids []string) []TxnDescription {
	out := make([]TxnDescription, 0, len(ids))
	for _, id := range ids {
		d := TxnDescription{TransactionalID: id, StartMs: -1, ProducerID: noProducerID, ProducerEpoch: noEpoch}
		if id == "" {
			d.Err = fmt.Errorf("%w: empty transactional id", kerr.TransactionalIDNotFound)
			out = append(out, d)
			continue
		}
		_, t, err := c.lock(TxnKey{tenant, id})
		switch {
		case err != nil:
			d.Err = err
		case t == nil:
			d.Err = fmt.Errorf("%w: %s", kerr.TransactionalIDNotFound, id)
		default:
			d.State, d.Timeout, d.StartMs = t.state, t.timeout, t.startMs
			d.ProducerID, d.ProducerEpoch = t.producerID, t.epoch
			d.Partitions = t.sortedPartitions()
			t.mu.Unlock()
		}
		out = append(out, d)
	}
	return out
}

// TxnFilter selects transactions for ListTransactions; empty lists and
// patterns and a negative MinDuration select everything.
type TxnFilter struct {
	States      []string
	ProducerIDs []int64
	// MinDuration keeps transactions running for longer than it (v1+);
	// negative keeps all.
	MinDuration time.Duration
	// Pattern (v2+) must match the whole transactional id (re2).
	Pattern string
}

// TxnListing is one transactional id in a ListTransactions answer.
type TxnListing struct {
	TransactionalID string
	ProducerID      int64
	State           TxnState
}

// List lists the tenant's transactional ids that match filter, over every
// loaded partition. States the filter names that do not exist come back
// in unknown and filter nothing (as in Kafka, a filter of unknown states
// only lists everything); an invalid pattern is
// INVALID_REGULAR_EXPRESSION.
func (c *TxnCoordinator) List(tenant string, filter TxnFilter) (out []TxnListing, unknown []string, err error) {
	var states []TxnState
	for _, name := range filter.States {
		if st, ok := ParseTxnState(name); ok {
			states = append(states, st)
		} else {
			unknown = append(unknown, name)
		}
	}
	var re *regexp.Regexp
	if filter.Pattern != "" {
		if re, err = regexp.Compile("^(?:" + filter.Pattern + ")$"); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", kerr.InvalidRegularExpression, err)
		}
	}
	nowMs := c.cfg.Now().UnixMilli()
	for _, s := range c.loadedShards() {
		for _, t := range s.snapshot() {
			if t.key.Tenant != tenant {
				continue
			}
			t.mu.Lock()
			keep := t.state != TxnDead &&
				(len(filter.ProducerIDs) == 0 || slices.Contains(filter.ProducerIDs, t.producerID)) &&
				(len(states) == 0 || slices.Contains(states, t.state)) &&
				(filter.MinDuration < 0 || nowMs-t.startMs > filter.MinDuration.Milliseconds()) &&
				(re == nil || re.MatchString(t.key.ID))
			l := TxnListing{TransactionalID: t.key.ID, ProducerID: t.producerID, State: t.state}
			t.mu.Unlock()
			if keep {
				out = append(out, l)
			}
		}
	}
	slices.SortFunc(out, func(a, b TxnListing) int {
		switch {
		case a.TransactionalID < b.TransactionalID:
			return -1
		case a.TransactionalID > b.TransactionalID:
			return 1
		}
		return 0
	})
	return out, unknown, nil
}

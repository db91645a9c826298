package api

// ListTransactions, v0-v2: the tenant's transactional ids, filtered by
// state and producer id, from v1 by how long the transaction has run, and
// from v2 by a regular expression over the id (re2, matching the whole
// id). Filter states that do not exist are returned as unknown.

import (
	"context"
	"math"
	"time"

	"github.com/strata-db/strata/internal/coord"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ListTransactions, 0, 2, (*Handlers).listTransactions) }

func (h *Handlers) listTransactions(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	f := coord.TxnFilter{States: req.StateFilters, ProducerIDs: req.ProducerIDFilters, MinDuration: -1}
	if r.Version >= 1 {
		f.MinDuration = millis64(req.DurationFilterMillis)
	}
	if r.Version >= 2 {
		f.Pattern = derefString(req.TransactionalIDPattern)
	}
	txns, unknown, err := h.cfg.Transactions.List(r.Conn.Tenant, f)
	resp.ErrorCode = errorCode(err)
	resp.UnknownStateFilters = unknown
	for _, t := range txns {
		if !h.allowedTxnID(r, kmsg.ACLOperationDescribe, t.TransactionalID) {
			continue
		}
		st := kmsg.NewListTransactionsResponseTransactionState()
		st.TransactionalID, st.ProducerID, st.TransactionState = t.TransactionalID, t.ProducerID, t.State.String()
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp, nil
}

// millis64 is a duration filter in milliseconds; negative means none.
func millis64(ms int64) time.Duration {
	switch {
	case ms < 0:
		return -1
	case ms > math.MaxInt64/int64(time.Millisecond):
		return math.MaxInt64
	}
	return time.Duration(ms) * time.Millisecond
}

package api

// EndTxn, v0-v4: commits or aborts the transaction; the answer comes once
// the markers are written (or, if that takes long, once the outcome is
// decided). v5, where every EndTxn bumps the producer epoch (KIP-890 part
// 2, transaction.version 2), is not served: without that feature clients
// keep to v4 and add partitions explicitly. Before v2, PRODUCER_FENCED is
// sent as INVALID_PRODUCER_EPOCH.

import (
	"context"

	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.EndTxn, 0, 4, (*Handlers).endTxn) }

func (h *Handlers) endTxn(ctx context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.EndTxnRequest)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	err := h.authorizeTxnID(r, kmsg.ACLOperationWrite, req.TransactionalID)
	if err == nil {
		err = h.cfg.Transactions.EndTxn(ctx, r.Conn.Tenant, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit)
	}
	resp.ErrorCode = errorCode(fencedAs(err, r.Version < 2))
	return resp, nil
}

package api

// InitProducerID, v0-v5. Without a transactional id any broker hands out a
// fresh producer id at epoch 0 (idempotent producers); with one, the id's
// transaction coordinator (FindCoordinator key type 1) bumps its epoch,
// fencing older producers, or gives it a new producer id once the epochs
// run out. From v3 a producer may name its current id and epoch to recover
// from an error (KIP-360). Before v4, PRODUCER_FENCED is sent as
// INVALID_PRODUCER_EPOCH (KIP-588). A transactional id needs WRITE on it;
// an idempotent producer IDEMPOTENT_WRITE on the cluster or WRITE on some
// topic (KIP-679).

import (
	"context"

	"github.com/strata-db/strata/internal/coord"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.InitProducerID, 0, 5, (*Handlers).initProducerID) }

func (h *Handlers) initProducerID(ctx context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	switch {
	case req.TransactionalID != nil && !h.allowedTxnID(r, kmsg.ACLOperationWrite, *req.TransactionalID):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil
	case req.TransactionalID == nil && !h.mayWriteIdempotently(r):
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	res, err := h.cfg.Transactions.InitProducerID(ctx, coord.InitRequest{
		Tenant: r.Conn.Tenant, Transactional: req.TransactionalID != nil, TransactionalID: derefString(req.TransactionalID),
		TransactionTimeout: millis(req.TransactionTimeoutMillis), ProducerID: req.ProducerID, ProducerEpoch: req.ProducerEpoch,
	})
	resp.ErrorCode = errorCode(fencedAs(err, r.Version < 4))
	resp.ProducerID, resp.ProducerEpoch = res.ProducerID, res.Epoch
	return resp, nil
}

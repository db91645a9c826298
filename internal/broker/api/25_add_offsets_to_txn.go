package api

// AddOffsetsToTxn, v0-v4: adds the group's partition of the offsets topic
// to the transaction, before TxnOffsetCommit writes there. v4 differs only
// in allowing TRANSACTION_ABORTABLE, which this coordinator never sends
// here. Before v2, PRODUCER_FENCED is sent as INVALID_PRODUCER_EPOCH.

import (
	"cmp"
	"context"

	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.AddOffsetsToTxn, 0, 4, (*Handlers).addOffsetsToTxn) }

func (h *Handlers) addOffsetsToTxn(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	err := cmp.Or(h.authorizeTxnID(r, kmsg.ACLOperationWrite, req.TransactionalID), h.authorizeGroup(r, kmsg.ACLOperationRead, req.Group))
	if err == nil {
		err = h.cfg.Transactions.AddOffsets(r.Conn.Tenant, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group)
	}
	resp.ErrorCode = errorCode(fencedAs(err, r.Version < 2))
	return resp, nil
}

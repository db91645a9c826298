package api

// DescribeTransactions, v0: the state of the tenant's transactional ids
// coordinated here (NOT_COORDINATOR for others, TRANSACTIONAL_ID_NOT_FOUND
// for ids without state). The partitions listed are those still without
// a marker once the transaction is preparing to end.

import (
	"cmp"
	"context"

	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeTransactions, 0, 0, (*Handlers).describeTransactions) }

func (h *Handlers) describeTransactions(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, d := range h.cfg.Transactions.Describe(r.Conn.Tenant, req.TransactionalIDs) {
		st := kmsg.NewDescribeTransactionsResponseTransactionState()
		st.TransactionalID = d.TransactionalID
		err := cmp.Or(h.authorizeTxnID(r, kmsg.ACLOperationDescribe, d.TransactionalID), d.Err)
		st.ErrorCode = errorCode(err)
		if err == nil {
			st.State = d.State.String()
			st.TimeoutMillis = int32(d.Timeout.Milliseconds())
			st.StartTimestamp, st.ProducerID, st.ProducerEpoch = d.StartMs, d.ProducerID, d.ProducerEpoch
			for _, p := range d.Partitions {
				if !h.allowedTopic(r, kmsg.ACLOperationDescribe, p.Topic) {
					continue // as Kafka: topics the principal may not see are left out
				}
				if n := len(st.Topics); n == 0 || st.Topics[n-1].Topic != p.Topic {
					t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
					t.Topic = p.Topic
					st.Topics = append(st.Topics, t)
				}
				last := &st.Topics[len(st.Topics)-1]
				last.Partitions = append(last.Partitions, p.Partition)
			}
		}
		resp.TransactionStates = append(resp.TransactionStates, st)
	}
	return resp, nil
}

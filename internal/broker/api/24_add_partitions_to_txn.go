package api

// AddPartitionsToTxn, v0-v5. v0-v3 are the client's: one transaction's
// partitions to add. v4+ are Kafka's broker-to-coordinator form: several
// transactions, each either added or, with VerifyOnly, checked (KIP-890
// part 1): a broker asks the coordinator whether a transactional write's
// partition was added, naming the tenant in a tagged field
// (interbroker.go); without the tag the connection's tenant is meant. A partition the tenant does not have fails
// the whole transaction's request: UNKNOWN_TOPIC_OR_PARTITION for it,
// OPERATION_NOT_ATTEMPTED for the others; so does a topic the principal
// may not WRITE (TOPIC_AUTHORIZATION_FAILED), and a transactional id it
// may not WRITE fails every partition. v4+ are refused on a tenant's
// connection (CLUSTER_AUTHORIZATION_FAILED), as Kafka requires
// CLUSTER_ACTION. Before v2, PRODUCER_FENCED is
// sent as INVALID_PRODUCER_EPOCH; before v5, TRANSACTION_ABORTABLE as
// INVALID_TXN_STATE.

import (
	"cmp"
	"context"
	"errors"
	"fmt"

	"github.com/strata-db/strata/internal/coord"
	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.AddPartitionsToTxn, 0, 5, (*Handlers).addPartitionsToTxn) }

// txnTopic is one topic's partitions of a request, in either form.
type txnTopic struct {
	topic      string
	partitions []int32
}

func (h *Handlers) addPartitionsToTxn(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	if r.Version < 4 {
		topics := make([]txnTopic, len(req.Topics))
		for i, t := range req.Topics {
			topics[i] = txnTopic{t.Topic, t.Partitions}
		}
		for _, t := range h.addToTxn(r, tenantOf(r), false, req.TransactionalID, req.ProducerID, req.ProducerEpoch, topics, false) {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, p.ErrorCode
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	if clusterOnly(r) { // v4+ are a broker's
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	for _, tx := range req.Transactions {
		topics := make([]txnTopic, len(tx.Topics))
		for i, t := range tx.Topics {
			topics[i] = txnTopic{t.Topic, t.Partitions}
		}
		rt := kmsg.NewAddPartitionsToTxnResponseTransaction()
		rt.TransactionalID = tx.TransactionalID
		tenant, tagged := taggedTenant(tx.UnknownTags, r)
		rt.Topics = h.addToTxn(r, tenant, tagged && tx.VerifyOnly, tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, topics, tx.VerifyOnly)
		resp.Transactions = append(resp.Transactions, rt)
	}
	return resp, nil
}

// addToTxn adds (or verifies) one transaction's partitions and answers
// each. A broker's verification (interBroker) may name the offsets
// topic's partition of a group (TxnOffsetCommit's check).
func (h *Handlers) addToTxn(r *wire.Request, tenant meta.TenantID, interBroker bool, transactionalID string, producerID int64, epoch int16, topics []txnTopic, verifyOnly bool) []kmsg.AddPartitionsToTxnResponseTransactionTopic {
	im := h.cfg.Meta.Image()
	var parts []coord.TxnPartition
	failed := map[coord.TxnPartition]error{}
	for _, t := range topics {
		owner := tenant
		if interBroker && t.topic == coord.OffsetsTopic {
			owner = meta.SystemTenant
		}
		mt, terr := im.ResolveTopic(owner, meta.TopicRef{Name: t.topic})
		if !interBroker {
			terr = cmp.Or(h.authorizeTopic(r, kmsg.ACLOperationWrite, t.topic), terr)
		}
		for _, p := range t.partitions {
			tp := interBrokerPartition(owner, t.topic, p)
			err := terr
			if err == nil && (p < 0 || int(p) >= len(mt.Partitions)) {
				err = kerr.UnknownTopicOrPartition
			}
			if err != nil {
				failed[tp] = err
			}
			parts = append(parts, tp)
		}
	}
	txnErr := h.authorizeTxnID(r, kmsg.ACLOperationWrite, transactionalID)
	errs := make([]error, len(parts))
	switch {
	case txnErr != nil:
		for i := range errs {
			errs[i] = txnErr
		}
	case len(failed) > 0:
		for i, p := range parts {
			errs[i] = cmp.Or(failed[p], error(kerr.OperationNotAttempted))
		}
	case verifyOnly:
		perPart, err := h.cfg.Transactions.VerifyPartitions(string(tenant), transactionalID, producerID, epoch, parts)
		for i := range errs {
			if err != nil {
				errs[i] = err
			} else {
				errs[i] = perPart[i]
			}
		}
	default:
		err := h.cfg.Transactions.AddPartitions(string(tenant), transactionalID, producerID, epoch, parts)
		for i := range errs {
			errs[i] = err
		}
	}
	var out []kmsg.AddPartitionsToTxnResponseTransactionTopic
	for i, p := range parts {
		if len(out) == 0 || out[len(out)-1].Topic != p.Topic {
			rt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			rt.Topic = p.Topic
			out = append(out, rt)
		}
		rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
		rp.Partition = p.Partition
		rp.ErrorCode = errorCode(addPartitionsError(r.Version, errs[i]))
		out[len(out)-1].Partitions = append(out[len(out)-1].Partitions, rp)
	}
	return out
}

func addPartitionsError(version int16, err error) error {
	if version < 5 && errors.Is(err, kerr.TransactionAbortable) {
		return fmt.Errorf("%w: %w", kerr.InvalidTxnState, err)
	}
	return fencedAs(err, version < 2)
}

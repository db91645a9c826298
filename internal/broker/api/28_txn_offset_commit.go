package api

// TxnOffsetCommit, v0-v4: offsets committed as part of a transaction,
// pending until its marker. The group's offsets partition must have been
// added to the transaction (AddOffsetsToTxn); the coordinator verifies
// that (KIP-890 part 1), answering INVALID_TXN_STATE, or from v4
// TRANSACTION_ABORTABLE, if not, and INVALID_PRODUCER_EPOCH for a fenced
// producer. From v3 the member's generation, id and instance id are
// checked (KIP-447). v5+ (KIP-890 part 2, where the commit adds the
// partition itself) are not served.

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

func init() { register(kmsg.TxnOffsetCommit, 0, 4, (*Handlers).txnOffsetCommit) }

func (h *Handlers) txnOffsetCommit(ctx context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.TxnOffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	im := h.cfg.Meta.Image()
	reqErr := cmp.Or(h.authorizeTxnID(r, kmsg.ACLOperationWrite, req.TransactionalID), h.authorizeGroup(r, kmsg.ACLOperationRead, req.Group))
	cr := coord.TxnCommitRequest{
		Group: groupKey(r, req.Group), ProducerID: req.ProducerID, ProducerEpoch: req.ProducerEpoch,
		Generation: req.Generation, MemberID: req.MemberID, InstanceID: derefString(req.InstanceID),
	}
	type slot struct{ topic, part int }
	var slots []slot
	for ti, rt := range req.Topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		t, terr := h.resolveTopicFor(r, im, kmsg.ACLOperationRead, meta.TopicRef{Name: rt.Topic})
		terr = cmp.Or(reqErr, terr)
		for pi, rp := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			switch {
			case terr != nil:
				sp.ErrorCode = errorCode(terr)
			case rp.Partition < 0 || int(rp.Partition) >= len(t.Partitions):
				sp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				cr.Offsets = append(cr.Offsets, coord.CommitOffset{Topic: t.Name, Partition: rp.Partition, Offset: rp.Offset, LeaderEpoch: rp.LeaderEpoch, Metadata: rp.Metadata})
				slots = append(slots, slot{ti, pi})
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(cr.Offsets) == 0 {
		return resp, nil
	}
	errs := h.commitTxnOffsets(ctx, r, req, cr)
	for i, err := range errs {
		resp.Topics[slots[i].topic].Partitions[slots[i].part].ErrorCode = errorCode(fencedAs(err, r.Version < 3))
	}
	return resp, nil
}

// commitTxnOffsets verifies the transaction, then commits; it returns one
// error per offset.
func (h *Handlers) commitTxnOffsets(ctx context.Context, r *wire.Request, req *kmsg.TxnOffsetCommitRequest, cr coord.TxnCommitRequest) []error {
	fail := func(err error) []error {
		errs := make([]error, len(cr.Offsets))
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	if req.Group == "" {
		return fail(fmt.Errorf("%w: empty group id", kerr.InvalidGroupID))
	}
	if !h.cfg.Groups.Loaded(coord.PartitionFor(cr.Group, h.offsetsPartitions())) {
		return fail(kerr.NotCoordinator)
	}
	part := h.cfg.Transactions.OffsetsPartition(r.Conn.Tenant, req.Group)
	if err := verifyOne(ctx, h.cfg.Txns, tenantOf(r), req.TransactionalID, req.ProducerID, req.ProducerEpoch, part); err != nil {
		return fail(txnOffsetVerifyError(r.Version, err))
	}
	return h.cfg.Groups.CommitTxnOffsets(cr)
}

// txnOffsetVerifyError maps a failed verification of a transactional
// offset commit as Kafka's group coordinator does: a fenced producer is
// INVALID_PRODUCER_EPOCH, a partition not in the transaction
// TRANSACTION_ABORTABLE from v4 and INVALID_TXN_STATE before.
func txnOffsetVerifyError(version int16, err error) error {
	switch {
	case errors.Is(err, kerr.ProducerFenced):
		return fmt.Errorf("%w: %w", kerr.InvalidProducerEpoch, err)
	case errors.Is(err, coord.ErrNotInTransaction) && version < 4:
		return fmt.Errorf("%w: the group's offsets partition was not added to the transaction: %w", kerr.InvalidTxnState, err)
	}
	return err
}

// offsetsPartitions is the number of partitions of the offsets topic.
func (h *Handlers) offsetsPartitions() int32 {
	t, ok := h.cfg.Meta.Image().TopicByName(meta.SystemTenant, coord.OffsetsTopic)
	if !ok {
		return 1
	}
	return int32(len(t.Partitions))
}

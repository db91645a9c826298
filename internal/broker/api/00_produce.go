package api

// Produce, v3-v13. Versions below 3 carry message formats v0/v1, which
// Kafka 4.0 dropped (KIP-896): they are refused (the connection closes) but
// still listed in ApiVersions, as Kafka 4.0 does, because librdkafka only
// compresses when it sees Produce v0 listed. v13 names topics by id. Each
// partition's records must be exactly one v2 batch (checked by the
// partition).
//
// Acks: 0 and 1 are answered after the local append; -1 (all) is refused
// with NOT_ENOUGH_REPLICAS before the append while the ISR is smaller than
// min.insync.replicas, and answered once the high watermark passes the
// batch (REQUEST_TIMED_OUT after the request's timeout,
// NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below the minimum,
// NOT_LEADER_OR_FOLLOWER if leadership moved meanwhile).
//
// Batches with a producer id are checked against the partition's producer
// state (sequence, epoch, transaction: OUT_OF_ORDER_SEQUENCE_NUMBER,
// INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE); a retried batch is answered
// with its original offsets. A transactional batch of a request with a
// transactional id that does not continue a transaction open on the
// partition is first verified with the transaction coordinator (KIP-890),
// when there is one (Config.Txns): a partition never added to the
// transaction is refused with the verifier's error (ProduceTxnError).
//
// Quotas: the record batches appended count against the tenant's produce
// byte rate, and the response carries the throttle (KIP-219). A tenant
// whose stored bytes reached its storage quota has every partition refused
// with POLICY_VIOLATION (Kafka has no storage quota; Confluent Cloud
// answers so).

import (
	"context"
	"fmt"
	"time"

	"github.com/strata-db/strata/internal/coord"
	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/record"
	"github.com/strata-db/strata/internal/replica"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { registerAdvertisedFromZero(kmsg.Produce, 3, 13, (*Handlers).produce) }

func (h *Handlers) produce(ctx context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.ProduceRequest)
	// acks=all waits for replication up to the request's timeout.
	ctx, cancel := context.WithTimeout(ctx, time.Duration(max(req.TimeoutMillis, 0))*time.Millisecond)
	defer cancel()
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	im := h.cfg.Meta.Image()
	tenant := tenantOf(r)
	failed := false
	// As Kafka: transactional records need a transactional id the
	// principal may WRITE (without one nobody could end the transaction,
	// and the partition's last stable offset would hang).
	var reqErr error
	if hasTransactionalRecords(req) {
		if req.TransactionID == nil {
			reqErr = fmt.Errorf("%w: transactional records without a transactional id", kerr.TransactionalIDAuthorizationFailed)
		} else {
			reqErr = h.authorizeTxnID(r, kmsg.ACLOperationWrite, *req.TransactionID)
		}
	}
	if reqErr == nil {
		reqErr = h.cfg.Quotas.CheckStorage(tenant)
	}
	appended := 0
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		ref := meta.TopicRef{Name: rt.Topic}
		if r.Version >= 13 {
			ref = meta.TopicRef{ID: meta.TopicID(rt.TopicID)}
		}
		t, terr := h.resolveTopicFor(r, im, kmsg.ACLOperationWrite, ref)
		if reqErr != nil {
			terr = reqErr
		}
		for _, rp := range rt.Partitions {
			sp := h.producePartition(ctx, r.Version, req.Acks, tenant, req.TransactionID, t, terr, &rp, &r.Waited)
			if sp.ErrorCode != 0 {
				failed = true
			} else {
				appended += len(rp.Records)
			}
			if sp.ErrorCode == kerr.NotLeaderForPartition.Code && r.Version >= 10 {
				addProduceLeaderHint(resp, &sp, im, t, rp.Partition)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	r.Throttle = h.cfg.Quotas.Produce(tenant, appended)
	if req.Acks == 0 {
		// No response; an error is signalled by closing the connection so
		// that the client refreshes its metadata.
		if failed {
			return nil, wire.ErrCloseConnection
		}
		return nil, nil
	}
	return resp, nil
}

// waited accumulates the time spent waiting for other nodes (transaction
// verification, replication), which is not the tenant's request time.
func (h *Handlers) producePartition(ctx context.Context, version, acks int16, tenant meta.TenantID, txnID *string, t *meta.Topic, terr error,
	rp *kmsg.ProduceRequestTopicPartition, waited *time.Duration) kmsg.ProduceResponseTopicPartition {
	sp := kmsg.NewProduceResponseTopicPartition()
	sp.Partition = rp.Partition
	fail := func(err error) kmsg.ProduceResponseTopicPartition {
		sp.ErrorCode = errorCode(err)
		sp.ErrorMessage = errorMessage(err)
		return sp
	}
	switch {
	case terr != nil:
		return fail(terr)
	case acks != 0 && acks != 1 && acks != -1:
		return fail(kerr.InvalidRequiredAcks)
	case version < 7 && batchCompression(rp.Records) == record.CompressionZstd:
		return fail(kerr.UnsupportedCompressionType)
	}
	p, err := h.partitionFor(t, rp.Partition)
	if err != nil {
		return fail(err)
	}
	var opts replica.AppendOptions
	if hdr, herr := record.ParseHeader(rp.Records); herr == nil && hdr.Transactional() && hdr.HasProducerID() &&
		txnID != nil && h.cfg.Txns != nil {
		opts.Verify = true
		opts.Verification = p.StartTxnVerification(hdr.ProducerID, hdr.ProducerEpoch)
		defer p.EndTxnVerification(opts.Verification)
		if opts.Verification != nil {
			start := time.Now()
			err := verificationError(verifyOne(ctx, h.cfg.Txns, tenant, *txnID, hdr.ProducerID, hdr.ProducerEpoch,
				coord.TxnPartition{Topic: t.Name, Partition: rp.Partition}))
			*waited += time.Since(start)
			if err != nil {
				return fail(ProduceTxnError(version, err))
			}
		}
	}
	if acks == -1 {
		if err := p.CheckMinISR(); err != nil {
			return fail(err)
		}
	}
	res, err := p.AppendWith(rp.Records, opts)
	if err != nil {
		return fail(err)
	}
	if acks == -1 {
		start := time.Now()
		err := p.WaitReplicated(ctx, res.LastOffset+1, res.LeaderEpoch)
		*waited += time.Since(start)
		if err != nil {
			return fail(err)
		}
	}
	sp.BaseOffset = res.BaseOffset
	sp.LogAppendTime = res.LogAppendTime
	sp.LogStartOffset = res.LogStartOffset
	return sp
}

func hasTransactionalRecords(req *kmsg.ProduceRequest) bool {
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			if h, err := record.ParseHeader(rp.Records); err == nil && h.Transactional() {
				return true
			}
		}
	}
	return false
}

func batchCompression(b []byte) record.Compression {
	hdr, err := record.ParseHeader(b)
	if err != nil {
		return record.CompressionNone
	}
	return hdr.Compression()
}

// addProduceLeaderHint fills KIP-951's current leader of a refused
// partition and lists the leader among the response's brokers.
func addProduceLeaderHint(resp *kmsg.ProduceResponse, sp *kmsg.ProduceResponseTopicPartition, im *meta.Image, t *meta.Topic, partition int32) {
	leader, epoch, b, ok := leaderHint(im, t, partition)
	if !ok {
		return
	}
	sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = leader, epoch
	for _, have := range resp.Brokers {
		if have.NodeID == leader {
			return
		}
	}
	rb := kmsg.NewProduceResponseBroker()
	rb.NodeID, rb.Host, rb.Port = b.ID, b.Host, b.Port
	if b.Rack != "" {
		rb.Rack = kmsg.StringPtr(b.Rack)
	}
	resp.Brokers = append(resp.Brokers, rb)
}

package api

// DescribeProducers, v0 (KIP-664): the producers a partition leader has
// state for (idempotent and transactional), with their epoch, last
// sequence and timestamp, last coordinator epoch and the first offset of
// their open transaction (-1 if none), as the partition's producer state
// holds them (internal/log/producer_state.go). Unknown partitions get
// UNKNOWN_TOPIC_OR_PARTITION, partitions led elsewhere
// NOT_LEADER_OR_FOLLOWER.

import (
	"context"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DescribeProducers, 0, 0, (*Handlers).describeProducers) }

func (h *Handlers) describeProducers(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	im := h.cfg.Meta.Image()
	for _, rt := range req.Topics {
		st := kmsg.NewDescribeProducersResponseTopic()
		st.Topic = rt.Topic
		t, terr := h.resolveTopicFor(r, im, kmsg.ACLOperationRead, meta.TopicRef{Name: rt.Topic})
		for _, partition := range rt.Partitions {
			sp := kmsg.NewDescribeProducersResponseTopicPartition()
			sp.Partition = partition
			err := terr
			if err == nil {
				err = h.describePartitionProducers(t, partition, &sp)
			}
			if err != nil {
				sp.ErrorCode = errorCode(err)
				sp.ErrorMessage = errorMessage(err)
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (h *Handlers) describePartitionProducers(t *meta.Topic, partition int32, sp *kmsg.DescribeProducersResponseTopicPartition) error {
	p, err := h.partitionFor(t, partition)
	if err != nil {
		return err
	}
	for _, pi := range p.Producers() {
		ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
		ap.ProducerID = pi.ProducerID
		ap.ProducerEpoch = int32(pi.Epoch)
		ap.LastSequence = pi.LastSequence
		ap.LastTimestamp = pi.LastTimestamp
		ap.CoordinatorEpoch = pi.CoordinatorEpoch
		ap.CurrentTxnStartOffset = pi.TxnStartOffset
		sp.ActiveProducers = append(sp.ActiveProducers, ap)
	}
	return nil
}

package api

// DeleteRecords, v0-v2. Moves a partition's log start offset forward to the
// given offset (-1: the high watermark); whole segments below it are
// removed. The low watermark returned is the new log start offset.

import (
	"context"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.DeleteRecords, 0, 2, (*Handlers).deleteRecords) }

func (h *Handlers) deleteRecords(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	im := h.cfg.Meta.Image()
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		t, terr := h.resolveTopicFor(r, im, kmsg.ACLOperationDelete, meta.TopicRef{Name: rt.Topic})
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			err := terr
			if err == nil {
				err = h.deleteRecordsPartition(t, rp.Partition, rp.Offset, &sp)
			}
			sp.ErrorCode = errorCode(err)
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (h *Handlers) deleteRecordsPartition(t *meta.Topic, partition int32, offset int64, sp *kmsg.DeleteRecordsResponseTopicPartition) error {
	p, err := h.partitionFor(t, partition)
	if err != nil {
		return err
	}
	low, err := p.DeleteRecordsBefore(offset)
	if err != nil {
		return err
	}
	sp.LowWatermark = low
	return nil
}

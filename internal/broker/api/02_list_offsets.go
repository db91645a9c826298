package api

// ListOffsets, v1-v11 (v0 was dropped in Kafka 4.0). Special timestamps:
// -1 latest (the high watermark, or the last stable offset under
// read_committed, which also bounds timestamp lookups), -2 earliest, -3 the record with the largest timestamp
// (v7+, KIP-734), -4 earliest local (v8+, the log start offset while nothing
// is tiered), -5 latest tiered (v9+) and -6 earliest pending upload (v11+),
// both "none" (-1) while nothing is tiered. Any other value finds the first
// record with a timestamp at or after it.

import (
	"context"
	"errors"

	"github.com/strata-db/strata/internal/log"
	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/replica"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.ListOffsets, 1, 11, (*Handlers).listOffsets) }

const (
	timestampLatest         = -1
	timestampEarliest       = -2
	timestampMax            = -3
	timestampEarliestLocal  = -4
	timestampLatestTiered   = -5
	timestampEarliestUpload = -6
)

func (h *Handlers) listOffsets(_ context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	im := h.cfg.Meta.Image()
	seen := map[[2]any]bool{}
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		t, terr := h.resolveTopicFor(r, im, kmsg.ACLOperationDescribe, meta.TopicRef{Name: rt.Topic})
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			key := [2]any{rt.Topic, rp.Partition}
			var err error
			if seen[key] {
				err = kerr.InvalidRequest
			} else {
				seen[key] = true
				err = terr
			}
			if err == nil {
				err = h.listOffset(t, &rp, req.IsolationLevel, &sp)
			}
			if err != nil {
				sp.ErrorCode = errorCode(err)
				sp.Timestamp, sp.Offset = -1, -1
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

func (h *Handlers) listOffset(t *meta.Topic, rp *kmsg.ListOffsetsRequestTopicPartition, isolation int8, sp *kmsg.ListOffsetsResponseTopicPartition) error {
	p, err := h.partitionFor(t, rp.Partition)
	if err != nil {
		return err
	}
	if err := checkLeaderEpoch(p, rp.CurrentLeaderEpoch); err != nil {
		return err
	}
	sp.LeaderEpoch = p.LeaderEpoch()
	sp.Timestamp, sp.Offset = -1, -1
	// Consumers learn of no offset they could not fetch.
	fetchable := p.HighWatermark()
	if isolation == isolationReadCommitted {
		fetchable = p.LastStableOffset()
	}
	switch rp.Timestamp {
	case timestampLatest:
		sp.Offset = fetchable
	case timestampEarliest, timestampEarliestLocal:
		sp.Offset = p.LogStartOffset()
	case timestampLatestTiered, timestampEarliestUpload:
		// Nothing is tiered yet.
	case timestampMax:
		return timestampLookup(p, fetchable, sp, func(l *log.Log) (int64, int64, bool, error) { return l.MaxTimestamp() })
	default:
		if rp.Timestamp < 0 {
			return kerr.InvalidRequest
		}
		return timestampLookup(p, fetchable, sp, func(l *log.Log) (int64, int64, bool, error) { return l.OffsetForTimestamp(rp.Timestamp) })
	}
	return nil
}

// timestampLookup runs a log lookup and keeps only results below fetchable
// (the high watermark, or the last stable offset under read_committed):
// consumers must not learn of offsets they cannot fetch.
func timestampLookup(p *replica.Partition, fetchable int64, sp *kmsg.ListOffsetsResponseTopicPartition, find func(*log.Log) (int64, int64, bool, error)) error {
	off, ts, ok, err := find(p.Log())
	if err != nil {
		if errors.Is(err, log.ErrStorage) || errors.Is(err, log.ErrCorruptData) {
			return kerr.KafkaStorageError
		}
		return err
	}
	if ok && off < fetchable {
		sp.Offset, sp.Timestamp = off, ts
	}
	return nil
}

package api

// Fetch from a follower (replica_id >= 0 up to v14, KIP-903's replica
// state from v15): the leader side of replication. The follower names
// topics by id (v13+) in any tenant, since it copies partitions, not a
// tenant's view; it must be a registered broker, at the broker epoch it
// sends (STALE_BROKER_EPOCH otherwise), and a replica of each partition.
// The leader records that epoch with the follower's fetch state, and an
// ISR expansion names it (KIP-903): a follower fetching without one
// (before v15) is replicated to but never proposed for the ISR.
// No fetch sessions; long polls wake on appends. Each partition reports
// the leader's HW, and DivergingEpoch when the follower's last fetched
// epoch shows a divergent tail (replica.Partition.ReadForFollower).
//
// Inter-broker requests are not authenticated yet: any connection may
// claim to be a broker. Listener security (SASL, mTLS) arrives with the
// tenancy issue and must restrict replica fetches to brokers.

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/strata-db/strata/internal/log"
	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/replica"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchingReplica is the follower a replica fetch comes from: its broker
// id and broker epoch (-1 before v15).
type fetchingReplica struct {
	id    int32
	epoch int64
}

// replicaRead is one partition of a replica fetch.
type replicaRead struct {
	topic     [16]byte
	name      string
	partition int32
	p         *replica.Partition
	f         replica.FollowerRead
	err       error
}

func (h *Handlers) replicaFetch(ctx context.Context, r *wire.Request, req *kmsg.FetchRequest, resp *kmsg.FetchResponse) (kmsg.Response, error) {
	id, epoch := req.ReplicaID, int64(-1)
	if r.Version >= 15 {
		id, epoch = req.ReplicaState.ID, req.ReplicaState.Epoch
	}
	im := h.cfg.Meta.Image()
	b, ok := im.Broker(id)
	switch {
	case !ok:
		resp.ErrorCode = kerr.BrokerIDNotRegistered.Code
		return resp, nil
	case epoch >= 0 && b.Epoch != epoch:
		resp.ErrorCode = kerr.StaleBrokerEpoch.Code
		return resp, nil
	}
	var reads []replicaRead
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			reads = append(reads, replicaRead{topic: rt.TopicID, name: rt.Topic, partition: rp.Partition})
		}
	}
	from := fetchingReplica{id: id, epoch: epoch}
	alloc := pooledReads(r)
	h.readReplica(im, tenantOf(r), r.Version, req, from, reads, alloc)
	if replicaBytes(reads) < int(req.MinBytes) && req.MaxWaitMillis > 0 {
		h.waitReplica(ctx, im, tenantOf(r), r.Version, req, from, reads, alloc)
	}
	h.metrics.replicaBytes.Add(float64(replicaBytes(reads)))
	for i := range reads {
		rd := &reads[i]
		if len(resp.Topics) == 0 || resp.Topics[len(resp.Topics)-1].TopicID != rd.topic || resp.Topics[len(resp.Topics)-1].Topic != rd.name {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = rd.name, rd.topic
			resp.Topics = append(resp.Topics, rt)
		}
		rt := &resp.Topics[len(resp.Topics)-1]
		rt.Partitions = append(rt.Partitions, replicaPartition(rd))
	}
	return resp, nil
}

func replicaPartition(rd *replicaRead) kmsg.FetchResponseTopicPartition {
	sp := kmsg.NewFetchResponseTopicPartition()
	sp.Partition = rd.partition
	sp.RecordBatches = []byte{}
	sp.ErrorCode = errorCode(rd.err)
	// The leader's offsets go out with OFFSET_OUT_OF_RANGE too: the
	// follower resets from them (replica.Partition.ResetOutOfRange).
	sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = rd.f.HighWatermark, -1, rd.f.LogStartOffset
	if rd.p == nil {
		sp.HighWatermark, sp.LogStartOffset = -1, -1
	}
	if rd.err == nil {
		sp.DivergingEpoch.Epoch, sp.DivergingEpoch.EndOffset = rd.f.DivergingEpoch, rd.f.DivergingEndOffset
		if rd.f.Records != nil {
			sp.RecordBatches = rd.f.Records
		}
	}
	return sp
}

// readReplica reads every partition of a replica fetch within the
// response's byte budget.
func (h *Handlers) readReplica(im *meta.Image, tenant meta.TenantID, version int16, req *kmsg.FetchRequest, from fetchingReplica, reads []replicaRead, alloc log.Alloc) {
	remaining := max(int(req.MaxBytes), 1)
	i := 0
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			rd := &reads[i]
			i++
			rd.p, rd.err = h.replicaPartitionFor(im, tenant, version, rt.Topic, rt.TopicID, rp.Partition, from.id)
			if rd.err != nil {
				continue
			}
			limit := min(int(rp.PartitionMaxBytes), remaining)
			rd.f, rd.err = rd.p.ReadForFollower(replica.FollowerFetch{
				Replica: from.id, BrokerEpoch: from.epoch, Offset: rp.FetchOffset,
				LastFetchedEpoch: lastFetchedEpoch(version, rp.LastFetchedEpoch), CurrentLeaderEpoch: rp.CurrentLeaderEpoch,
				Alloc: alloc,
			}, max(limit, 1))
			remaining -= len(rd.f.Records)
		}
	}
}

func lastFetchedEpoch(version int16, e int32) int32 {
	if version < 12 {
		return -1
	}
	return e
}

// replicaPartitionFor finds a partition a follower fetches: by id in any
// tenant (by name in the connection's tenant before v13), led here, with
// the follower among its replicas.
func (h *Handlers) replicaPartitionFor(im *meta.Image, tenant meta.TenantID, version int16, name string, id [16]byte, partition int32, replicaID int32) (*replica.Partition, error) {
	var t *meta.Topic
	if version >= 13 {
		var ok bool
		if t, ok = im.TopicByID(meta.TopicID(id)); !ok {
			return nil, kerr.UnknownTopicID
		}
	} else {
		var err error
		if t, err = im.ResolveTopic(tenant, meta.TopicRef{Name: name}); err != nil {
			return nil, err
		}
	}
	if partition >= 0 && int(partition) < len(t.Partitions) && !slices.Contains(t.Partitions[partition].Replicas, replicaID) {
		return nil, fmt.Errorf("%w: broker %d is not a replica", kerr.NotLeaderForPartition, replicaID)
	}
	return h.partitionFor(t, partition)
}

func replicaBytes(reads []replicaRead) int {
	n := 0
	for _, rd := range reads {
		if rd.err != nil || rd.f.DivergingEpoch >= 0 {
			return 1 << 30 // answer at once
		}
		n += len(rd.f.Records)
	}
	return n
}

// waitReplica long-polls a replica fetch: it reads again on every append
// to one of its partitions until MinBytes, MaxWaitMillis or shutdown.
func (h *Handlers) waitReplica(ctx context.Context, im *meta.Image, tenant meta.TenantID, version int16, req *kmsg.FetchRequest, from fetchingReplica, reads []replicaRead, alloc log.Alloc) {
	w := replica.NewWaiter()
	var watched []*replica.Partition
	for _, rd := range reads {
		if rd.p != nil {
			rd.p.Watch(w)
			watched = append(watched, rd.p)
		}
	}
	defer func() {
		for _, p := range watched {
			p.Unwatch(w)
		}
	}()
	timer := time.NewTimer(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	defer timer.Stop()
	// An append between the first read and the watch: read again now.
	h.readReplica(im, tenant, version, req, from, reads, alloc)
	for replicaBytes(reads) < int(req.MinBytes) {
		select {
		case <-w.C:
			h.readReplica(h.cfg.Meta.Image(), tenant, version, req, from, reads, alloc)
		case <-timer.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// isReplicaFetch reports whether a fetch comes from a follower.
func isReplicaFetch(req *kmsg.FetchRequest, version int16) bool {
	if version >= 15 {
		return req.ReplicaState.ID >= 0
	}
	return req.ReplicaID >= 0
}

package api

// Fetch, v4-v18 (v0-v3 were dropped in Kafka 4.0, KIP-896). From v7
// requests may use fetch sessions (KIP-227); from v13 topics are named by
// id. Followers fetch here too (fetch_replica.go).
//
// Limits: the response holds at most MaxBytes of records and each partition
// at most its PartitionMaxBytes, except that the first partition with data
// returns at least one whole batch (KIP-74). The request waits up to
// MaxWaitMillis for MinBytes of data, woken by appends and transaction
// markers.
//
// Replicas (KIP-392): from v11 a consumer may fetch from any replica hosted
// here, which serves up to its own high watermark. The leader answers a
// consumer that gives its rack (client.rack) and is not in the leader's
// with no records and the in-sync follower of that rack that has its
// offset as preferred_read_replica; the client then fetches there.
//
// Isolation: read_uncommitted (0) reads up to the high watermark;
// read_committed (1) up to the last stable offset, and each partition lists
// the aborted transactions (producer id, first offset) overlapping the
// records returned, so that the client drops their records. Both report
// the last stable offset.
//
// Quotas: the record bytes returned count against the tenant's fetch byte
// rate, and the response carries the throttle. A fetch that arrives while
// the tenant is still over its quota reads nothing and is answered empty
// with the throttle (throttledFetch).

import (
	"context"
	"time"

	"github.com/strata-db/strata/internal/bufpool"
	"github.com/strata-db/strata/internal/log"
	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/replica"
	"github.com/strata-db/strata/internal/wire"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(kmsg.Fetch, 4, 18, (*Handlers).fetch) }

// partRead is the outcome of reading one planned partition.
type partRead struct {
	p   *replica.Partition
	f   replica.Fetched
	err error
	// preferred is the replica the consumer should fetch from instead
	// (KIP-392), -1 if none; then f holds only the watermarks.
	preferred int32
}

func (h *Handlers) fetch(ctx context.Context, r *wire.Request) (kmsg.Response, error) {
	req := r.Body.(*kmsg.FetchRequest)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	if isReplicaFetch(req, r.Version) {
		if clusterOnly(r) { // a tenant's connection is no broker
			resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			return resp, nil
		}
		return h.replicaFetch(ctx, r, req, resp)
	}
	tenant := tenantOf(r)
	plan, code := h.sessions.begin(tenant, req, r.Version)
	if code != 0 {
		resp.ErrorCode = code
		return resp, nil
	}
	resp.SessionID = plan.sessionID()
	if throttle := h.cfg.Quotas.FetchThrottle(tenant); throttle > 0 {
		h.throttledFetch(resp, &plan)
		r.Throttle = throttle
		return resp, nil
	}

	// A session's waiter stays registered on its partitions; a signal left
	// from appends already read is drained before reading, so that any
	// append after this point wakes the long poll below.
	var waiter *replica.Waiter
	if plan.session != nil {
		waiter = plan.session.waiter
		drain(waiter)
	}
	alloc := pooledReads(r)
	reads := h.readAll(r, req, plan.parts, waiter, alloc)
	if !enough(reads, req.MinBytes) && req.MaxWaitMillis > 0 {
		start := time.Now()
		reads = h.waitForData(ctx, r, req, &plan, reads, alloc)
		r.Waited += time.Since(start) // a long poll is not the tenant's request time
	}
	hadData := h.buildFetchResponse(resp, r.Version, &plan, reads)
	h.metrics.consumerRead(plan.parts, reads)
	if r.Version >= 12 {
		addFetchLeaderHints(resp, r.Version, h.cfg.Meta.Image(), tenant)
	}
	r.ResponseSizeHint = fetchResponseSize(reads)
	h.sessions.finish(&plan, hadData)
	r.Throttle = h.cfg.Quotas.Fetch(tenant, recordBytes(reads))
	return resp, nil
}

// throttledFetch answers a fetch of a tenant over its fetch quota without
// reading, as Kafka does (KIP-219): no partitions, so an incremental
// session reports nothing new and keeps its positions, and a full fetch
// opens no session (its new session is dropped and the id is 0).
func (h *Handlers) throttledFetch(resp *kmsg.FetchResponse, plan *fetchPlan) {
	h.sessions.finish(plan, make([]bool, len(plan.parts)))
	if plan.session != nil && !plan.incremental {
		h.sessions.drop(plan.session)
		resp.SessionID = 0
	}
}

func recordBytes(reads []partRead) int {
	n := 0
	for _, rd := range reads {
		n += len(rd.f.Records)
	}
	return n
}

func drain(w *replica.Waiter) {
	select {
	case <-w.C:
	default:
	}
}

// isolationReadCommitted is FetchRequest.IsolationLevel for read_committed.
const isolationReadCommitted = 1

// pooledReads returns an Alloc for a fetch's log reads whose buffers go
// back to bufpool once r's response is encoded: the response frame has
// its own copy of the records by then.
func pooledReads(r *wire.Request) log.Alloc {
	var bufs [][]byte
	r.AfterResponse(func() {
		for _, b := range bufs {
			bufpool.Put(b)
		}
	})
	return func(n int) []byte {
		b := bufpool.Get(n)[:n]
		bufs = append(bufs, b)
		return b
	}
}

// readAll reads every planned partition within the response's byte budget,
// into buffers from alloc. With a waiter, each partition read is first
// watched by it.
func (h *Handlers) readAll(r *wire.Request, req *kmsg.FetchRequest, parts []*fetchPart, waiter *replica.Waiter, alloc log.Alloc) []partRead {
	im := h.cfg.Meta.Image()
	anyReplica := r.Version >= 11
	rackOf := func(id int32) (string, bool) {
		b, ok := im.Broker(id)
		return b.Rack, ok && b.Alive()
	}
	committed := req.IsolationLevel == isolationReadCommitted
	remaining := int(req.MaxBytes)
	if remaining <= 0 {
		remaining = 1
	}
	minOne := true
	reads := make([]partRead, len(parts))
	for i, fp := range parts {
		rd := &reads[i]
		rd.preferred = -1
		rd.p, rd.err = h.resolveFetchPartition(r, im, fp, anyReplica)
		if rd.err != nil {
			continue
		}
		if anyReplica && req.Rack != "" && fp.leader {
			if rd.preferred = rd.p.PreferredReadReplica(req.Rack, fp.offset, rackOf); rd.preferred >= 0 {
				rd.f = replica.Fetched{HighWatermark: rd.p.HighWatermark(), LastStable: rd.p.LastStableOffset(), LogStartOffset: rd.p.LogStartOffset()}
				continue
			}
		}
		if waiter != nil && fp.watching != rd.p {
			if fp.watching != nil {
				fp.watching.Unwatch(waiter)
			}
			rd.p.Watch(waiter)
			fp.watching = rd.p
		}
		limit := min(int(fp.maxBytes), remaining)
		if limit <= 0 && !minOne {
			rd.f = replica.Fetched{HighWatermark: rd.p.HighWatermark(), LastStable: rd.p.LastStableOffset(), LogStartOffset: rd.p.LogStartOffset()}
			continue
		}
		rd.f, rd.err = rd.p.ReadIsolated(alloc, fp.offset, max(limit, 0), minOne, committed)
		if rd.err != nil && !fp.leader && fp.offset > rd.p.LogEndOffset() {
			// A follower behind the leader the consumer came from (KIP-392
			// case 2): retriable, unlike OFFSET_OUT_OF_RANGE, which would
			// make the consumer reset its position.
			rd.err = kerr.OffsetNotAvailable
		}
		if n := len(rd.f.Records); n > 0 {
			minOne = false
			remaining -= n
		}
	}
	return reads
}

// resolveFetchPartition finds a fetched partition the principal may READ,
// from the part's cache while the metadata image (which holds the ACLs) is
// unchanged. Errors are not cached: a partition assigned here may open
// after its image was published. anyReplica lets a follower serve it.
func (h *Handlers) resolveFetchPartition(r *wire.Request, im *meta.Image, fp *fetchPart, anyReplica bool) (*replica.Partition, error) {
	if fp.part == nil || fp.resolvedAt != im.Index {
		t, err := h.resolveTopicFor(r, im, kmsg.ACLOperationRead, meta.TopicRef{Name: fp.key.name, ID: fp.key.id})
		if err != nil {
			fp.part = nil
			return nil, err
		}
		p, err := h.localPartition(t, fp.key.partition, anyReplica)
		if err != nil {
			fp.part = nil
			return nil, err
		}
		fp.part, fp.resolvedAt, fp.leader = p, im.Index, t.Partitions[fp.key.partition].Leader == h.cfg.NodeID
	}
	if err := checkLeaderEpoch(fp.part, fp.currentLeaderEpoch); err != nil {
		return nil, err
	}
	return fp.part, nil
}

// enough reports whether a response can go out now: MinBytes reached, or
// some partition has an error to report.
func enough(reads []partRead, minBytes int32) bool {
	total := 0
	for _, rd := range reads {
		if rd.err != nil || rd.preferred >= 0 {
			return true
		}
		total += len(rd.f.Records)
	}
	return total >= int(minBytes)
}

// waitForData long-polls: it re-reads whenever one of the partitions gets an
// append, until MinBytes is reached, MaxWaitMillis passes or the server
// stops. A fetch without a session watches its partitions only while it
// waits.
func (h *Handlers) waitForData(ctx context.Context, r *wire.Request, req *kmsg.FetchRequest, plan *fetchPlan, reads []partRead, alloc log.Alloc) []partRead {
	waiter := replica.NewWaiter()
	if plan.session != nil {
		waiter = plan.session.waiter
	} else {
		defer func() {
			for _, fp := range plan.parts {
				if fp.watching != nil {
					fp.watching.Unwatch(waiter)
					fp.watching = nil
				}
			}
		}()
		// Data may arrive between the first read and the watch: read again
		// once watching.
		reads = h.readAll(r, req, plan.parts, waiter, alloc)
	}
	timer := time.NewTimer(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	defer timer.Stop()
	for !enough(reads, req.MinBytes) {
		select {
		case <-waiter.C:
			reads = h.readAll(r, req, plan.parts, waiter, alloc)
		case <-timer.C:
			return reads
		case <-ctx.Done():
			return reads
		}
	}
	return reads
}

// buildFetchResponse fills resp from the reads, leaving out, for an
// incremental fetch, partitions with nothing new, and records in each part
// the watermarks sent. It reports which parts carried records.
func (h *Handlers) buildFetchResponse(resp *kmsg.FetchResponse, version int16, plan *fetchPlan, reads []partRead) []bool {
	hadData := make([]bool, len(plan.parts))
	var cur *kmsg.FetchResponseTopic
	for i, fp := range plan.parts {
		rd := reads[i]
		sp := kmsg.NewFetchResponseTopicPartition()
		sp.Partition = fp.key.partition
		// Kafka sends an empty record set, never a null one: librdkafka
		// rejects null as a malformed message set.
		sp.RecordBatches = []byte{}
		if rd.err != nil {
			sp.ErrorCode = errorCode(rd.err)
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
		} else {
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = rd.f.HighWatermark, rd.f.LastStable, rd.f.LogStartOffset
			if rd.f.Records != nil {
				sp.RecordBatches = rd.f.Records
			}
		}
		if version >= 4 && sp.ErrorCode == 0 {
			sp.AbortedTransactions = make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, 0, len(rd.f.Aborted))
			for _, a := range rd.f.Aborted {
				at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
				at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
				sp.AbortedTransactions = append(sp.AbortedTransactions, at)
			}
		}
		sp.PreferredReadReplica = rd.preferred
		hadData[i] = len(sp.RecordBatches) > 0
		changed := sp.ErrorCode != 0 || hadData[i] || rd.preferred >= 0 || sp.HighWatermark != fp.sentHW ||
			sp.LastStableOffset != fp.sentLSO || sp.LogStartOffset != fp.sentStart
		fp.sentHW, fp.sentLSO, fp.sentStart = sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset
		if plan.incremental && !changed {
			continue
		}
		if cur == nil || cur.Topic != fp.key.name || cur.TopicID != [16]byte(fp.key.id) {
			resp.Topics = append(resp.Topics, kmsg.NewFetchResponseTopic())
			cur = &resp.Topics[len(resp.Topics)-1]
			cur.Topic, cur.TopicID = fp.key.name, fp.key.id
		}
		cur.Partitions = append(cur.Partitions, sp)
	}
	return hadData
}

// fetchResponseSize estimates a response's encoded size: its records plus
// a generous allowance for the fields around each partition.
func fetchResponseSize(reads []partRead) int {
	n := 0
	for _, rd := range reads {
		n += len(rd.f.Records) + 96
	}
	return n
}

// addFetchLeaderHints fills KIP-951's current leader of every partition
// refused with NOT_LEADER_OR_FOLLOWER (v12+), and from v16 lists the
// leaders among the response's brokers.
func addFetchLeaderHints(resp *kmsg.FetchResponse, version int16, im *meta.Image, tenant meta.TenantID) {
	listed := map[int32]bool{}
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		var t *meta.Topic
		for j := range rt.Partitions {
			sp := &rt.Partitions[j]
			if sp.ErrorCode != kerr.NotLeaderForPartition.Code {
				continue
			}
			if t == nil {
				t, _ = im.ResolveTopic(tenant, meta.TopicRef{Name: rt.Topic, ID: meta.TopicID(rt.TopicID)})
			}
			leader, epoch, b, ok := leaderHint(im, t, sp.Partition)
			if !ok {
				continue
			}
			sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = leader, epoch
			if version >= 16 && !listed[leader] {
				listed[leader] = true
				rb := kmsg.NewFetchResponseBroker()
				rb.NodeID, rb.Host, rb.Port = b.ID, b.Host, b.Port
				if b.Rack != "" {
					rb.Rack = kmsg.StringPtr(b.Rack)
				}
				resp.Brokers = append(resp.Brokers, rb)
			}
		}
	}
}

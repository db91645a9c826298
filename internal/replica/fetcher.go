package replica

import (
	"context"
	"errors"
	"fmt"
	"github.com/strata-db/strata/internal/peer"
	"sync"
	"time"

	"github.com/strata-db/strata/internal/meta"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Replica fetching: one fetcher per leader broker copies every partition
// this node follows from that leader, in one Fetch request at a time
// (Kafka's ReplicaFetcherThread), over a plain Kafka connection to the
// leader's listener (TLS with Config.PeerTLS). Requests are Fetch v15: topics by id, the follower
// named by KIP-903's replica state (id and broker epoch), each partition
// with the leader epoch the follower knows and the epoch of its last
// batch, so that the leader can point out a divergent tail in its answer
// (DivergingEpoch) instead of a separate OffsetForLeaderEpoch round trip.

const (
	replicaFetchVersion  = 15
	replicaFetchMaxWait  = 500 * time.Millisecond
	replicaFetchMaxBytes = 16 << 20
	replicaPartMaxBytes  = 1 << 20
	fetchBackoffMin      = 50 * time.Millisecond
	fetchBackoffMax      = time.Second
)

// fetcher copies the partitions followed from one leader.
type fetcher struct {
	m      *Manager
	leader int32

	mu    sync.Mutex
	addr  string
	parts map[Key]*followed
	wake  chan struct{} // cap 1: the set changed

	cancel context.CancelFunc
	done   chan struct{}
}

// followed is one partition a fetcher copies.
type followed struct {
	p           *Partition
	leaderEpoch int32
	retryAt     time.Time // after an error, not fetched before
}

func newFetcher(m *Manager, leader int32, addr string) *fetcher {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fetcher{m: m, leader: leader, addr: addr, parts: map[Key]*followed{}, wake: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go f.run(ctx)
	return f
}

// set replaces the followed partitions and the leader's address.
func (f *fetcher) set(addr string, parts map[Key]*followed) {
	f.mu.Lock()
	f.addr = addr
	for k, fp := range parts {
		if old, ok := f.parts[k]; ok && old.p == fp.p && old.leaderEpoch == fp.leaderEpoch {
			parts[k] = old // keep its backoff
		}
	}
	f.parts = parts
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *fetcher) stop() {
	f.cancel()
	<-f.done
}

func (f *fetcher) run(ctx context.Context) {
	defer close(f.done)
	var conn *peer.Conn
	var connAddr string
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	backoff := fetchBackoffMin
	failing := false
	for ctx.Err() == nil {
		req, parts, addr := f.build()
		if len(parts) == 0 {
			select {
			case <-ctx.Done():
			case <-f.wake:
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		var err error
		if conn != nil && connAddr != addr {
			conn.Close()
			conn = nil
		}
		if conn == nil {
			conn, err = peer.Dial(ctx, addr, fmt.Sprintf("strata-replica-%d", f.m.cfg.NodeID), f.m.cfg.PeerTLS)
			connAddr = addr
		}
		var resp kmsg.Response
		if err == nil {
			resp, err = conn.Do(req, time.Now().Add(replicaFetchMaxWait+10*time.Second))
		}
		if err != nil {
			if conn != nil {
				conn.Close()
				conn = nil
			}
			if !failing && ctx.Err() == nil {
				f.m.log.Warn("replica fetch failed", "leader", f.leader, "addr", addr, "err", err)
			}
			failing = true
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, fetchBackoffMax)
			continue
		}
		if failing {
			f.m.log.Info("replica fetching resumed", "leader", f.leader, "addr", addr)
		}
		failing, backoff = false, fetchBackoffMin
		f.handle(resp.(*kmsg.FetchResponse), parts)
	}
}

// build makes the next request from the partitions not backing off.
func (f *fetcher) build() (*kmsg.FetchRequest, map[Key]*followed, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	req := kmsg.NewPtrFetchRequest()
	req.Version = replicaFetchVersion
	req.ReplicaID = -1
	req.ReplicaState.ID = f.m.cfg.NodeID
	req.ReplicaState.Epoch = f.m.brokerEpoch()
	req.MaxWaitMillis = int32(replicaFetchMaxWait / time.Millisecond)
	req.MinBytes = 1
	req.MaxBytes = replicaFetchMaxBytes
	req.SessionEpoch = -1 // no fetch session
	now := time.Now()
	parts := map[Key]*followed{}
	byTopic := map[meta.TopicID]int{}
	for k, fp := range f.parts {
		if now.Before(fp.retryAt) {
			continue
		}
		parts[k] = fp
		i, ok := byTopic[k.Topic]
		if !ok {
			rt := kmsg.NewFetchRequestTopic()
			rt.TopicID = k.Topic
			req.Topics = append(req.Topics, rt)
			i = len(req.Topics) - 1
			byTopic[k.Topic] = i
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = k.Partition
		rp.CurrentLeaderEpoch = fp.leaderEpoch
		rp.FetchOffset, rp.LastFetchedEpoch = fp.p.fetchPosition()
		rp.LogStartOffset = fp.p.LogStartOffset()
		rp.PartitionMaxBytes = replicaPartMaxBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	if len(parts) == 0 {
		// Nothing to ask now; wake for the earliest retry.
		var next time.Time
		for _, fp := range f.parts {
			if next.IsZero() || fp.retryAt.Before(next) {
				next = fp.retryAt
			}
		}
		if !next.IsZero() {
			go func(d time.Duration) {
				time.Sleep(d)
				select {
				case f.wake <- struct{}{}:
				default:
				}
			}(time.Until(next))
		}
	}
	return req, parts, f.addr
}

// handle applies a fetch response to the followed partitions.
func (f *fetcher) handle(resp *kmsg.FetchResponse, parts map[Key]*followed) {
	if resp.ErrorCode != 0 {
		err := kerr.ErrorForCode(resp.ErrorCode)
		f.m.log.Warn("replica fetch refused", "leader", f.leader, "err", err)
		f.backoff(parts, fetchBackoffMax)
		return
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			k := Key{Topic: meta.TopicID(rt.TopicID), Partition: rp.Partition}
			fp, ok := parts[k]
			if !ok {
				continue
			}
			if err := f.apply(fp.p, &rp); err != nil {
				f.m.log.Warn("replica fetch of partition failed", "leader", f.leader, "partition", k.String(), "err", err)
				f.backoff(map[Key]*followed{k: fp}, retryDelay(err))
			}
		}
	}
}

// retryDelay is how long a partition waits after err: briefly for errors
// a metadata update resolves, longer for anything else.
func retryDelay(err error) time.Duration {
	switch {
	case errors.Is(err, kerr.NotLeaderForPartition), errors.Is(err, kerr.FencedLeaderEpoch),
		errors.Is(err, kerr.UnknownLeaderEpoch), errors.Is(err, kerr.UnknownTopicID),
		errors.Is(err, kerr.UnknownTopicOrPartition):
		return 200 * time.Millisecond
	}
	return fetchBackoffMax
}

func (f *fetcher) backoff(parts map[Key]*followed, d time.Duration) {
	at := time.Now().Add(d)
	f.mu.Lock()
	for k, fp := range parts {
		if cur, ok := f.parts[k]; ok && cur == fp {
			fp.retryAt = at
		}
	}
	f.mu.Unlock()
}

// apply handles one partition of a fetch response.
func (f *fetcher) apply(p *Partition, rp *kmsg.FetchResponseTopicPartition) error {
	switch err := kerr.ErrorForCode(rp.ErrorCode); {
	case errors.Is(err, kerr.OffsetOutOfRange):
		return p.ResetOutOfRange(rp.LogStartOffset, rp.HighWatermark)
	case err != nil:
		return err
	}
	if rp.DivergingEpoch.Epoch >= 0 {
		_, err := p.TruncateDiverging(rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset)
		return err
	}
	if len(rp.RecordBatches) > 0 {
		if err := p.AppendFromLeader(rp.RecordBatches); err != nil {
			return err
		}
	}
	p.SetFollowerHighWatermark(rp.HighWatermark)
	return nil
}

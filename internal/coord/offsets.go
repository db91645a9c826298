package coord

import (
	"context"
	"fmt"
	"time"

	"github.com/strata-db/strata/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
)

// CommitRequest is an OffsetCommit request. Generation -1 with no member
// id is a "simple" commit (a consumer that assigns partitions itself, or
// an admin tool), allowed only while the group has no members.
//
// In a consumer group (KIP-848) Generation is the member epoch, and
// Version, the OffsetCommit version, must be 9 or more.
type CommitRequest struct {
	Group      GroupKey
	Version    int16
	Generation int32
	MemberID   string
	InstanceID string
	Offsets    []CommitOffset
}

// CommitOffset is one partition's committed position.
type CommitOffset struct {
	Topic       string
	Partition   int32
	Offset      int64
	LeaderEpoch int32
	Metadata    *string
}

// CommitOffsets stores offsets. It returns one error per offset; a
// request-level problem (unknown member, stale generation) is the same
// error for all.
func (c *Coordinator) CommitOffsets(req CommitRequest) []error {
	errs := make([]error, len(req.Offsets))
	fill := func(err error) []error {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	s, g, err := c.lock(req.Group, req.Generation < 0)
	if err != nil {
		return fill(err)
	}
	if g == nil {
		return fill(kerr.UnknownMemberID)
	}
	defer g.mu.Unlock()
	check, err := c.checkCommitter(s, g, &req)
	if err != nil {
		return fill(err)
	}
	now := c.cfg.Now()
	var recs []record.Record
	var kept []int
	values := map[topicPartition]offsetCommit{}
	for i, o := range req.Offsets {
		meta := ""
		if o.Metadata != nil {
			meta = *o.Metadata
		}
		if len(meta) > c.cfg.MaxMetadataBytes {
			errs[i] = fmt.Errorf("%w: %d bytes of metadata, more than offset.metadata.max.bytes %d", kerr.OffsetMetadataTooLarge, len(meta), c.cfg.MaxMetadataBytes)
			continue
		}
		if check != nil {
			if errs[i] = check(o); errs[i] != nil {
				continue
			}
		}
		tp := topicPartition{o.Topic, o.Partition}
		v := offsetCommit{Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: meta, CommitMs: now.UnixMilli()}
		values[tp] = v
		recs = append(recs, record.Record{Key: offsetKey(g.key, tp), Value: mustJSON(v)})
		kept = append(kept, i)
	}
	if len(recs) == 0 {
		return errs
	}
	base, err := c.writeAt(s, recs...)
	if err != nil {
		for _, i := range kept {
			errs[i] = err
		}
		return errs
	}
	for j, i := range kept {
		o := req.Offsets[i]
		tp := topicPartition{o.Topic, o.Partition}
		v := values[tp]
		v.at = base + int64(j)
		g.offsets[tp] = v
	}
	return errs
}

// checkCommitter checks who commits. It returns an error for the whole
// request, or a check per offset (nil when there is none).
func (c *Coordinator) checkCommitter(s *shard, g *lockedGroup, req *CommitRequest) (func(CommitOffset) error, error) {
	if g.cg != nil {
		return c.checkConsumerCommit(g, req)
	}
	if req.Generation < 0 && req.MemberID == "" {
		if len(g.members) > 0 {
			return nil, kerr.IllegalGeneration // a live group's offsets belong to its members
		}
		return nil, nil
	}
	m, err := g.checkMember(req.MemberID, req.InstanceID, req.Generation)
	if err != nil {
		return nil, err
	}
	if g.state == StateCompletingRebalance {
		return nil, kerr.RebalanceInProgress
	}
	c.armSession(s, g, m)
	return nil, nil
}

// FetchedOffset is one committed offset; Offset -1 means none. Err is
// UNSTABLE_OFFSET_COMMIT for a partition with a transactional commit
// pending, when the fetch requires stable offsets.
type FetchedOffset struct {
	Topic       string
	Partition   int32
	Offset      int64
	LeaderEpoch int32
	Metadata    string
	Err         error
}

// FetchMember is the member an OffsetFetch (v9+) names.
type FetchMember struct {
	ID    string
	Epoch int32
}

// FetchOffsets returns the group's committed offsets for the given
// partitions, or all of them when topics is nil. A group that does not
// exist has none, which is not an error.
func (c *Coordinator) FetchOffsets(k GroupKey, topics map[string][]int32) ([]FetchedOffset, error) {
	return c.FetchMemberOffsets(k, nil, topics)
}

// FetchMemberOffsets is FetchOffsets for a member that names itself, which
// a consumer group checks: an unknown member is UNKNOWN_MEMBER_ID, an
// epoch other than the member's STALE_MEMBER_EPOCH. Classic groups do not
// check.
func (c *Coordinator) FetchMemberOffsets(k GroupKey, member *FetchMember, topics map[string][]int32) ([]FetchedOffset, error) {
	return c.FetchStableOffsets(k, member, topics, false)
}

// FetchStableOffsets is FetchMemberOffsets with OffsetFetch's
// require_stable (v7+, KIP-447): a partition with a transactional commit
// pending is answered UNSTABLE_OFFSET_COMMIT, so that the consumer waits
// for the transaction rather than start from the offset before it.
func (c *Coordinator) FetchStableOffsets(k GroupKey, member *FetchMember, topics map[string][]int32, requireStable bool) ([]FetchedOffset, error) {
	_, g, err := c.lock(k, false)
	if err != nil {
		return nil, err
	}
	var out []FetchedOffset
	if g == nil {
		for t, ps := range topics {
			for _, p := range ps {
				out = append(out, FetchedOffset{Topic: t, Partition: p, Offset: -1, LeaderEpoch: -1})
			}
		}
		return out, nil
	}
	defer g.mu.Unlock()
	if g.cg != nil {
		if err := g.cg.checkFetch(member); err != nil {
			return nil, err
		}
	}
	unstable := func(f *FetchedOffset) {
		if requireStable && g.hasPendingTxn(topicPartition{f.Topic, f.Partition}) {
			f.Offset, f.LeaderEpoch, f.Metadata, f.Err = -1, -1, "", kerr.UnstableOffsetCommit
		}
	}
	if topics == nil {
		for tp, v := range g.offsets {
			f := FetchedOffset{Topic: tp.Topic, Partition: tp.Partition, Offset: v.Offset, LeaderEpoch: v.LeaderEpoch, Metadata: v.Metadata}
			unstable(&f)
			out = append(out, f)
		}
		return out, nil
	}
	for t, ps := range topics {
		for _, p := range ps {
			f := FetchedOffset{Topic: t, Partition: p, Offset: -1, LeaderEpoch: -1}
			if v, ok := g.offsets[topicPartition{t, p}]; ok {
				f.Offset, f.LeaderEpoch, f.Metadata = v.Offset, v.LeaderEpoch, v.Metadata
			}
			unstable(&f)
			out = append(out, f)
		}
	}
	return out, nil
}

// RunExpiry expires offsets until ctx ends: once a group has been empty
// for offsets.retention.minutes, its offsets older than that are deleted,
// and then the group itself.
func (c *Coordinator) RunExpiry(ctx context.Context) {
	t := time.NewTicker(c.cfg.RetentionCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.ExpireOffsets()
		}
	}
}

// ExpireOffsets runs one expiry pass.
func (c *Coordinator) ExpireOffsets() {
	c.mu.RLock()
	shards := make([]*shard, 0, len(c.shards))
	for _, s := range c.shards {
		shards = append(shards, s)
	}
	c.mu.RUnlock()
	for _, s := range shards {
		for _, g := range s.snapshot() {
			g.mu.Lock()
			c.expireGroup(s, g)
			g.mu.Unlock()
		}
	}
}

func (c *Coordinator) expireGroup(s *shard, g *lockedGroup) {
	if g.state != StateEmpty || len(g.pendingTxn) > 0 {
		return
	}
	now := c.cfg.Now()
	if now.Sub(g.stateSince) < c.cfg.OffsetsRetention {
		return
	}
	var recs []record.Record
	var gone []topicPartition
	for tp, v := range g.offsets {
		if now.Sub(time.UnixMilli(v.CommitMs)) >= c.cfg.OffsetsRetention {
			recs = append(recs, record.Record{Key: offsetKey(g.key, tp)})
			gone = append(gone, tp)
		}
	}
	dropGroup := len(gone) == len(g.offsets)
	if dropGroup {
		recs = append(recs, g.deletionRecords()...)
	}
	if len(recs) == 0 {
		return
	}
	if err := c.write(s, recs...); err != nil {
		return // retried next pass
	}
	for _, tp := range gone {
		delete(g.offsets, tp)
	}
	c.log.Info("expired offsets", "group", g.key.String(), "partitions", len(gone), "group_deleted", dropGroup)
	if dropGroup {
		c.deleteLocked(s, g)
	}
}

// deleteLocked removes a group whose tombstones are written.
func (c *Coordinator) deleteLocked(s *shard, g *lockedGroup) {
	g.setState(StateDead, c.cfg.Now())
	s.mu.Lock()
	if s.groups[g.key] == g {
		delete(s.groups, g.key)
	}
	s.mu.Unlock()
}

package coord

// Transactional offset commits (TxnOffsetCommit, KIP-98 and KIP-447).
//
// A transactional producer commits a group's offsets as part of its
// transaction: the offsets are written to the group's partition of the
// offsets topic in a transactional batch (the producer's id and epoch,
// base sequence -1, the transactional attribute), and stay pending, per
// producer id, invisible to OffsetFetch, until the transaction
// coordinator writes the transaction's marker (a control batch) to that
// partition. A commit marker makes them the group's committed offsets,
// unless a plain commit of the same partition was written after them (the
// later record wins, as in Kafka); an abort marker drops them. Replay does
// the same from the log, so pending offsets survive a restart and are
// resolved by the marker the transaction coordinator writes once it has
// reloaded too.

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/strata-db/strata/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
)

// attrTransactional is the transactional bit of a batch's attributes.
const attrTransactional = 0x10

// Control record types in the key of a control batch's record (Kafka's
// ControlRecordType): version int16, then type int16.
const (
	controlAbort  = 0
	controlCommit = 1
)

// controlMarker reads a control batch: whether it commits, and whether it
// is a transaction marker at all (other control types are skipped).
func controlMarker(batch []byte) (commit, ok bool, err error) {
	err = record.ForEachStoredRecord(batch, 1<<20, func(r *record.Record) bool {
		if len(r.Key) < 4 {
			return false
		}
		switch binary.BigEndian.Uint16(r.Key[2:4]) {
		case controlAbort:
			ok = true
		case controlCommit:
			commit, ok = true, true
		}
		return false
	})
	return commit, ok, err
}

// applyTxnRecord keeps an offset record of a transactional batch pending
// under its producer. Transactional batches hold only offset commits.
func (st *loadedState) applyTxnRecord(producerID int64, key, value []byte, at int64) error {
	var k recordKey
	if err := json.Unmarshal(key, &k); err != nil {
		return fmt.Errorf("bad key %q: %w", key, err)
	}
	if k.Type != keyTypeOffset || value == nil {
		return fmt.Errorf("transactional batch of producer %d holds a %q record", producerID, k.Type)
	}
	var v offsetCommit
	if err := json.Unmarshal(value, &v); err != nil {
		return fmt.Errorf("bad transactional offset value for %s/%s: %w", k.Tenant, k.Group, err)
	}
	v.at = at
	gk := GroupKey{k.Tenant, k.Group}
	byGroup := st.pending[producerID]
	if byGroup == nil {
		byGroup = map[GroupKey]map[topicPartition]offsetCommit{}
		st.pending[producerID] = byGroup
	}
	if byGroup[gk] == nil {
		byGroup[gk] = map[topicPartition]offsetCommit{}
	}
	byGroup[gk][topicPartition{k.Topic, k.Partition}] = v
	return nil
}

func (st *loadedState) completeTxn(producerID int64, epoch int16, commit bool) {
	if e, ok := st.markerEpochs[producerID]; !ok || epoch > e {
		st.markerEpochs[producerID] = epoch
	}
	byGroup := st.pending[producerID]
	delete(st.pending, producerID)
	if !commit {
		return
	}
	for gk, offs := range byGroup {
		for tp, v := range offs {
			if st.offsets[gk] == nil {
				st.offsets[gk] = map[topicPartition]offsetCommit{}
			}
			if cur, ok := st.offsets[gk][tp]; !ok || cur.at < v.at {
				st.offsets[gk][tp] = v
			}
		}
	}
}

// TxnCommitRequest is a TxnOffsetCommit. Generation, MemberID and
// InstanceID (v3+, KIP-447) are checked when given; Generation is a
// consumer group member's epoch.
type TxnCommitRequest struct {
	Group         GroupKey
	ProducerID    int64
	ProducerEpoch int16
	Generation    int32
	MemberID      string
	InstanceID    string
	Offsets       []CommitOffset
}

// CommitTxnOffsets writes offsets pending under the producer's
// transaction. The caller has checked with the transaction coordinator
// that the group's offsets partition is part of the transaction. It
// returns one error per offset.
func (c *Coordinator) CommitTxnOffsets(req TxnCommitRequest) []error {
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
		return fill(fmt.Errorf("%w: group %s does not exist", kerr.IllegalGeneration, req.Group))
	}
	defer g.mu.Unlock()
	if err := c.checkProducerEpoch(s, req.ProducerID, req.ProducerEpoch); err != nil {
		return fill(err)
	}
	check, err := c.checkTxnCommitter(g, &req)
	if err != nil {
		return fill(err)
	}
	now := c.cfg.Now()
	var recs []record.Record
	var kept []int
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
		v := offsetCommit{Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: meta, CommitMs: now.UnixMilli()}
		recs = append(recs, record.Record{Key: offsetKey(g.key, topicPartition{o.Topic, o.Partition}), Value: mustJSON(v)})
		kept = append(kept, i)
	}
	if len(recs) == 0 {
		return errs
	}
	base, err := c.appendBatch(s, txnBatch(now.UnixMilli(), req.ProducerID, req.ProducerEpoch, recs))
	if err != nil {
		for _, i := range kept {
			errs[i] = err
		}
		return errs
	}
	if g.pendingTxn == nil {
		g.pendingTxn = map[int64]map[topicPartition]offsetCommit{}
	}
	offs := g.pendingTxn[req.ProducerID]
	if offs == nil {
		offs = map[topicPartition]offsetCommit{}
		g.pendingTxn[req.ProducerID] = offs
	}
	for j, i := range kept {
		o := req.Offsets[i]
		v := offsetCommit{Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, CommitMs: now.UnixMilli(), at: base + int64(j)}
		if o.Metadata != nil {
			v.Metadata = *o.Metadata
		}
		offs[topicPartition{o.Topic, o.Partition}] = v
	}
	s.addTxnGroup(req.ProducerID, g.key)
	return errs
}

// checkProducerEpoch refuses a commit from an epoch older than a marker
// already written for the producer: its transaction was aborted under it
// (a timeout fenced it), and offsets written now would wait for a marker
// that never comes. The error is INVALID_PRODUCER_EPOCH, as Kafka's
// partition answers a write of a fenced epoch.
func (c *Coordinator) checkProducerEpoch(s *shard, producerID int64, epoch int16) error {
	s.mu.Lock()
	e, ok := s.markerEpochs[producerID]
	s.mu.Unlock()
	if ok && epoch < e {
		return fmt.Errorf("%w: producer %d epoch %d is older than its transaction marker's epoch %d", kerr.InvalidProducerEpoch, producerID, epoch, e)
	}
	return nil
}

// checkTxnCommitter applies Kafka's checks of a transactional commit's
// member (ClassicGroup/ConsumerGroup.validateOffsetCommit with
// isTransactional): no member, generation and instance id means an old
// client and is allowed, as is no generation while the group is empty;
// otherwise the member must exist and be current. A consumer group's
// STALE_MEMBER_EPOCH is ILLEGAL_GENERATION here.
func (c *Coordinator) checkTxnCommitter(g *lockedGroup, req *TxnCommitRequest) (func(CommitOffset) error, error) {
	anonymous := req.Generation < 0 && req.MemberID == "" && req.InstanceID == ""
	if g.cg != nil {
		if anonymous {
			return nil, nil
		}
		cr := CommitRequest{Group: req.Group, Version: 9, Generation: req.Generation, MemberID: req.MemberID, InstanceID: req.InstanceID}
		check, err := c.checkConsumerCommit(g, &cr)
		if err != nil {
			return nil, staleToIllegal(err)
		}
		if check == nil {
			return nil, nil
		}
		return func(o CommitOffset) error { return staleToIllegal(check(o)) }, nil
	}
	if anonymous || (req.Generation < 0 && g.state == StateEmpty) {
		return nil, nil
	}
	if _, err := g.checkMember(req.MemberID, req.InstanceID, req.Generation); err != nil {
		return nil, err
	}
	return nil, nil
}

func staleToIllegal(err error) error {
	if errors.Is(err, kerr.StaleMemberEpoch) {
		return fmt.Errorf("%w: %w", kerr.IllegalGeneration, err)
	}
	return err
}

// txnBatch is recs as one transactional batch of the producer, with no
// sequence (a coordinator's write, not the producer's own).
func txnBatch(nowMs, producerID int64, epoch int16, recs []record.Record) []byte {
	var body []byte
	for i := range recs {
		body = record.AppendRecord(body, &recs[i], int32(i), 0)
	}
	spec := record.BatchSpec{
		LastOffsetDelta: int32(len(recs) - 1), Attributes: attrTransactional,
		BaseTimestamp: nowMs, MaxTimestamp: nowMs,
		ProducerID: producerID, ProducerEpoch: epoch, BaseSequence: -1,
	}
	if len(body) > compressAbove {
		spec.Attributes |= int16(record.CompressionZstd)
	}
	b, err := record.BuildBatch(spec, int32(len(recs)), body)
	if err != nil {
		panic(fmt.Sprintf("coord: build a transactional batch of our own: %v", err))
	}
	return b
}

// addTxnGroup indexes a group with offsets pending under producerID.
func (s *shard) addTxnGroup(producerID int64, k GroupKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.txnGroups[producerID] == nil {
		s.txnGroups[producerID] = map[GroupKey]struct{}{}
	}
	s.txnGroups[producerID][k] = struct{}{}
}

// CompleteTxn applies a transaction marker written to partition of the
// offsets topic (by the transaction coordinator's marker writer): the
// producer's pending offsets in that partition's groups become committed
// (commit) or are dropped (abort). A partition not loaded here replays the
// marker when it loads.
func (c *Coordinator) CompleteTxn(partition int32, producerID int64, epoch int16, commit bool) {
	c.mu.RLock()
	s := c.shards[partition]
	c.mu.RUnlock()
	if s == nil {
		return
	}
	s.mu.Lock()
	if e, ok := s.markerEpochs[producerID]; !ok || epoch > e {
		s.markerEpochs[producerID] = epoch
	}
	keys := s.txnGroups[producerID]
	delete(s.txnGroups, producerID)
	var groups []*lockedGroup
	for k := range keys {
		if g := s.groups[k]; g != nil {
			groups = append(groups, g)
		}
	}
	s.mu.Unlock()
	for _, g := range groups {
		g.mu.Lock()
		g.completeTxn(producerID, commit)
		g.mu.Unlock()
	}
}

func (g *group) completeTxn(producerID int64, commit bool) {
	offs := g.pendingTxn[producerID]
	delete(g.pendingTxn, producerID)
	if !commit {
		return
	}
	for tp, v := range offs {
		if cur, ok := g.offsets[tp]; !ok || cur.at < v.at {
			g.offsets[tp] = v
		}
	}
}

// hasPendingTxn reports whether a transaction has offsets of tp pending.
func (g *group) hasPendingTxn(tp topicPartition) bool {
	for _, offs := range g.pendingTxn {
		if _, ok := offs[tp]; ok {
			return true
		}
	}
	return false
}

// restorePending attaches replayed pending offsets to their groups,
// creating groups that have nothing else.
func (s *shard) restorePending(pending map[int64]map[GroupKey]map[topicPartition]offsetCommit, now time.Time) {
	for pid, byGroup := range pending {
		for k, offs := range byGroup {
			g := s.groups[k]
			if g == nil {
				g = &lockedGroup{group: restore(k, nil, nil, now)}
				s.groups[k] = g
			}
			if g.pendingTxn == nil {
				g.pendingTxn = map[int64]map[topicPartition]offsetCommit{}
			}
			g.pendingTxn[pid] = offs
			if s.txnGroups[pid] == nil {
				s.txnGroups[pid] = map[GroupKey]struct{}{}
			}
			s.txnGroups[pid][k] = struct{}{}
		}
	}
}

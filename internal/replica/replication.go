package replica

// Replication of one partition, as in Kafka's Partition class.
//
// The metadata image says who leads, at which leader epoch, and which
// replicas are in sync (ISR); applyState brings the partition in line.
//
// As leader, the partition tracks each follower's log end offset (LEO) from
// the offsets it fetches at (FollowerFetch). The high watermark (HW) is the
// smallest LEO over the ISR, including a replica an ISR expansion in flight
// would add (Kafka's "maximal ISR": the HW never counts on a replica the
// controller has not agreed to drop). It never moves back while the
// epoch lasts. A follower that has not caught up with the leader's LEO for
// replica.lag.time.max.ms is dropped from the ISR, and one that has caught
// up with the HW (and the start of the current epoch) is added back, both
// through the controller (AlterPartition); one change is in flight at a
// time and the image's answer clears it.
//
// Each follower's state carries the broker epoch of its fetches (KIP-903's
// replica state, Fetch v15), and an expansion names it for the replica it
// adds: the controller refuses an expansion whose follower has registered
// again since (a new process, which may have lost unflushed data and not
// caught up), so that only fetches of the current process can bring a
// replica into the ISR. A fetch at another epoch than the previous one
// starts the follower's state over.
//
// As follower, the partition appends what the fetcher copies from the
// leader, as it is (offsets and epochs kept), truncates a divergent tail
// the leader points out, and takes the leader's HW, bounded by its own LEO.
//
// Only the leader begins an epoch in the log's epoch cache: a follower
// learns epochs from the batches it copies, so the last epoch it reports
// when fetching really wrote its last batch (KIP-101/279).

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/strata-db/strata/internal/log"
	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
)

// leaderState is what a leader knows of its followers; guarded by
// Partition.mu.
type leaderState struct {
	// epochStart is the log end offset when this node's leader epoch
	// began: a follower rejoins the ISR only once it has reached it.
	epochStart int64
	followers  map[int32]*followerState
	// pendingISR is the ISR of an AlterPartition in flight, nil if none;
	// pendingFrom is the partition epoch it was asked against.
	pendingISR  []int32
	pendingFrom int32
}

// followerState is a follower as its leader sees it (Kafka's Replica).
type followerState struct {
	leo int64 // -1 until it fetched in this epoch
	// lastFetchLeaderLEO is the leader's LEO at the follower's previous
	// fetch, lastFetch that fetch's time: a follower that fetches at that
	// offset has caught up with the leader as of then (Kafka's rule).
	lastFetchLeaderLEO int64
	lastFetch          time.Time
	lastCaughtUp       time.Time
	// brokerEpoch is the broker epoch the follower's fetches carry
	// (KIP-903), -1 until it fetched or when its fetches carry none; an
	// expansion adding it names this epoch.
	brokerEpoch int64
	// refusedEpoch is the broker epoch at which the controller last refused
	// to add the follower (INELIGIBLE_REPLICA), -1 if none: it is not
	// proposed again at that epoch before refusedUntil, so that a leader
	// whose image lags the controller's does not fill the metadata log
	// with refused entries at every fetch. A fetch at a new epoch lifts
	// the hold.
	refusedEpoch int64
	refusedUntil time.Time
}

// refusedExpansionHold is how long a follower whose expansion the
// controller refused as ineligible is not proposed again at the same
// broker epoch: about one long-polled fetch.
const refusedExpansionHold = 500 * time.Millisecond

// newFollowerState is a follower not heard from in this epoch; now is its
// catch-up time (Kafka gives in-sync followers a fresh one at election, so
// that they have replica.lag.time.max.ms to fetch from the new leader).
func newFollowerState(now time.Time) *followerState {
	return &followerState{leo: -1, lastFetchLeaderLEO: -1, lastCaughtUp: now, brokerEpoch: -1, refusedEpoch: -1}
}

// ISRSender sends a leader's ISR change to the controller, asynchronously;
// done must be called with the outcome.
type ISRSender func(p *Partition, change meta.AlterPartition)

// applyState brings the partition's role in line with the image's state
// of it. node is this broker.
func (p *Partition) applyState(node int32, st meta.Partition) {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.state
	p.node, p.state = node, st
	p.state.ISR = slices.Clone(st.ISR)
	p.epoch.Store(st.LeaderEpoch)
	if st.Leader != node {
		if p.leading != nil {
			p.leading = nil
			p.signalLocked()
		}
		if hw := p.log.LogEndOffset(); p.hw.Load() > hw {
			p.hw.Store(hw)
		}
		return
	}
	now := p.now()
	if p.leading == nil || old.LeaderEpoch != st.LeaderEpoch {
		// The epoch begins now, not at the first produce: no checkpoint
		// write on the produce path. If this fails the first append
		// records the epoch instead.
		_ = p.log.BeginEpoch(st.LeaderEpoch)
		ls := &leaderState{epochStart: p.log.LogEndOffset(), followers: map[int32]*followerState{}}
		for _, id := range st.Replicas {
			if id != node {
				ls.followers[id] = newFollowerState(now)
			}
		}
		p.leading = ls
		p.signalLocked()
	}
	if old.PartitionEpoch != st.PartitionEpoch {
		p.leading.pendingISR = nil
		for _, id := range st.Replicas {
			if _, ok := p.leading.followers[id]; !ok && id != node {
				p.leading.followers[id] = newFollowerState(now)
			}
		}
	}
	p.maybeAdvanceHWLocked()
}

// IsLeader reports whether this node leads the partition.
func (p *Partition) IsLeader() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.leading != nil
}

// State returns the partition's replica state as last applied.
func (p *Partition) State() meta.Partition {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.state
	s.ISR = slices.Clone(s.ISR)
	return s
}

// signalLocked wakes everyone waiting for the HW or the role to change.
func (p *Partition) signalLocked() {
	close(p.hwMoved)
	p.hwMoved = make(chan struct{})
}

// maximalISRLocked is the ISR the HW must wait for: the current one and,
// during an expansion, the replica being added.
func (p *Partition) maximalISRLocked() []int32 {
	if p.leading.pendingISR == nil {
		return p.state.ISR
	}
	out := slices.Clone(p.state.ISR)
	for _, id := range p.leading.pendingISR {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// maybeAdvanceHWLocked moves a leader's HW up to the smallest LEO of the
// maximal ISR. Caller holds mu.
func (p *Partition) maybeAdvanceHWLocked() {
	if p.leading == nil {
		return
	}
	hw := p.log.LogEndOffset()
	for _, id := range p.maximalISRLocked() {
		if id == p.node {
			continue
		}
		f := p.leading.followers[id]
		if f == nil || f.leo < 0 {
			return // unknown LEO: the HW waits
		}
		hw = min(hw, f.leo)
	}
	if hw <= p.hw.Load() {
		return
	}
	p.hw.Store(hw)
	p.log.SetRetentionUpperBound(hw)
	p.log.UpdateHighWatermark(hw)
	p.signalLocked()
	p.notify() // consumers read up to the HW
}

// PreferredReadReplica picks, on the leader, the replica a consumer in
// rack should fetch from at offset (KIP-392, Kafka's
// RackAwareReplicaSelector): none (-1) when this node is in that rack or
// does not lead; else the in-sync follower in rack, as alive says, that has
// offset already, the one furthest ahead if several; else none.
func (p *Partition) PreferredReadReplica(rack string, offset int64, rackOf func(id int32) (string, bool)) int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leading == nil {
		return -1
	}
	if r, ok := rackOf(p.node); ok && r == rack {
		return -1
	}
	best, bestLEO := int32(-1), int64(-1)
	for _, id := range p.state.ISR {
		f := p.leading.followers[id]
		if id == p.node || f == nil || f.leo < offset || f.leo <= bestLEO {
			continue
		}
		if r, ok := rackOf(id); ok && r == rack {
			best, bestLEO = id, f.leo
		}
	}
	return best
}

// FollowerFetch describes a follower's fetch of this partition.
type FollowerFetch struct {
	Replica            int32
	Offset             int64
	LastFetchedEpoch   int32 // -1: not given
	CurrentLeaderEpoch int32 // -1: not given
	// BrokerEpoch is the follower's broker epoch (Fetch v15's replica
	// state), checked against the leader's image by the caller; -1: not
	// given (older fetch versions), and then the follower is never
	// proposed for the ISR (Manager.isrEligible).
	BrokerEpoch int64
	// Alloc supplies the read's buffers (log.Log.ReadWith); nil: make.
	Alloc log.Alloc
}

// FollowerRead is the leader's answer to a follower.
type FollowerRead struct {
	Records        []byte
	HighWatermark  int64
	LogStartOffset int64
	LogEndOffset   int64
	// DivergingEpoch >= 0: the follower's log diverges from the leader's
	// after epoch DivergingEpoch, which ends at DivergingEndOffset here; it
	// must truncate before fetching again (KIP-320's fetch-based
	// truncation).
	DivergingEpoch     int32
	DivergingEndOffset int64
}

// ReadForFollower answers a follower's fetch on the leader: it records the
// follower's LEO (which may advance the HW and expand the ISR) and returns
// batches from its fetch offset up to the log end. Errors:
// NOT_LEADER_OR_FOLLOWER, FENCED_LEADER_EPOCH, UNKNOWN_LEADER_EPOCH,
// OFFSET_OUT_OF_RANGE (with the leader's offsets in the result).
func (p *Partition) ReadForFollower(f FollowerFetch, maxBytes int) (FollowerRead, error) {
	out := FollowerRead{DivergingEpoch: -1, DivergingEndOffset: -1}
	if err := p.checkFollowerFetch(&f, &out); err != nil || out.DivergingEpoch >= 0 {
		return out, err
	}
	recs, err := p.log.ReadWith(f.Alloc, f.Offset, maxBytes, p.log.LogEndOffset(), true)
	out.HighWatermark, out.LogStartOffset, out.LogEndOffset = p.hw.Load(), p.log.LogStartOffset(), p.log.LogEndOffset()
	if err != nil {
		return out, readError(err, f.Offset, out.LogStartOffset, out.LogEndOffset)
	}
	out.Records = recs
	return out, nil
}

// checkFollowerFetch validates a follower's fetch, finds divergence, and
// records the follower's progress.
func (p *Partition) checkFollowerFetch(f *FollowerFetch, out *FollowerRead) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	out.HighWatermark, out.LogStartOffset, out.LogEndOffset = p.hw.Load(), p.log.LogStartOffset(), p.log.LogEndOffset()
	if p.leading == nil {
		return fmt.Errorf("%w: node %d does not lead %s", kerr.NotLeaderForPartition, p.node, p.key)
	}
	switch ours := p.epoch.Load(); {
	case f.CurrentLeaderEpoch >= 0 && f.CurrentLeaderEpoch < ours:
		return kerr.FencedLeaderEpoch
	case f.CurrentLeaderEpoch > ours:
		return kerr.UnknownLeaderEpoch
	}
	fs, ok := p.leading.followers[f.Replica]
	if !ok {
		return fmt.Errorf("%w: broker %d is not a replica of %s", kerr.NotLeaderForPartition, f.Replica, p.key)
	}
	if f.BrokerEpoch != fs.brokerEpoch {
		// Another process of the follower (or its first fetch): what its
		// predecessor's fetches showed says nothing of this one's log.
		fs.brokerEpoch, fs.leo, fs.lastFetchLeaderLEO = f.BrokerEpoch, -1, -1
	}
	if f.LastFetchedEpoch >= 0 {
		epoch, end := p.log.EndOffsetForEpoch(f.LastFetchedEpoch)
		if epoch < 0 {
			// An epoch older than anything here, or newer: the follower
			// starts over from the leader's start (ResetOutOfRange).
			return fmt.Errorf("%w: replica %d fetches %s with last epoch %d unknown here", kerr.OffsetOutOfRange, f.Replica, p.key, f.LastFetchedEpoch)
		}
		if epoch < f.LastFetchedEpoch || end < f.Offset {
			out.DivergingEpoch, out.DivergingEndOffset = epoch, end
			return nil
		}
	}
	if f.Offset < out.LogStartOffset || f.Offset > out.LogEndOffset {
		return fmt.Errorf("%w: replica %d fetches %s at %d outside [%d, %d]", kerr.OffsetOutOfRange, f.Replica, p.key, f.Offset, out.LogStartOffset, out.LogEndOffset)
	}
	now := p.now()
	switch {
	case f.Offset >= out.LogEndOffset:
		fs.lastCaughtUp = now
	case fs.lastFetchLeaderLEO >= 0 && f.Offset >= fs.lastFetchLeaderLEO:
		fs.lastCaughtUp = maxTime(fs.lastCaughtUp, fs.lastFetch)
	}
	fs.leo, fs.lastFetchLeaderLEO, fs.lastFetch = f.Offset, out.LogEndOffset, now
	p.maybeAdvanceHWLocked()
	out.HighWatermark = p.hw.Load()
	p.maybeExpandISRLocked(f.Replica, fs)
	return nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// maybeExpandISRLocked asks for a caught-up follower to rejoin the ISR:
// its LEO has reached the HW and the start of the leader's epoch, and it is
// eligible at the broker epoch of its fetches (Kafka's
// Partition.isReplicaIsrEligible, KIP-841 and KIP-903).
func (p *Partition) maybeExpandISRLocked(id int32, fs *followerState) {
	ls := p.leading
	if ls.pendingISR != nil || slices.Contains(p.state.ISR, id) || p.sendISR == nil {
		return
	}
	if p.isrEligible != nil && !p.isrEligible(id, fs.brokerEpoch) {
		return
	}
	if fs.brokerEpoch == fs.refusedEpoch && p.now().Before(fs.refusedUntil) {
		return
	}
	if fs.leo < p.hw.Load() || fs.leo < ls.epochStart {
		return
	}
	p.proposeISRLocked(append(slices.Clone(p.state.ISR), id), []meta.BrokerRef{{ID: id, Epoch: fs.brokerEpoch}})
}

// proposeISRLocked records an ISR change in flight and sends it; added
// names the broker epoch of each replica it adds (KIP-903).
func (p *Partition) proposeISRLocked(isr []int32, added []meta.BrokerRef) {
	ls := p.leading
	ls.pendingISR, ls.pendingFrom = isr, p.state.PartitionEpoch
	change := meta.AlterPartition{
		Topic: p.key.Topic, Partition: p.key.Partition, Leader: p.node,
		LeaderEpoch: p.state.LeaderEpoch, PartitionEpoch: p.state.PartitionEpoch, ISR: isr, Added: added,
	}
	go p.sendISR(p, change)
}

// ISRChangeFailed clears the ISR change in flight after the controller
// refused it (err) or could not be reached; the next fetch or lag check
// tries again. An expansion refused as ineligible (INELIGIBLE_REPLICA: the
// follower's broker is fenced, shutting down or registered again at
// another epoch, as this node's image may not show yet) is not asked
// again at the same broker epoch for refusedExpansionHold.
func (p *Partition) ISRChangeFailed(change meta.AlterPartition, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ls := p.leading
	if ls == nil {
		return
	}
	if ls.pendingISR != nil && ls.pendingFrom == change.PartitionEpoch {
		ls.pendingISR = nil
	}
	if !errors.Is(err, kerr.IneligibleReplica) {
		return
	}
	until := p.now().Add(refusedExpansionHold)
	for _, r := range change.Added {
		if fs := ls.followers[r.ID]; fs != nil && fs.brokerEpoch == r.Epoch {
			fs.refusedEpoch, fs.refusedUntil = r.Epoch, until
		}
	}
}

// shrinkISR drops from the ISR the followers that have not caught up for
// lag, as a leader with no other ISR change in flight.
func (p *Partition) shrinkISR(lag time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ls := p.leading
	if ls == nil || ls.pendingISR != nil || p.sendISR == nil {
		return
	}
	now := p.now()
	isr := make([]int32, 0, len(p.state.ISR))
	for _, id := range p.state.ISR {
		fs := ls.followers[id]
		if id != p.node && fs != nil && now.Sub(fs.lastCaughtUp) > lag {
			continue
		}
		isr = append(isr, id)
	}
	if len(isr) < len(p.state.ISR) {
		p.proposeISRLocked(isr, nil)
	}
}

// CheckMinISR refuses an acks=all write while the ISR is smaller than
// min.insync.replicas (NOT_ENOUGH_REPLICAS).
func (p *Partition) CheckMinISR() error {
	minISR := int(p.Config().MinInsyncReplicas)
	p.mu.Lock()
	n := len(p.state.ISR)
	p.mu.Unlock()
	if n < minISR {
		return fmt.Errorf("%w: %s has %d in-sync replicas, min.insync.replicas is %d", kerr.NotEnoughReplicas, p.key, n, minISR)
	}
	return nil
}

// WaitReplicated waits until the HW passes offset (an acks=all write
// ending before offset is committed) at leader epoch epoch. Errors:
// NOT_LEADER_OR_FOLLOWER when leadership moved, REQUEST_TIMED_OUT when ctx
// ends, NOT_ENOUGH_REPLICAS_AFTER_APPEND when the write is committed by an
// ISR smaller than min.insync.replicas.
func (p *Partition) WaitReplicated(ctx context.Context, offset int64, epoch int32) error {
	for {
		p.mu.Lock()
		leading, cur, isr, ch := p.leading != nil, p.epoch.Load(), len(p.state.ISR), p.hwMoved
		hw := p.hw.Load()
		p.mu.Unlock()
		switch {
		case !leading || cur != epoch:
			return fmt.Errorf("%w: leadership of %s moved while the write was replicated", kerr.NotLeaderForPartition, p.key)
		case hw >= offset && isr < int(p.Config().MinInsyncReplicas):
			return fmt.Errorf("%w: %s has %d in-sync replicas", kerr.NotEnoughReplicasAfterAppend, p.key, isr)
		case hw >= offset:
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: %s: high watermark %d has not reached %d", kerr.RequestTimedOut, p.key, hw, offset)
		}
	}
}

// AppendFromLeader appends batches fetched from the leader as they are.
// The leader's compaction may have merged batches so that the first one
// starts below this log's end: the tail it covers is cut first (same
// records, not yet compacted here).
func (p *Partition) AppendFromLeader(batches []byte) error {
	h, err := record.ParseHeader(batches)
	if err != nil {
		return fmt.Errorf("replica: fetched batch of %s: %w", p.key, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leading != nil {
		return fmt.Errorf("%w: %s is led here", kerr.NotLeaderForPartition, p.key)
	}
	if end := p.log.LogEndOffset(); h.BaseOffset < end {
		if err := p.log.TruncateTo(h.BaseOffset); err != nil {
			return err
		}
	}
	if _, err := p.log.AppendReplicated(batches); err != nil {
		return err
	}
	p.notify()
	return nil
}

// SetFollowerHighWatermark takes the leader's HW, bounded by this log's
// end.
func (p *Partition) SetFollowerHighWatermark(leaderHW int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leading != nil {
		return
	}
	hw := min(leaderHW, p.log.LogEndOffset())
	if hw == p.hw.Load() {
		return
	}
	p.hw.Store(hw)
	p.log.SetRetentionUpperBound(hw)
	p.log.UpdateHighWatermark(hw)
	p.notify() // consumers fetching from this follower (KIP-392) read up to its HW
}

// TruncateDiverging cuts the divergent tail the leader pointed out: the
// leader's epoch ends at endOffset. It returns true when the log now
// agrees with the leader (this log knows that epoch too), false when the
// follower must fetch again with its new last epoch to find the point.
func (p *Partition) TruncateDiverging(epoch int32, endOffset int64) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leading != nil {
		return false, fmt.Errorf("%w: %s is led here", kerr.NotLeaderForPartition, p.key)
	}
	ours, ourEnd := p.log.EndOffsetForEpoch(epoch)
	to := min(endOffset, ourEnd)
	if ours < 0 {
		to = min(endOffset, p.log.LogEndOffset())
	}
	if err := p.log.TruncateTo(to); err != nil {
		return false, err
	}
	if hw := p.log.LogEndOffset(); p.hw.Load() > hw {
		p.hw.Store(hw)
	}
	return ours == epoch, nil
}

// ResetOutOfRange handles OFFSET_OUT_OF_RANGE from the leader: a log
// entirely behind the leader's start restarts there; one ahead of the
// leader's end (possible only after an unclean election) is cut to it;
// any other starts over at the leader's start.
func (p *Partition) ResetOutOfRange(leaderStart, leaderEnd int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.leading != nil {
		return fmt.Errorf("%w: %s is led here", kerr.NotLeaderForPartition, p.key)
	}
	end := p.log.LogEndOffset()
	switch {
	case leaderEnd >= 0 && end > leaderEnd:
		if err := p.log.TruncateTo(leaderEnd); err != nil {
			return err
		}
	default:
		// Behind the leader's start, or with a history the leader does
		// not know: copy everything again.
		if err := p.log.TruncateFullyAndStartAt(max(leaderStart, 0)); err != nil {
			return err
		}
	}
	p.hw.Store(min(p.hw.Load(), p.log.LogEndOffset()))
	return nil
}

// fetchPosition is where a follower fetches next: its LEO and the epoch
// of its last batch.
func (p *Partition) fetchPosition() (offset int64, lastEpoch int32) {
	return p.log.LogEndOffset(), p.log.LatestEpoch()
}

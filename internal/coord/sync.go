package coord

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
)

// SyncRequest is a SyncGroup request; only the leader sends assignments.
type SyncRequest struct {
	Group        GroupKey
	Generation   int32
	MemberID     string
	InstanceID   string
	ProtocolType string // checked when set (SyncGroup v5+)
	Protocol     string // checked when set (SyncGroup v5+)
	Assignments  map[string][]byte
}

// SyncResult is a SyncGroup response.
type SyncResult struct {
	Err          error
	ProtocolType string
	Protocol     string
	Assignment   []byte
}

// checkMember applies the checks every request naming a member shares:
// the member exists, its static instance is not fenced, its generation is
// current.
func (g *group) checkMember(memberID, instanceID string, generation int32) (*member, error) {
	if instanceID != "" {
		if id, ok := g.static[instanceID]; ok && id != memberID {
			return nil, kerr.FencedInstanceID
		}
	}
	m := g.members[memberID]
	if m == nil || g.state == StateEmpty {
		return nil, kerr.UnknownMemberID
	}
	if generation != g.generation {
		return m, kerr.IllegalGeneration
	}
	return m, nil
}

// SyncGroup completes a rebalance: the leader's assignments are stored and
// every member gets its own. Followers wait for the leader.
func (c *Coordinator) SyncGroup(ctx context.Context, req SyncRequest) SyncResult {
	s, g, err := c.lock(req.Group, false)
	if err != nil {
		return SyncResult{Err: err}
	}
	if g == nil {
		return SyncResult{Err: kerr.UnknownMemberID}
	}
	ch, res := c.syncLocked(s, g, &req)
	g.mu.Unlock()
	if ch == nil {
		return res
	}
	return wait(ctx, ch, SyncResult{Err: kerr.CoordinatorNotAvailable})
}

func (c *Coordinator) syncLocked(s *shard, g *lockedGroup, req *SyncRequest) (chan SyncResult, SyncResult) {
	m, err := g.checkMember(req.MemberID, req.InstanceID, req.Generation)
	if err != nil {
		return nil, SyncResult{Err: err}
	}
	if (req.ProtocolType != "" && req.ProtocolType != g.protocolType) || (req.Protocol != "" && req.Protocol != g.protocol) {
		return nil, SyncResult{Err: kerr.InconsistentGroupProtocol}
	}
	c.armSession(s, g, m)
	switch g.state {
	case StatePreparingRebalance:
		return nil, SyncResult{Err: kerr.RebalanceInProgress}
	case StateStable:
		return nil, g.syncResultFor(m)
	}
	// CompletingRebalance.
	if m.syncWait != nil {
		m.syncWait <- SyncResult{Err: kerr.RebalanceInProgress} // superseded
	}
	ch := make(chan SyncResult, 1)
	m.syncWait = ch
	if m.id != g.leader {
		return ch, SyncResult{}
	}
	for id, o := range g.members {
		o.assignment = req.Assignments[id] // a member the leader left out gets nothing
	}
	if err := c.write(s, g.groupRecord()); err != nil {
		for _, o := range g.members {
			o.assignment = nil
		}
		c.prepareRebalance(s, g, "could not store the assignment")
		return ch, SyncResult{}
	}
	g.setState(StateStable, c.cfg.Now())
	for _, o := range g.members {
		if o.syncWait != nil {
			o.syncWait <- g.syncResultFor(o)
			o.syncWait = nil
		}
	}
	return ch, SyncResult{}
}

func (g *group) syncResultFor(m *member) SyncResult {
	return SyncResult{ProtocolType: g.protocolType, Protocol: g.protocol, Assignment: m.assignment}
}

// Heartbeat keeps a member's session alive and tells it when a rebalance
// has started.
func (c *Coordinator) Heartbeat(k GroupKey, memberID, instanceID string, generation int32) error {
	s, g, err := c.lock(k, false)
	if err != nil {
		return err
	}
	if g == nil {
		return kerr.UnknownMemberID
	}
	defer g.mu.Unlock()
	m, err := g.checkMember(memberID, instanceID, generation)
	if err != nil {
		return err
	}
	c.armSession(s, g, m)
	if g.state == StatePreparingRebalance {
		return kerr.RebalanceInProgress
	}
	return nil
}

// LeaveMember names a member leaving: by member id, or by instance id for
// a static member (LeaveGroup v3+).
type LeaveMember struct {
	MemberID   string
	InstanceID string
}

// LeaveGroup removes members; the group rebalances without them. The
// result holds one error per member.
func (c *Coordinator) LeaveGroup(k GroupKey, members []LeaveMember) ([]error, error) {
	s, g, err := c.lock(k, false)
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(members))
	if g == nil {
		for i := range errs {
			errs[i] = kerr.UnknownMemberID
		}
		return errs, nil
	}
	defer g.mu.Unlock()
	for i, lm := range members {
		id := lm.MemberID
		if lm.InstanceID != "" {
			sid, ok := g.static[lm.InstanceID]
			switch {
			case !ok:
				errs[i] = kerr.UnknownMemberID
				continue
			case id != "" && id != sid:
				errs[i] = kerr.FencedInstanceID
				continue
			}
			id = sid
		}
		m := g.members[id]
		if m == nil {
			if _, ok := g.pending[id]; ok {
				delete(g.pending, id)
				c.tryCompleteJoin(s, g)
				continue
			}
			errs[i] = kerr.UnknownMemberID
			continue
		}
		c.log.Debug("member left", "group", g.key.String(), "member", id)
		c.removeMember(s, g, m, "member "+id+" left")
	}
	return errs, nil
}

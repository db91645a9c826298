package coord

import (
	"context"
	"crypto/rand"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// JoinRequest is a JoinGroup request.
type JoinRequest struct {
	Group            GroupKey
	MemberID         string
	InstanceID       string // static membership (KIP-345); "" for dynamic members
	ClientID         string
	ClientHost       string
	SessionTimeout   time.Duration
	RebalanceTimeout time.Duration
	ProtocolType     string
	Protocols        []Protocol
	// RequireKnownMemberID (JoinGroup v4+, KIP-394): a member without an id
	// is given one and asked to join again with it.
	RequireKnownMemberID bool
}

// JoinMember is a member as the leader sees it in its JoinGroup response.
type JoinMember struct {
	MemberID   string
	InstanceID string
	Metadata   []byte
}

// JoinResult is a JoinGroup response.
type JoinResult struct {
	Err          error
	Generation   int32
	ProtocolType string
	Protocol     string
	LeaderID     string
	MemberID     string
	Members      []JoinMember // for the leader only
	// SkipAssignment tells a static leader rejoining a stable group to
	// keep the current assignment (JoinGroup v9).
	SkipAssignment bool
}

// JoinGroup adds or refreshes a member. It returns at once when no
// rebalance is needed; otherwise it waits until the rebalance completes (or
// ctx ends).
func (c *Coordinator) JoinGroup(ctx context.Context, req JoinRequest) JoinResult {
	if req.SessionTimeout < c.cfg.MinSessionTimeout || req.SessionTimeout > c.cfg.MaxSessionTimeout {
		return JoinResult{Err: fmt.Errorf("%w: session timeout %v outside [%v, %v]", kerr.InvalidSessionTimeout,
			req.SessionTimeout, c.cfg.MinSessionTimeout, c.cfg.MaxSessionTimeout), MemberID: req.MemberID}
	}
	if req.RebalanceTimeout <= 0 {
		req.RebalanceTimeout = req.SessionTimeout // JoinGroup v0 has none
	}
	s, g, err := c.lock(req.Group, req.MemberID == "")
	if err != nil {
		return JoinResult{Err: err, MemberID: req.MemberID}
	}
	if g == nil {
		return JoinResult{Err: kerr.UnknownMemberID, MemberID: req.MemberID}
	}
	if g.cg != nil {
		if err := c.leaveConsumerProtocol(s, g); err != nil {
			g.mu.Unlock()
			return JoinResult{Err: err, MemberID: req.MemberID}
		}
	}
	var ch chan JoinResult
	var res JoinResult
	if req.MemberID == "" {
		ch, res = c.joinNewMember(s, g, &req)
	} else {
		ch, res = c.joinKnownMember(s, g, &req)
	}
	g.mu.Unlock()
	if ch == nil {
		return res
	}
	return wait(ctx, ch, JoinResult{Err: kerr.CoordinatorNotAvailable, MemberID: req.MemberID})
}

// joinNewMember handles a join without a member id. It returns a channel
// to wait on, or an immediate result.
func (c *Coordinator) joinNewMember(s *shard, g *lockedGroup, req *JoinRequest) (chan JoinResult, JoinResult) {
	if !g.supports(req.ProtocolType, req.Protocols) {
		return nil, JoinResult{Err: kerr.InconsistentGroupProtocol}
	}
	if req.InstanceID != "" {
		if oldID, ok := g.static[req.InstanceID]; ok {
			return c.replaceStaticMember(s, g, g.members[oldID], req)
		}
	}
	if len(g.members)+len(g.pending) >= c.cfg.MaxGroupSize {
		return nil, JoinResult{Err: kerr.GroupMaxSizeReached}
	}
	id := newMemberID(req.ClientID)
	if req.RequireKnownMemberID && req.InstanceID == "" {
		g.pending[id] = c.cfg.Now().Add(req.SessionTimeout)
		return nil, JoinResult{Err: kerr.MemberIDRequired, MemberID: id}
	}
	m := c.addMember(s, g, id, req)
	c.rebalanceForNewMember(s, g, m)
	return c.awaitJoin(s, g, m)
}

// rebalanceForNewMember starts a rebalance for a member that just joined,
// or, if one is under way, lets the member join it. A member arriving
// during a new group's initial delay extends the delay (up to the
// rebalance deadline), so members starting together share one rebalance.
func (c *Coordinator) rebalanceForNewMember(s *shard, g *lockedGroup, m *member) {
	if g.state != StatePreparingRebalance {
		c.prepareRebalance(s, g, "member "+m.id+" joined")
		return
	}
	now := c.cfg.Now()
	if d := now.Add(m.rebalanceTimeout); d.After(g.joinDeadline) {
		g.joinDeadline = d
	}
	if !g.delayUntil.IsZero() {
		g.delayUntil = minTime(now.Add(c.cfg.InitialRebalanceDelay), g.joinDeadline)
	}
	c.armRebalance(s, g)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// newMemberID is the client id and a random UUID, as Kafka forms them.
func newMemberID(clientID string) string {
	var b [16]byte
	rand.Read(b[:])
	b[6], b[8] = b[6]&0x0f|0x40, b[8]&0x3f|0x80
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", clientID, b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// joinKnownMember handles a join with a member id.
func (c *Coordinator) joinKnownMember(s *shard, g *lockedGroup, req *JoinRequest) (chan JoinResult, JoinResult) {
	fail := func(err error) (chan JoinResult, JoinResult) {
		return nil, JoinResult{Err: err, MemberID: req.MemberID}
	}
	if _, ok := g.pending[req.MemberID]; ok {
		delete(g.pending, req.MemberID)
		if !g.supports(req.ProtocolType, req.Protocols) {
			return fail(kerr.InconsistentGroupProtocol)
		}
		m := c.addMember(s, g, req.MemberID, req)
		c.rebalanceForNewMember(s, g, m)
		return c.awaitJoin(s, g, m)
	}
	m := g.members[req.MemberID]
	switch {
	case req.InstanceID != "" && g.static[req.InstanceID] != req.MemberID:
		return fail(kerr.FencedInstanceID)
	case m == nil || g.state == StateEmpty:
		return fail(kerr.UnknownMemberID)
	case !g.supports(req.ProtocolType, req.Protocols):
		return fail(kerr.InconsistentGroupProtocol)
	}
	changed := !sameProtocols(m.protocols, req.Protocols)
	m.protocols, m.sessionTimeout, m.rebalanceTimeout = req.Protocols, req.SessionTimeout, req.RebalanceTimeout
	m.clientID, m.clientHost = req.ClientID, req.ClientHost
	switch g.state {
	case StatePreparingRebalance:
		return c.awaitJoin(s, g, m)
	case StateCompletingRebalance:
		if !changed {
			// The member missed its JoinGroup response; send it again.
			return nil, g.joinResultFor(m)
		}
	case StateStable:
		if !changed && m.id != g.leader {
			return nil, g.joinResultFor(m)
		}
	}
	c.prepareRebalance(s, g, "member "+m.id+" rejoined with new metadata")
	return c.awaitJoin(s, g, m)
}

// replaceStaticMember gives a static member that rejoined without its
// member id (a restarted client) a new id, fencing the old one. A stable
// group keeps its assignment: no rebalance unless the metadata changed.
func (c *Coordinator) replaceStaticMember(s *shard, g *lockedGroup, old *member, req *JoinRequest) (chan JoinResult, JoinResult) {
	id := newMemberID(req.ClientID)
	if old.joinWait != nil {
		old.joinWait <- JoinResult{Err: kerr.FencedInstanceID}
		old.joinWait = nil
	}
	if old.syncWait != nil {
		old.syncWait <- SyncResult{Err: kerr.FencedInstanceID}
		old.syncWait = nil
	}
	stopTimer(old)
	delete(g.members, old.id)
	changed := !sameProtocols(old.protocols, req.Protocols)
	m := &member{
		id: id, instanceID: req.InstanceID, clientID: req.ClientID, clientHost: req.ClientHost,
		sessionTimeout: req.SessionTimeout, rebalanceTimeout: req.RebalanceTimeout,
		protocols: req.Protocols, assignment: old.assignment, joinSeq: old.joinSeq,
	}
	g.members[id] = m
	g.static[req.InstanceID] = id
	if g.leader == old.id {
		g.leader = id
	}
	c.armSession(s, g, m)
	if g.state == StateStable && !changed {
		if err := c.write(s, g.groupRecord()); err != nil {
			return nil, JoinResult{Err: err}
		}
		res := g.joinResultFor(m)
		res.SkipAssignment = m.id == g.leader
		return nil, res
	}
	if g.state != StatePreparingRebalance {
		c.prepareRebalance(s, g, "static member "+req.InstanceID+" rejoined")
	}
	return c.awaitJoin(s, g, m)
}

func sameProtocols(a, b []Protocol) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || string(a[i].Metadata) != string(b[i].Metadata) {
			return false
		}
	}
	return true
}

func (c *Coordinator) addMember(s *shard, g *lockedGroup, id string, req *JoinRequest) *member {
	g.nextJoinSeq++
	m := &member{
		id: id, instanceID: req.InstanceID, clientID: req.ClientID, clientHost: req.ClientHost,
		sessionTimeout: req.SessionTimeout, rebalanceTimeout: req.RebalanceTimeout,
		protocols: req.Protocols, isNew: true, joinSeq: g.nextJoinSeq,
	}
	if len(g.members) == 0 {
		g.protocolType = req.ProtocolType
	}
	g.members[id] = m
	if req.InstanceID != "" {
		g.static[req.InstanceID] = id
	}
	c.armSession(s, g, m)
	return m
}

// awaitJoin parks the member's join until the rebalance completes.
func (c *Coordinator) awaitJoin(s *shard, g *lockedGroup, m *member) (chan JoinResult, JoinResult) {
	if m.joinWait != nil {
		m.joinWait <- JoinResult{Err: kerr.RebalanceInProgress, MemberID: m.id} // superseded by this join
	}
	ch := make(chan JoinResult, 1)
	m.joinWait = ch
	c.tryCompleteJoin(s, g)
	return ch, JoinResult{}
}

// prepareRebalance moves the group to PreparingRebalance: members must
// rejoin within the rebalance timeout. A new group first waits the initial
// delay so that members starting together land in one rebalance.
func (c *Coordinator) prepareRebalance(s *shard, g *lockedGroup, why string) {
	now := c.cfg.Now()
	if g.state == StateCompletingRebalance {
		for _, m := range g.members {
			if m.syncWait != nil {
				m.syncWait <- SyncResult{Err: kerr.RebalanceInProgress}
				m.syncWait = nil
			}
		}
	}
	wasEmpty := g.state == StateEmpty
	g.setState(StatePreparingRebalance, now)
	g.joinDeadline = now.Add(g.maxRebalanceTimeout())
	g.delayUntil = time.Time{}
	if wasEmpty && c.cfg.InitialRebalanceDelay > 0 {
		g.delayUntil = now.Add(min(c.cfg.InitialRebalanceDelay, g.maxRebalanceTimeout()))
	}
	c.log.Debug("preparing rebalance", "group", g.key.String(), "generation", g.generation, "reason", why)
	c.armRebalance(s, g)
	c.tryCompleteJoin(s, g) // completes at once when no members are left
}

// armRebalance schedules the next check of a rebalance: the end of the
// initial delay or the rebalance deadline, whichever comes first.
func (c *Coordinator) armRebalance(s *shard, g *lockedGroup) {
	g.rebalanceID++
	id := g.rebalanceID
	next := g.joinDeadline
	if !g.delayUntil.IsZero() && g.delayUntil.Before(next) {
		next = g.delayUntil
	}
	if g.rebalanceTimer != nil {
		g.rebalanceTimer.Stop()
	}
	g.rebalanceTimer = time.AfterFunc(max(next.Sub(c.cfg.Now()), 0), func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if id != g.rebalanceID || g.state != StatePreparingRebalance {
			return
		}
		now := c.cfg.Now()
		if !g.delayUntil.IsZero() && !now.Before(g.delayUntil) {
			g.delayUntil = time.Time{}
		}
		if !now.Before(g.joinDeadline) {
			c.completeJoin(s, g)
			return
		}
		c.tryCompleteJoin(s, g)
		if g.state == StatePreparingRebalance {
			c.armRebalance(s, g)
		}
	})
}

// tryCompleteJoin completes the rebalance once every member has rejoined
// and the initial delay is over.
func (c *Coordinator) tryCompleteJoin(s *shard, g *lockedGroup) {
	if g.state != StatePreparingRebalance || !g.delayUntil.IsZero() {
		return
	}
	now := c.cfg.Now()
	for id, until := range g.pending {
		if now.After(until) {
			delete(g.pending, id)
		}
	}
	if g.allJoined() {
		c.completeJoin(s, g)
	}
}

// completeJoin ends the join phase: members that did not rejoin are
// dropped, the generation advances, a protocol and a leader are chosen and
// every waiting member gets its JoinGroup response.
func (c *Coordinator) completeJoin(s *shard, g *lockedGroup) {
	now := c.cfg.Now()
	if g.rebalanceTimer != nil {
		g.rebalanceTimer.Stop()
	}
	g.rebalanceID++
	for _, m := range g.members {
		if m.joinWait == nil {
			c.log.Info("member did not rejoin in time", "group", g.key.String(), "member", m.id)
			stopTimer(m)
			delete(g.members, m.id)
			if m.instanceID != "" {
				delete(g.static, m.instanceID)
			}
		}
	}
	g.pending = map[string]time.Time{}
	g.generation++
	if len(g.members) == 0 {
		g.protocol, g.leader = "", ""
		g.setState(StateEmpty, now)
		if err := c.write(s, g.groupRecord()); err != nil {
			c.log.Error("cannot record empty group", "group", g.key.String(), "err", err)
		}
		return
	}
	if _, ok := g.members[g.leader]; !ok {
		g.leader = g.firstMember()
	}
	g.protocol = g.selectProtocol()
	g.setState(StateCompletingRebalance, now)
	for _, m := range g.members {
		res := g.joinResultFor(m)
		m.joinWait <- res
		m.joinWait = nil
		m.isNew = false
		c.armSession(s, g, m)
	}
	c.log.Debug("rebalance joined", "group", g.key.String(), "generation", g.generation, "members", len(g.members), "protocol", g.protocol)
}

func (g *group) firstMember() string {
	best, seq := "", int64(-1)
	for id, m := range g.members {
		if seq < 0 || m.joinSeq < seq {
			best, seq = id, m.joinSeq
		}
	}
	return best
}

// joinResultFor is the JoinGroup response of the current generation for
// one member; the leader gets every member's metadata.
func (g *group) joinResultFor(m *member) JoinResult {
	res := JoinResult{
		Generation: g.generation, ProtocolType: g.protocolType, Protocol: g.protocol,
		LeaderID: g.leader, MemberID: m.id,
	}
	if m.id == g.leader {
		for _, o := range g.members {
			res.Members = append(res.Members, JoinMember{MemberID: o.id, InstanceID: o.instanceID, Metadata: o.metadataFor(g.protocol)})
		}
		sort.Slice(res.Members, func(i, j int) bool {
			return g.members[res.Members[i].MemberID].joinSeq < g.members[res.Members[j].MemberID].joinSeq
		})
	}
	return res
}

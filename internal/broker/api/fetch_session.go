package api

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/replica"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch sessions (KIP-227) let a consumer send only what changed since its
// last fetch, and let the broker answer with only the partitions that have
// news. A session remembers, per partition, the fetch position the client
// asked for and the watermarks last sent.
//
// Session epochs: -1 = full fetch without a session (closing one if an id
// is given), 0 = full fetch that opens a new session, n > 0 = incremental
// fetch n of a session; the broker expects the epochs in order.
//
// A session serves one fetch at a time (busy): that fetch works on the
// session's own partition entries, without copies, and caches in them the
// resolved partition, so a consumer of a thousand partitions costs no map
// lookups per fetch. The session's waiter stays registered on its
// partitions for the session's life, so long polls register nothing.

const (
	sessionEpochFinal   = -1
	sessionEpochInitial = 0
	// sessionMinIdle protects a session from eviction by newcomers that are
	// not bigger, for this long after its last use (as in Kafka).
	sessionMinIdle = 2 * time.Minute
)

// partKey names a partition in a session: by topic id from Fetch v13, by
// name before.
type partKey struct {
	id        meta.TopicID
	name      string
	partition int32
}

// fetchPart is one partition of a fetch: what to read and, for sessions,
// what was last sent. Fields below the request's are owned by the fetch in
// progress.
type fetchPart struct {
	key                partKey
	offset             int64
	maxBytes           int32
	currentLeaderEpoch int32
	// Last values sent to the client, -1 before the first response.
	sentHW, sentLSO, sentStart int64

	// part caches the resolved partition while the metadata image is at
	// resolvedAt.
	part       *replica.Partition
	resolvedAt uint64
	leader     bool // this node led part at resolvedAt
	// watching is the partition the session's waiter is registered on.
	watching *replica.Partition
}

type fetchSession struct {
	id       int32
	tenant   meta.TenantID
	epoch    int32 // the epoch the next incremental fetch must carry
	parts    []*fetchPart
	index    map[partKey]*fetchPart
	lastUsed time.Time
	busy     bool
	waiter   *replica.Waiter
}

type fetchSessions struct {
	mu    sync.Mutex
	slots int
	now   func() time.Time
	byID  map[int32]*fetchSession
}

func newFetchSessions(slots int, now func() time.Time) *fetchSessions {
	return &fetchSessions{slots: slots, now: now, byID: map[int32]*fetchSession{}}
}

// fetchPlan is the partitions one request reads, in response order. With a
// session, parts are the session's own entries.
type fetchPlan struct {
	parts       []*fetchPart
	session     *fetchSession // nil without a session
	incremental bool
}

func (p *fetchPlan) sessionID() int32 {
	if p.session == nil {
		return 0
	}
	return p.session.id
}

// begin applies a fetch request to the session cache and returns what to
// read, or a top-level error code.
func (s *fetchSessions) begin(tenant meta.TenantID, req *kmsg.FetchRequest, version int16) (fetchPlan, int16) {
	reqParts := requestParts(req, version)
	if version < 7 {
		return fetchPlan{parts: reqParts}, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch req.SessionEpoch {
	case sessionEpochFinal:
		s.remove(req.SessionID, tenant)
		return fetchPlan{parts: reqParts}, 0
	case sessionEpochInitial:
		s.remove(req.SessionID, tenant)
		sess := s.create(tenant, reqParts)
		if sess == nil {
			return fetchPlan{parts: reqParts}, 0
		}
		sess.busy = true
		return fetchPlan{parts: sess.parts, session: sess}, 0
	}
	sess, ok := s.byID[req.SessionID]
	if !ok || sess.tenant != tenant {
		return fetchPlan{}, kerr.FetchSessionIDNotFound.Code
	}
	if req.SessionEpoch != sess.epoch || sess.busy {
		return fetchPlan{}, kerr.InvalidFetchSessionEpoch.Code
	}
	sess.epoch++
	sess.lastUsed = s.now()
	sess.busy = true
	sess.update(reqParts, forgotten(req, version))
	return fetchPlan{parts: sess.parts, session: sess, incremental: true}, 0
}

// finish ends a session's fetch and moves partitions that returned data to
// the back, so that one busy partition cannot starve the others.
func (s *fetchSessions) finish(plan *fetchPlan, hadData []bool) {
	sess := plan.session
	if sess == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess.busy = false
	if s.byID[sess.id] != sess {
		sess.unwatchAll() // removed while the fetch ran
		return
	}
	moved := 0
	for _, d := range hadData {
		if d {
			moved++
		}
	}
	if moved == 0 || moved == len(sess.parts) {
		return
	}
	out := make([]*fetchPart, 0, len(sess.parts))
	for i, fp := range sess.parts {
		if !hadData[i] {
			out = append(out, fp)
		}
	}
	for i, fp := range sess.parts {
		if hadData[i] {
			out = append(out, fp)
		}
	}
	sess.parts = out
}

// drop removes a session whose fetch has finished.
func (s *fetchSessions) drop(sess *fetchSession) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.remove(sess.id, sess.tenant)
}

func (s *fetchSessions) remove(id int32, tenant meta.TenantID) {
	if sess, ok := s.byID[id]; ok && sess.tenant == tenant {
		delete(s.byID, id)
		if !sess.busy {
			sess.unwatchAll()
		}
	}
}

// create opens a session, evicting the least recently used idle one if the
// cache is full and that one is idle long enough or smaller. It returns nil
// when there is no room; the fetch then proceeds without a session.
func (s *fetchSessions) create(tenant meta.TenantID, parts []*fetchPart) *fetchSession {
	now := s.now()
	if len(s.byID) >= s.slots {
		var lru *fetchSession
		for _, sess := range s.byID {
			if !sess.busy && (lru == nil || sess.lastUsed.Before(lru.lastUsed)) {
				lru = sess
			}
		}
		if lru == nil || (now.Sub(lru.lastUsed) < sessionMinIdle && len(lru.parts) >= len(parts)) {
			return nil
		}
		delete(s.byID, lru.id)
		lru.unwatchAll()
	}
	sess := &fetchSession{tenant: tenant, epoch: 1, index: map[partKey]*fetchPart{}, lastUsed: now, waiter: replica.NewWaiter()}
	for {
		sess.id = rand.Int32N(1<<31-1) + 1
		if _, taken := s.byID[sess.id]; !taken {
			break
		}
	}
	sess.update(parts, nil)
	s.byID[sess.id] = sess
	return sess
}

// update adds or changes the request's partitions and drops forgotten ones.
func (sess *fetchSession) update(parts []*fetchPart, forget []partKey) {
	for _, p := range parts {
		if fp, ok := sess.index[p.key]; ok {
			fp.offset, fp.maxBytes, fp.currentLeaderEpoch = p.offset, p.maxBytes, p.currentLeaderEpoch
			continue
		}
		sess.index[p.key] = p
		sess.parts = append(sess.parts, p)
	}
	if len(forget) == 0 {
		return
	}
	for _, k := range forget {
		if fp, ok := sess.index[k]; ok {
			if fp.watching != nil {
				fp.watching.Unwatch(sess.waiter)
			}
			delete(sess.index, k)
		}
	}
	kept := sess.parts[:0]
	for _, fp := range sess.parts {
		if _, ok := sess.index[fp.key]; ok {
			kept = append(kept, fp)
		}
	}
	sess.parts = kept
}

// unwatchAll removes the session's waiter from its partitions.
func (sess *fetchSession) unwatchAll() {
	for _, fp := range sess.parts {
		if fp.watching != nil {
			fp.watching.Unwatch(sess.waiter)
			fp.watching = nil
		}
	}
}

func requestParts(req *kmsg.FetchRequest, version int16) []*fetchPart {
	var out []*fetchPart
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			k := partKey{partition: rp.Partition}
			if version >= 13 {
				k.id = meta.TopicID(rt.TopicID)
			} else {
				k.name = rt.Topic
			}
			out = append(out, &fetchPart{
				key: k, offset: rp.FetchOffset, maxBytes: rp.PartitionMaxBytes,
				currentLeaderEpoch: rp.CurrentLeaderEpoch,
				sentHW:             -1, sentLSO: -1, sentStart: -1,
			})
		}
	}
	return out
}

func forgotten(req *kmsg.FetchRequest, version int16) []partKey {
	var out []partKey
	for _, ft := range req.ForgottenTopics {
		for _, p := range ft.Partitions {
			k := partKey{partition: p}
			if version >= 13 {
				k.id = meta.TopicID(ft.TopicID)
			} else {
				k.name = ft.Topic
			}
			out = append(out, k)
		}
	}
	return out
}

package compat

// The group scenarios (groups/consume, groups/commit and
// admin/describe-groups of SCENARIOS.md), shared by every client. A client
// fills a groupClient and calls runGroupScenarios; the driver here produces
// the records (with kgo), starts, stops and kills the members, waits for the
// group to settle and checks what the members reported against what was
// produced, what kadm shows of the group, and the committed offsets.
//
// How to plug a client in
//
//   - Every client column calls runGroupScenarios once (after runScenarios,
//     on the same node): it registers the three cells, or n/a for those in
//     groupClient.missing. runScenarios no longer registers them.
//   - Write groupClient.start: it starts ONE member of spec.Group consuming
//     spec.Topic and returns a groupMember. A member is a separate process,
//     so that Kill can SIGKILL it: startProcMember (groups_member_test.go)
//     runs any command that speaks the line protocol below; startGoMember
//     re-executes the test binary as a child running a Go client's
//     goMemberFunc. Use spec.ClientID as the client's client.id (describe
//     results are matched to members by it) and spec.SessionTimeoutMs and
//     spec.RebalanceTimeoutMs as the client's session and rebalance (max
//     poll interval) timeouts. Start from the earliest offset when the group
//     has no committed offset (auto.offset.reset=earliest).
//   - With spec.Commit set (groups/commit), the member commits after
//     processing: it reports a record, then commits it, and reports each
//     successful commit (never a failed one). On a clean stop it commits
//     what it processed before it leaves. Without spec.Commit
//     (groups/consume, admin/describe-groups) it keeps the client's default
//     offset handling (usually auto-commit) and need not report commits.
//   - A client whose members cannot report commits (kcat) sets
//     watchCommits: the driver then polls the group's committed offsets with
//     kadm and records them as commits of member "kadm", with a slack for
//     the polling delay.
//   - describe and list are the client's own DescribeGroups and ListGroups
//     (admin/describe-groups); leave them nil and say why in missing if the
//     client has none.
//   - A client that drops a record it polled when it is told to stop sets
//     quietStop: the driver then pauses the producer and waits for the
//     members to catch up before each clean stop.
//   - Keep the default offset handling safe for a clean stop: a member that
//     leaves must not have committed (or auto-committed) a record it did
//     not report. librdkafka stores an offset when its poll returns the
//     message and confluent-kafka-go's Close polls and drops messages, so
//     confluent-kafka-go members store offsets after processing
//     (enable.auto.offset.store=false); see also kcat's and kafka-go's
//     notes in their _groups_test.go files.
//
// The line protocol of a member process: each line of its stdout that
// starts with '{' is one JSON event; other lines are kept for error
// messages (and logged with STRATA_TEST_LOG=debug); stderr likewise. A
// member writes each line whole and unbuffered (Python print(...,
// flush=True); Node's process.stdout.write is synchronous for pipes on
// Linux; Go's os.Stdout is unbuffered): a line in the pipe survives SIGKILL.
//
//	{"ev":"record","p":3,"o":17,"k":"g0000042"}  processed the record at offset 17
//	                                               of partition 3 (k, its key, optional)
//	{"ev":"commit","p":3,"o":18}                  a commit of offset 18 (the next
//	                                               offset to read) of partition 3 succeeded
//	{"ev":"assigned","ps":[0,1,2]}                partitions assigned (optional, logged)
//	{"ev":"revoked","ps":[0,1,2]}                 partitions revoked or lost (optional, logged)
//	{"ev":"log","msg":"..."}                      logged
//	{"ev":"error","msg":"..."}                    the member failed: fails the cell
//
// Stop sends SIGTERM: the member stops consuming, commits what it processed
// (with spec.Commit), leaves the group (closes its consumer) and exits 0
// within 30 s. Kill sends SIGKILL.
//
// What is checked (see runGroupConsume and runGroupCommit): every record
// produced is processed at least once; the group ends Stable with the
// surviving members owning all 12 partitions, each once (and with three
// members, each owns some); with commits, no
// record is processed after a commit past it was reported, a record first
// processed by a member that was not killed is never processed again, the
// committed offsets end at the end offsets (and so do the highest commits
// reported), and a member started afterwards reads only the records
// produced after it started. admin/describe-groups compares the client's
// describe and list with kadm's, Stable with two members, then Empty.

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The group scenarios.
const (
	scDescribeGroups = "admin/describe-groups"
	scGroupConsume   = "groups/consume"
	scGroupCommit    = "groups/commit"
)

var groupScenarios = []string{scDescribeGroups, scGroupConsume, scGroupCommit}

// Timeouts of the group scenarios. Killed members must expire quickly: the
// broker's minimum session timeout is 6 s.
const (
	groupSessionTimeout   = 6 * time.Second
	groupRebalanceTimeout = 15 * time.Second
	// groupSettle bounds each wait for the group or the members to catch
	// up; it covers a killed member's session expiry and a rebalance.
	groupSettle = 40 * time.Second
	// watchSlack is how long after the kadm watcher saw a commit a record
	// below it may still be reported (the member reported it before the
	// commit, but its line arrived after the watcher's poll).
	watchSlack = time.Second
)

// memberSpec says what one group member does. It is JSON so that child
// processes get it whole.
type memberSpec struct {
	Name     string `json:"name"`     // "A", "B", ...: unique in the cell, used in messages
	Group    string `json:"group"`    // group id
	Topic    string `json:"topic"`    // the one topic it subscribes to
	ClientID string `json:"clientId"` // the client's client.id
	// Commit: commit after processing and report each commit (groups/commit);
	// otherwise the client's default offset handling.
	Commit             bool `json:"commit"`
	SessionTimeoutMs   int  `json:"sessionTimeoutMs"`
	RebalanceTimeoutMs int  `json:"rebalanceTimeoutMs"`
}

// groupMember is one running member.
type groupMember interface {
	// Stop leaves cleanly (commit, leave group, exit) and waits for it; it
	// fails the test if the member failed or did not exit in time. All the
	// member's events are in the log when Stop returns.
	Stop(t *testing.T)
	// Kill ends the member abruptly: no commit, no leave. All the events it
	// wrote before are in the log when Kill returns.
	Kill(t *testing.T)
}

// describedGroup is a client's view of a group (DescribeGroups), with
// Kafka's names: State "Stable", "Empty", ...; ProtocolType "consumer";
// Protocol the assignor ("range", ...). ProtocolType and Protocol are ""
// when the client does not show them.
type describedGroup struct {
	State, ProtocolType, Protocol string
	Members                       []describedMember
}

// describedMember is one member of a describedGroup. Assigned is nil when
// the client does not decode assignments.
type describedMember struct {
	MemberID, ClientID, ClientHost string
	Assigned                       []int32 // partitions of the scenario's topic
}

// groupClient is what a client offers for the group scenarios.
type groupClient struct {
	name string
	// start starts one member and returns without waiting for it to join.
	start func(t *testing.T, addr string, spec memberSpec, log *groupLog) groupMember
	// watchCommits: members do not report commits; the driver watches the
	// committed offsets with kadm instead.
	watchCommits bool
	// describe is the client's DescribeGroups of one group; topic is the
	// topic whose assignments to return.
	describe func(t *testing.T, addr, group, topic string) describedGroup
	// list is the client's ListGroups: group id to state ("" if the client
	// does not show states).
	list func(t *testing.T, addr string) map[string]string
	// quietStop: the client drops a record it polled when told to stop
	// (kcat), so the driver pauses the producer and lets the members
	// catch up before a clean stop.
	quietStop bool
	// missing says why the client cannot do a group scenario.
	missing map[string]string
}

// runGroupScenarios registers the group cells of a client.
func runGroupScenarios(t *testing.T, addr string, gc groupClient) {
	for _, s := range []struct {
		name string
		can  bool
		run  func(t *testing.T, addr string, gc groupClient)
	}{
		{scGroupConsume, gc.start != nil, runGroupConsume},
		{scGroupCommit, gc.start != nil, runGroupCommit},
		{scDescribeGroups, gc.start != nil && gc.describe != nil && gc.list != nil, runDescribeGroups},
	} {
		why, isMissing := gc.missing[s.name]
		switch {
		case isMissing:
			unsupported(gc.name, s.name, why)
		case !s.can:
			t.Fatalf("%s: %s: the client offers no API for it and no reason why", gc.name, s.name)
		default:
			cell(t, gc.name, s.name, func(t *testing.T) { s.run(t, addr, gc) })
		}
	}
}

// groupCell is the common state of one group scenario run.
type groupCell struct {
	t                  *testing.T
	addr, topic, group string
	gc                 groupClient
	log                *groupLog
	prod               *groupProducer
	commit             bool
	members            map[string]groupMember
	started            time.Time
}

func newGroupCell(t *testing.T, addr string, gc groupClient, scenario string, commit bool) *groupCell {
	name := gc.name + "-" + strings.ReplaceAll(scenario, "/", "-")
	createTopic(t, addr, name)
	c := &groupCell{
		t: t, addr: addr, topic: name, group: name + "-group", gc: gc, commit: commit,
		log: newGroupLog(t), members: map[string]groupMember{}, started: time.Now(),
	}
	c.prod = newGroupProducer(t, addr, name)
	if gc.watchCommits && commit {
		watchCommits(t, addr, c.group, c.topic, c.log)
	}
	return c
}

func (c *groupCell) spec(name string) memberSpec {
	return memberSpec{
		Name: name, Group: c.group, Topic: c.topic, ClientID: c.clientID(name), Commit: c.commit,
		SessionTimeoutMs:   int(groupSessionTimeout / time.Millisecond),
		RebalanceTimeoutMs: int(groupRebalanceTimeout / time.Millisecond),
	}
}

func (c *groupCell) clientID(name string) string { return "strata-compat-" + c.gc.name + "-" + name }

func (c *groupCell) start(names ...string) {
	for _, n := range names {
		c.members[n] = c.gc.start(c.t, c.addr, c.spec(n), c.log)
	}
}

func (c *groupCell) stop(name string) {
	if c.gc.quietStop {
		c.prod.pause()
		defer c.prod.resume()
		waitProcessed(c.t, c.log, c.prod)
	}
	c.t.Logf("%v: stopping member %s", c.since(), name)
	c.members[name].Stop(c.t)
	delete(c.members, name)
}

func (c *groupCell) kill(name string) {
	c.t.Logf("%v: killing member %s", c.since(), name)
	c.log.markKilled(name)
	c.members[name].Kill(c.t)
	delete(c.members, name)
}

func (c *groupCell) since() time.Duration { return time.Since(c.started).Round(time.Millisecond) }

// settle waits until the group is Stable with exactly the named members
// owning all partitions, and every record produced so far was processed.
func (c *groupCell) settle(names ...string) kadm.DescribedGroup {
	c.t.Helper()
	d := waitStable(c.t, c.addr, c.group, c.topic, c.clientIDs(names))
	waitProcessed(c.t, c.log, c.prod)
	c.t.Logf("%v: settled: %s", c.since(), ownership(d, c.topic))
	return d
}

func (c *groupCell) clientIDs(names []string) []string {
	ids := make([]string, len(names))
	for i, n := range names {
		ids[i] = c.clientID(n)
	}
	return ids
}

// runGroupConsume: three members share the partitions; A leaves cleanly
// and B is killed while records keep coming; C ends up owning everything
// and every record was processed.
func runGroupConsume(t *testing.T, addr string, gc groupClient) {
	runGroupMembers(newGroupCell(t, addr, gc, scGroupConsume, false))
}

// runGroupMembers is the part of groups/consume and groups/commit that
// starts the three members, stops A, kills B and settles with C.
func runGroupMembers(c *groupCell) {
	t := c.t
	// Records come only once all three members own partitions: produced
	// earlier, the first members could process them all before the third
	// joined.
	c.start("A", "B", "C")
	c.settle("A", "B", "C")
	c.prod.produce(3000)
	c.settle("A", "B", "C")
	for _, n := range []string{"A", "B", "C"} {
		if c.log.processedBy(n) == 0 {
			t.Fatalf("member %s processed nothing while it owned partitions", n)
		}
	}
	stopTrickle := c.prod.trickle()
	time.Sleep(time.Second) // the members process the trickle
	c.stop("A")
	c.settle("B", "C")
	time.Sleep(500 * time.Millisecond)
	c.kill("B")
	stopTrickle()
	c.prod.produce(1000)
	d := c.settle("C")
	if len(d.Members) != 1 {
		t.Fatalf("group %s has %d members after the leave and the kill, want 1", c.group, len(d.Members))
	}
	checkProcessed(t, c.log, c.prod.snapshot())
	t.Logf("%v: %s", c.since(), c.log.summary())
}

// runGroupCommit: groups/consume with commits after processing, then the
// checks of commits, then a new member that must read only new records.
func runGroupCommit(t *testing.T, addr string, gc groupClient) {
	c := newGroupCell(t, addr, gc, scGroupCommit, true)
	runGroupMembers(c)
	waitCommitted(t, addr, c.group, c.topic, c.log)
	checkRedelivery(t, c.log)
	c.stop("C")
	waitCommitted(t, addr, c.group, c.topic, c.log)

	before := c.prod.snapshot()
	c.start("D")
	waitStable(t, addr, c.group, c.topic, c.clientIDs([]string{"D"}))
	c.prod.produce(500)
	waitProcessed(t, c.log, c.prod)
	c.stop("D")
	all := c.prod.snapshot()
	for p, evs := range c.log.byPos("D") {
		if _, old := before[p]; old {
			t.Errorf("the new member D processed %v (%d times), produced before it started", p, len(evs))
		}
	}
	waitCommitted(t, addr, c.group, c.topic, c.log)
	checkRedelivery(t, c.log)
	checkProcessed(t, c.log, all)
	if !gc.watchCommits {
		checkReportedCommits(t, c.log, endOffsets(t, addr, c.topic))
	}
	t.Logf("%v: %s", c.since(), c.log.summary())
}

// checkReportedCommits checks that the members' reports of commits agree
// with the end: on every partition with records, the highest commit
// reported is the end offset (which kadm showed committed), so the commit
// rules of checkRedelivery had the commits to work with.
func checkReportedCommits(t *testing.T, log *groupLog, ends map[int32]int64) {
	t.Helper()
	evs, _ := log.snapshot()
	reported := map[int32]int64{}
	for _, e := range evs {
		if e.Kind == "commit" && e.Offset > reported[e.Partition] {
			reported[e.Partition] = e.Offset
		}
	}
	for _, p := range sortedPartitions(ends) {
		if ends[p] > 0 && reported[p] != ends[p] {
			t.Errorf("partition %d: highest commit reported %d, committed (kadm) and end offset %d",
				p, reported[p], ends[p])
		}
	}
}

// runDescribeGroups: two members consume; the client's describe and list
// show the group Stable with them and their assignments, as kadm does; once
// they leave, Empty with no members.
func runDescribeGroups(t *testing.T, addr string, gc groupClient) {
	c := newGroupCell(t, addr, gc, scDescribeGroups, false)
	c.prod.produce(200)
	c.start("A", "B")
	ref := c.settle("A", "B")
	got := gc.describe(t, addr, c.group, c.topic)
	t.Logf("%s describes %s: %+v", gc.name, c.group, got)
	compareDescribed(t, gc.name, c.topic, ref, got)
	listed := gc.list(t, addr)
	if st, ok := listed[c.group]; !ok {
		t.Errorf("%s lists groups %v, without %s", gc.name, sortedKeys(listed), c.group)
	} else if st != "" && st != "Stable" {
		t.Errorf("%s lists %s as %s, want Stable", gc.name, c.group, st)
	}
	c.stop("A")
	c.stop("B")
	waitFor(t, "the group to be Empty", groupSettle, func() (bool, string) {
		d := kadmDescribe(t, addr, c.group)
		return d.State == "Empty", "kadm: " + d.State
	})
	got = gc.describe(t, addr, c.group, c.topic)
	if got.State != "Empty" || len(got.Members) != 0 {
		t.Errorf("%s describes %s after both members left: %+v, want Empty without members", gc.name, c.group, got)
	}
	if st := gc.list(t, addr)[c.group]; st != "" && st != "Empty" {
		t.Errorf("%s lists %s as %s after both members left, want Empty", gc.name, c.group, st)
	}
}

// compareDescribed checks a client's description against kadm's.
func compareDescribed(t *testing.T, client, topic string, ref kadm.DescribedGroup, got describedGroup) {
	t.Helper()
	if got.State != ref.State || got.ProtocolType != "" && got.ProtocolType != ref.ProtocolType ||
		got.Protocol != "" && got.Protocol != ref.Protocol {
		t.Errorf("%s: state %q, protocol type %q, protocol %q; kadm: %q, %q, %q", client,
			got.State, got.ProtocolType, got.Protocol, ref.State, ref.ProtocolType, ref.Protocol)
	}
	want := map[string]describedMember{}
	for _, m := range ref.Members {
		want[m.MemberID] = describedMember{MemberID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost,
			Assigned: assignedOf(m, topic)}
	}
	if len(got.Members) != len(want) {
		t.Errorf("%s: %d members, kadm %d", client, len(got.Members), len(want))
	}
	for _, m := range got.Members {
		w, ok := want[m.MemberID]
		switch {
		case !ok:
			t.Errorf("%s: member %q unknown to kadm", client, m.MemberID)
		case m.ClientID != w.ClientID || m.ClientHost != "" && m.ClientHost != w.ClientHost:
			t.Errorf("%s: member %q: client id %q host %q; kadm %q %q", client, m.MemberID,
				m.ClientID, m.ClientHost, w.ClientID, w.ClientHost)
		case m.Assigned != nil && !slices.Equal(sortedInt32s(m.Assigned), w.Assigned):
			t.Errorf("%s: member %q assigned %v; kadm %v", client, m.MemberID, m.Assigned, w.Assigned)
		}
	}
}

// assignedOf is a member's sorted partitions of topic, as kadm decoded them.
func assignedOf(m kadm.DescribedGroupMember, topic string) []int32 {
	a, ok := m.Assigned.AsConsumer()
	if !ok {
		return nil
	}
	var ps []int32
	for _, tp := range a.Topics {
		if tp.Topic == topic {
			ps = append(ps, tp.Partitions...)
		}
	}
	return sortedInt32s(ps)
}

func sortedInt32s(ps []int32) []int32 {
	out := slices.Clone(ps)
	slices.Sort(out)
	if out == nil {
		out = []int32{}
	}
	return out
}

// kadmDescribe is kadm's view of a group. A group that does not exist
// (yet) is Dead: DescribeGroups v6+ (KIP-1043) says GROUP_ID_NOT_FOUND,
// older versions state Dead.
func kadmDescribe(t *testing.T, addr, group string) kadm.DescribedGroup {
	t.Helper()
	ds, err := kadmClient(t, addr).DescribeGroups(brokertest.Context(t, 10*time.Second), group)
	if err != nil {
		t.Fatalf("kadm describe group %s: %v", group, err)
	}
	d, ok := ds[group]
	if ok && errors.Is(d.Err, kerr.GroupIDNotFound) {
		return kadm.DescribedGroup{Group: group, State: "Dead"}
	}
	if !ok || d.Err != nil {
		t.Fatalf("kadm describe group %s: %v (%v)", group, d.Err, ok)
	}
	return d
}

// waitStable waits until the group is Stable with members of exactly the
// given client ids, which own every partition of topic once, each at least
// one (when there are no more members than partitions).
func waitStable(t *testing.T, addr, group, topic string, clientIDs []string) kadm.DescribedGroup {
	t.Helper()
	var d kadm.DescribedGroup
	waitFor(t, fmt.Sprintf("group %s to be Stable with %v owning all partitions", group, clientIDs), groupSettle,
		func() (bool, string) {
			d = kadmDescribe(t, addr, group)
			return stableWith(d, topic, clientIDs), d.State + ": " + ownership(d, topic)
		})
	return d
}

func stableWith(d kadm.DescribedGroup, topic string, clientIDs []string) bool {
	if d.State != "Stable" || len(d.Members) != len(clientIDs) {
		return false
	}
	owned := map[int32]bool{}
	for _, m := range d.Members {
		if !slices.Contains(clientIDs, m.ClientID) {
			return false
		}
		ps := assignedOf(m, topic)
		if len(ps) == 0 && len(d.Members) <= partitions {
			return false
		}
		for _, p := range ps {
			if owned[p] {
				return false
			}
			owned[p] = true
		}
	}
	return len(owned) == partitions
}

// ownership shows who owns which partitions, for logs and failures.
func ownership(d kadm.DescribedGroup, topic string) string {
	var parts []string
	for _, m := range d.Members {
		parts = append(parts, fmt.Sprintf("%s=%v", m.ClientID, assignedOf(m, topic)))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// waitFor polls cond every 200 ms until it holds, or fails the test after
// d with cond's last description.
func waitFor(t *testing.T, what string, d time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; last: %s", d, what, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitProcessed waits until every record produced before the call was
// processed. (Records a trickle writes meanwhile are not waited for: with
// a growing target the wait would succeed only if members never lagged.)
func waitProcessed(t *testing.T, log *groupLog, prod *groupProducer) {
	t.Helper()
	want := prod.snapshot()
	waitFor(t, "every record produced to be processed", groupSettle, func() (bool, string) {
		missing := missingPositions(want, log.processed())
		return len(missing) == 0, describeMissing(missing)
	})
}

// checkProcessed checks that each record processed was produced there (by
// key, where members report keys) and that every record was processed.
func checkProcessed(t *testing.T, log *groupLog, produced map[pos]record) {
	t.Helper()
	for p, evs := range log.byPos("") {
		r, ok := produced[p]
		if !ok {
			t.Errorf("member %s processed a record at %v that was not produced", evs[0].Member, p)
			continue
		}
		for _, e := range evs {
			if e.Key != nil && string(e.Key) != string(r.Key) {
				t.Errorf("member %s processed key %q at %v, produced %q", e.Member, e.Key, p, r.Key)
			}
		}
	}
	if missing := missingPositions(produced, log.processed()); len(missing) > 0 {
		t.Errorf("records never processed: %s", describeMissing(missing))
	}
}

func missingPositions(produced map[pos]record, processed map[pos]bool) []pos {
	var out []pos
	for p := range produced {
		if !processed[p] {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Partition < out[j].Partition || out[i].Partition == out[j].Partition && out[i].Offset < out[j].Offset
	})
	return out
}

func describeMissing(missing []pos) string {
	if len(missing) == 0 {
		return "none missing"
	}
	return fmt.Sprintf("%d records not processed, first %v", len(missing), missing[:min(len(missing), 10)])
}

// checkRedelivery checks the commit rules over the whole log, in the order
// events arrived:
//   - no record is processed once a commit past it was reported (events of
//     the kadm watcher count watchSlack later);
//   - a record processed again was processed before only by killed members
//     (a member that commits after processing and leaves cleanly leaves
//     nothing uncommitted behind).
func checkRedelivery(t *testing.T, log *groupLog) {
	t.Helper()
	evs, killed := log.snapshot()
	committed := map[int32]groupEvent{} // highest commit per partition
	var pendingWatch []groupEvent       // watcher commits not yet in effect
	seen := map[pos][]groupEvent{}
	bad := 0
	report := func(format string, args ...any) {
		if bad++; bad <= 10 {
			t.Errorf(format, args...)
		}
	}
	for _, e := range evs {
		pendingWatch = applyWatched(committed, pendingWatch, e.At)
		switch e.Kind {
		case "commit":
			if e.Member == watcherName {
				pendingWatch = append(pendingWatch, e)
			} else if e.Offset > committed[e.Partition].Offset {
				committed[e.Partition] = e
			}
		case "record":
			p := pos{e.Partition, e.Offset}
			if c, ok := committed[e.Partition]; ok && e.Offset < c.Offset {
				report("member %s processed %v at %v, after %s committed offset %d at %v",
					e.Member, p, e.At.Format(tsFormat), c.Member, c.Offset, c.At.Format(tsFormat))
			}
			for _, prev := range seen[p] {
				if !killed[prev.Member] {
					report("member %s processed %v again at %v; member %s, not killed, processed it at %v",
						e.Member, p, e.At.Format(tsFormat), prev.Member, prev.At.Format(tsFormat))
					break
				}
			}
			seen[p] = append(seen[p], e)
		}
	}
	if bad > 10 {
		t.Errorf("... %d violations in all", bad)
	}
}

const tsFormat = "15:04:05.000"

// applyWatched moves the watcher's commits older than watchSlack into
// committed and returns the rest.
func applyWatched(committed map[int32]groupEvent, pending []groupEvent, now time.Time) []groupEvent {
	rest := pending[:0]
	for _, w := range pending {
		if now.Sub(w.At) < watchSlack {
			rest = append(rest, w)
		} else if w.Offset > committed[w.Partition].Offset {
			committed[w.Partition] = w
		}
	}
	return rest
}

// waitCommitted waits until the group's committed offsets (kadm) are the
// topic's end offsets on every partition that has records.
func waitCommitted(t *testing.T, addr, group, topic string, log *groupLog) {
	t.Helper()
	waitFor(t, "committed offsets to reach the end offsets", groupSettle, func() (bool, string) {
		ends := endOffsets(t, addr, topic)
		got := kadmCommitted(t, addr, group, topic)
		var behind []string
		for p, end := range ends {
			if c, ok := got[p]; end > 0 && (!ok || c != end) {
				behind = append(behind, fmt.Sprintf("%d: %d of %d", p, c, end))
			}
		}
		sort.Strings(behind)
		return len(behind) == 0, "behind: " + strings.Join(behind, ", ")
	})
}

// kadmCommitted is the group's committed offset of each partition of topic
// that has one.
func kadmCommitted(t *testing.T, addr, group, topic string) map[int32]int64 {
	t.Helper()
	resps, err := kadmClient(t, addr).FetchOffsets(brokertest.Context(t, 10*time.Second), group)
	if err == nil {
		err = resps.Error()
	}
	if err != nil {
		t.Fatalf("kadm fetch offsets of %s: %v", group, err)
	}
	out := map[int32]int64{}
	for p, r := range resps[topic] {
		if r.At >= 0 {
			out[p] = r.At
		}
	}
	return out
}

// groupProducer writes the scenario's records with kgo and remembers where
// each landed. Keys are unique ("g" and a sequence number); values are
// short text, so that every client prints them.
type groupProducer struct {
	t    *testing.T
	cl   *kgo.Client
	mu   sync.Mutex
	rng  *rand.Rand
	next int
	sent map[pos]record
	// tick is held by the trickle while it writes; paused (under tick)
	// makes it skip its ticks.
	tick   sync.Mutex
	paused bool
}

func newGroupProducer(t *testing.T, addr, topic string) *groupProducer {
	cl := kgoClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.DisableIdempotentWrite(),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond))
	return &groupProducer{t: t, cl: cl, rng: brokertest.Rand(t), sent: map[pos]record{}}
}

// produce writes n records and waits for them; it may run concurrently
// with trickle.
func (p *groupProducer) produce(n int) {
	p.mu.Lock()
	krs := make([]*kgo.Record, n)
	for i := range krs {
		krs[i] = &kgo.Record{Key: fmt.Appendf(nil, "g%07d", p.next), Value: randomBytes(p.rng, 10+p.rng.IntN(200), true)}
		p.next++
	}
	p.mu.Unlock()
	res := p.cl.ProduceSync(brokertest.Context(p.t, time.Minute), krs...)
	if err := res.FirstErr(); err != nil {
		p.t.Errorf("kgo produce: %v", err)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range res {
		p.sent[pos{r.Record.Partition, r.Record.Offset}] = record{Key: r.Record.Key, Value: r.Record.Value}
	}
}

// trickle writes 20 records every 50 ms in the background until the
// returned stop func is called, or the test ends.
func (p *groupProducer) trickle() (stop func()) {
	done := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	stop = func() {
		once.Do(func() { close(done) })
		wg.Wait()
	}
	p.t.Cleanup(stop)
	wg.Go(func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				p.tick.Lock()
				if !p.paused {
					p.produce(20)
				}
				p.tick.Unlock()
			}
		}
	})
	return stop
}

// pause stops the trickle once its write in flight is done; resume
// restarts it.
func (p *groupProducer) pause() {
	p.tick.Lock()
	defer p.tick.Unlock()
	p.paused = true
}

func (p *groupProducer) resume() {
	p.tick.Lock()
	defer p.tick.Unlock()
	p.paused = false
}

func (p *groupProducer) snapshot() map[pos]record {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.sent)
}

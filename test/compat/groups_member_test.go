package compat

// Group members as processes (see the line protocol in groups_test.go):
// groupLog collects what members report; startProcMember runs any member
// command; startGoMember runs a Go client's member in a child process (the
// test binary re-executed as TestGroupMember); watchCommits reports a
// group's commits for members that cannot.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// groupEvent is one thing a member reported, stamped when it arrived.
type groupEvent struct {
	At        time.Time
	Member    string
	Kind      string // "record" or "commit"
	Partition int32
	Offset    int64  // record: its offset; commit: the next offset to read
	Key       []byte // record: its key, nil if not reported
}

// watcherName is the member name of commits seen by watchCommits.
const watcherName = "kadm"

// groupLog collects the events of all members of one cell; it is safe for
// concurrent use.
type groupLog struct {
	t      *testing.T
	mu     sync.Mutex
	events []groupEvent
	killed map[string]bool
}

func newGroupLog(t *testing.T) *groupLog {
	return &groupLog{t: t, killed: map[string]bool{}}
}

func (l *groupLog) add(e groupEvent) {
	e.At = time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// record and commit add a member's report.
func (l *groupLog) record(member string, p int32, o int64, key []byte) {
	l.add(groupEvent{Member: member, Kind: "record", Partition: p, Offset: o, Key: key})
}

func (l *groupLog) commit(member string, p int32, o int64) {
	l.add(groupEvent{Member: member, Kind: "commit", Partition: p, Offset: o})
}

// fail fails the cell with a member's error.
func (l *groupLog) fail(member string, err error) { l.t.Errorf("member %s: %v", member, err) }

// note logs a member's message.
func (l *groupLog) note(member, msg string) { l.t.Logf("member %s: %s", member, msg) }

func (l *groupLog) markKilled(member string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.killed[member] = true
}

// snapshot returns the events in arrival order and the killed members.
func (l *groupLog) snapshot() ([]groupEvent, map[string]bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	killed := make(map[string]bool, len(l.killed))
	for k, v := range l.killed {
		killed[k] = v
	}
	return slices.Clone(l.events), killed
}

// processed is the set of positions any member processed.
func (l *groupLog) processed() map[pos]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[pos]bool{}
	for _, e := range l.events {
		if e.Kind == "record" {
			out[pos{e.Partition, e.Offset}] = true
		}
	}
	return out
}

// byPos is the record events by position, of one member or of all ("").
func (l *groupLog) byPos(member string) map[pos][]groupEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[pos][]groupEvent{}
	for _, e := range l.events {
		if e.Kind == "record" && (member == "" || e.Member == member) {
			p := pos{e.Partition, e.Offset}
			out[p] = append(out[p], e)
		}
	}
	return out
}

// processedBy counts a member's record events.
func (l *groupLog) processedBy(member string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Kind == "record" && e.Member == member {
			n++
		}
	}
	return n
}

// summary counts records and commits by member, and duplicates.
func (l *groupLog) summary() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	recs, commits := map[string]int{}, map[string]int{}
	seen := map[pos]bool{}
	dups := 0
	for _, e := range l.events {
		switch e.Kind {
		case "record":
			recs[e.Member]++
			p := pos{e.Partition, e.Offset}
			if seen[p] {
				dups++
			}
			seen[p] = true
		case "commit":
			commits[e.Member]++
		}
	}
	var parts []string
	for _, m := range sortedKeys(recs) {
		parts = append(parts, fmt.Sprintf("%s processed %d, committed %d times", m, recs[m], commits[m]))
	}
	if n := commits[watcherName]; n > 0 {
		parts = append(parts, fmt.Sprintf("kadm saw %d commits", n))
	}
	return fmt.Sprintf("%s; %d records processed more than once", strings.Join(parts, "; "), dups)
}

// memberEvent is one line of the line protocol.
type memberEvent struct {
	Ev  string  `json:"ev"`
	P   int32   `json:"p"`
	O   int64   `json:"o"`
	K   *string `json:"k"`
	Ps  []int32 `json:"ps"`
	Msg string  `json:"msg"`
}

// lineParser turns a member's stdout line into log entries; it returns
// false for a line that is not an event.
type lineParser func(member string, line []byte, log *groupLog) bool

// parseEventLine is the line protocol's parser.
func parseEventLine(member string, line []byte, log *groupLog) bool {
	if len(line) == 0 || line[0] != '{' {
		return false
	}
	var e memberEvent
	if err := json.Unmarshal(line, &e); err != nil {
		log.fail(member, fmt.Errorf("bad event line %q: %w", line, err))
		return true
	}
	switch e.Ev {
	case "record":
		var key []byte
		if e.K != nil {
			key = []byte(*e.K)
		}
		log.record(member, e.P, e.O, key)
	case "commit":
		log.commit(member, e.P, e.O)
	case "assigned", "revoked":
		if debugLogs() || e.Ev == "assigned" {
			log.note(member, fmt.Sprintf("%s %v", e.Ev, e.Ps))
		}
	case "log":
		log.note(member, e.Msg)
	case "error":
		log.fail(member, errors.New(e.Msg))
	default:
		log.fail(member, fmt.Errorf("unknown event %q", line))
	}
	return true
}

// procMember is a member process.
type procMember struct {
	name   string
	cmd    *exec.Cmd
	out    sync.WaitGroup // the stdout and stderr readers
	exited chan struct{}
	err    error // of Wait, once exited is closed
	mu     sync.Mutex
	lines  []string // the last lines of stdout and stderr that are not events
}

// procLines is how many non-event output lines a procMember keeps.
const procLines = 40

// startProcMember starts cmd as member spec.Name; parse reads its stdout
// (nil: the line protocol). The process is killed when the test ends if it
// is still running, and (on Linux) when the test process dies.
func startProcMember(t *testing.T, spec memberSpec, cmd *exec.Cmd, log *groupLog, parse lineParser) groupMember {
	t.Helper()
	if parse == nil {
		parse = parseEventLine
	}
	m := &procMember{name: spec.Name, cmd: cmd, exited: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("member %s: %v", spec.Name, err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatalf("member %s: %v", spec.Name, err)
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = orphanKill()
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start member %s (%s): %v", spec.Name, cmd.Path, err)
	}
	m.out.Go(func() { m.read(stdout, func(line []byte) bool { return parse(spec.Name, line, log) }) })
	m.out.Go(func() { m.read(stderr, func([]byte) bool { return false }) })
	go func() {
		m.out.Wait() // Wait closes the pipes: read them to the end first
		m.err = cmd.Wait()
		close(m.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-m.exited:
		default:
			cmd.Process.Kill()
			<-m.exited
		}
	})
	return m
}

func (m *procMember) read(r io.Reader, event func([]byte) bool) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		if event(sc.Bytes()) {
			continue
		}
		if debugLogs() {
			fmt.Fprintf(os.Stderr, "[member %s] %s\n", m.name, sc.Bytes())
		}
		m.mu.Lock()
		m.lines = append(m.lines, sc.Text())
		if len(m.lines) > 2*procLines {
			m.lines = slices.Clone(m.lines[len(m.lines)-procLines:])
		}
		m.mu.Unlock()
	}
}

func (m *procMember) output() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.lines[max(0, len(m.lines)-procLines):], "\n")
}

func (m *procMember) Stop(t *testing.T) {
	t.Helper()
	if err := m.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("member %s: SIGTERM: %v", m.name, err)
	}
	select {
	case <-m.exited:
	case <-time.After(30 * time.Second):
		m.cmd.Process.Kill()
		<-m.exited
		t.Fatalf("member %s did not exit within 30s of SIGTERM; output ends:\n%s", m.name, m.output())
	}
	if m.err != nil {
		t.Fatalf("member %s exited with %v; output ends:\n%s", m.name, m.err, m.output())
	}
}

func (m *procMember) Kill(t *testing.T) {
	t.Helper()
	if err := m.cmd.Process.Kill(); err != nil {
		t.Fatalf("member %s: SIGKILL: %v", m.name, err)
	}
	<-m.exited
}

// goMemberFunc runs one member of a Go client until ctx ends (the child got
// SIGTERM), then commits what it processed (spec.Commit), leaves the group,
// and returns. It reports through out as it goes.
type goMemberFunc func(ctx context.Context, addr string, spec memberSpec, out *memberOut) error

// goMembers are the Go clients' member funcs by client name; each client
// file registers its own in an init func.
var goMembers = map[string]goMemberFunc{}

// goMemberEnv carries a child's orders: a JSON goMemberOrder.
const goMemberEnv = "STRATA_COMPAT_GROUP_MEMBER"

type goMemberOrder struct {
	Client string     `json:"client"`
	Addr   string     `json:"addr"`
	Spec   memberSpec `json:"spec"`
}

// startGoMember runs client's goMemberFunc in a child process.
func startGoMember(t *testing.T, client, addr string, spec memberSpec, log *groupLog) groupMember {
	t.Helper()
	if goMembers[client] == nil {
		t.Fatalf("no Go group member registered for %s", client)
	}
	order, err := json.Marshal(goMemberOrder{Client: client, Addr: addr, Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestGroupMember$", "-test.count=1", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), goMemberEnv+"="+string(order))
	return startProcMember(t, spec, cmd, log, nil)
}

// TestGroupMember is not a test: it is the body of a child process that
// startGoMember started, and skips otherwise.
func TestGroupMember(t *testing.T) {
	env := os.Getenv(goMemberEnv)
	if env == "" {
		t.Skip("runs a group member in a child process of the group scenarios")
	}
	var order goMemberOrder
	if err := json.Unmarshal([]byte(env), &order); err != nil {
		t.Fatalf("%s: %v", goMemberEnv, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	out := &memberOut{w: os.Stdout}
	if err := goMembers[order.Client](ctx, order.Addr, order.Spec, out); err != nil {
		out.Error(err)
		t.Fatal(err)
	}
}

// memberOut writes the line protocol; it is safe for concurrent use.
type memberOut struct {
	mu sync.Mutex
	w  io.Writer
}

func (o *memberOut) emit(e memberEvent) {
	line, err := json.Marshal(e)
	if err != nil {
		panic(err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.w.Write(append(line, '\n'))
}

// Record reports a processed record.
func (o *memberOut) Record(p int32, off int64, key []byte) {
	k := string(key)
	o.emit(memberEvent{Ev: "record", P: p, O: off, K: &k})
}

// Commit reports a successful commit of offset off (the next to read).
func (o *memberOut) Commit(p int32, off int64) { o.emit(memberEvent{Ev: "commit", P: p, O: off}) }

// Assigned and Revoked report partition changes.
func (o *memberOut) Assigned(ps []int32) { o.emit(memberEvent{Ev: "assigned", Ps: sortedInt32s(ps)}) }
func (o *memberOut) Revoked(ps []int32)  { o.emit(memberEvent{Ev: "revoked", Ps: sortedInt32s(ps)}) }

// Log reports a message to the test log.
func (o *memberOut) Log(format string, args ...any) {
	o.emit(memberEvent{Ev: "log", Msg: fmt.Sprintf(format, args...)})
}

// Error fails the cell.
func (o *memberOut) Error(err error) { o.emit(memberEvent{Ev: "error", Msg: err.Error()}) }

// watchCommits polls group's committed offsets of topic every 200 ms until
// the test ends and logs each advance as a commit of member "kadm".
func watchCommits(t *testing.T, addr, group, topic string, log *groupLog) {
	adm := kadmClient(t, addr)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		<-done
	})
	go func() {
		defer close(done)
		last := map[int32]int64{}
		for ctx.Err() == nil {
			resps, err := adm.FetchOffsets(ctx, group)
			if err != nil && ctx.Err() == nil {
				t.Logf("kadm watcher: fetch offsets of %s: %v", group, err)
			}
			if err == nil {
				for _, p := range sortedPartitions(resps[topic]) {
					if r := resps[topic][p]; r.Err == nil && r.At > last[p] {
						last[p] = r.At
						log.commit(watcherName, p, r.At)
					}
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
}

func sortedPartitions[V any](m map[int32]V) []int32 {
	ps := make([]int32, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}

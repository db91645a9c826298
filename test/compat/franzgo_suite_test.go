package compat

// franz-go's own integration tests (package pkg/kgo of the franz-go version
// in go.mod, run from the module cache) against a Strata node. Those tests
// find their cluster through environment variables: KGO_SEEDS (the
// brokers), KGO_TEST_RF (replication factor of their topics; 1 here, 3 in
// cluster mode),
// KGO_TEST_RECORDS (records per ETL test, 500,000 by default),
// KGO_TEST_MAX_TOPIC_PARTS and KGO_LOG_LEVEL. Many of them are unit tests
// that never dial a broker; the report marks the ones that do.
//
// By default (CI) TestFranzGoSuite runs every test except the known gaps of
// franz-go-gaps.txt, with few records, and fails if any test fails.
// STRATA_FRANZ_GO_FULL=1 (what franz-go-suite.sh sets) runs them all with
// franz-go's defaults and writes FRANZ-GO-SUITE.md; it fails only on a
// failure outside the gaps, and logs the gaps that pass now.
// STRATA_COMPAT_RUN_GAPS=1 runs the gaps in CI mode too. With KGO_SEEDS
// set, the tests run against those brokers instead of a node of their own;
// STRATA_FRANZ_GO_REPORT names another report file (franz-go-suite.sh
// --cluster writes FRANZ-GO-SUITE-CLUSTER.md). franz-go's SCRAM tests log
// in to a second node with --auth sasl, as a tenant's API key
// (KGO_TEST_SCRAM_SEEDS, KGO_TEST_SCRAM), with SCRAM-SHA-256 in the main
// run and SHA-512 in a run of their own; both must pass.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
)

const (
	franzGoPkg       = "github.com/twmb/franz-go/pkg/kgo"
	franzGoModule    = "github.com/twmb/franz-go"
	franzGoGapsFile  = "franz-go-gaps.txt"
	franzGoReport    = "FRANZ-GO-SUITE.md"
	franzGoCITimeout = 3 * time.Minute
	// franzGoGapTimeout bounds each gap's run: a test whose feature is
	// missing may wait forever (TestTxnEtl does without transactions).
	// Once a gap's line is removed it runs under the main timeout.
	franzGoGapTimeout = 3 * time.Minute
)

// franzGoResult is one top-level test's outcome.
type franzGoResult struct {
	name    string
	action  string // pass, fail or skip
	elapsed float64
	output  []string // lines of the test and its subtests
}

func TestFranzGoSuite(t *testing.T) {
	if testing.Short() {
		t.Skip("franz-go's suite takes a minute or more; it runs without -short")
	}
	full := os.Getenv("STRATA_FRANZ_GO_FULL") != ""
	gaps, err := readFranzGoGaps(franzGoGapsFile)
	if err != nil {
		t.Fatal(err)
	}
	seeds := os.Getenv("KGO_SEEDS")
	if seeds == "" {
		seeds = serverAddr(t)
	}
	env := map[string]string{"KGO_SEEDS": seeds, "KGO_TEST_RF": strconv.Itoa(int(replicationFactor())), "KGO_LOG_LEVEL": "none"}
	var scram512 string // KGO_TEST_SCRAM for a second run of the SCRAM tests
	if os.Getenv("KGO_TEST_SCRAM_SEEDS") == "" {
		// franz-go's SCRAM tests (TestSCRAMAuth, TestSCRAMAuthBadCredentials)
		// log in to a separate SASL listener: a node with --auth sasl and
		// a tenant's API key.
		sb := brokertest.Start(t, brokertest.WithSASL)
		key := brokertest.CreateKey(t, sb, brokertest.CreateTenant(t, sb, "kgo-scram"))
		env["KGO_TEST_SCRAM_SEEDS"], env["KGO_TEST_SCRAM"] = sb.KafkaAddr(), key.Key+":"+key.Secret
		scram512 = key.Key + ":" + key.Secret + ":512"
	}
	timeout := 30 * time.Minute
	if !full {
		timeout = franzGoCITimeout
		env["KGO_TEST_RECORDS"] = "10000"
	}
	// The gaps run one per process: a failing test of franz-go's can fail
	// from a goroutine after it returned, which panics the test binary
	// and would cut the run short.
	gapNames := slices.Sorted(maps.Keys(gaps))
	start := time.Now()
	args := []string{"test", "-json", "-count=1", "-timeout", timeout.String()}
	mainArgs := args
	if len(gapNames) > 0 {
		mainArgs = append(slices.Clip(args), "-skip", "^("+strings.Join(gapNames, "|")+")$")
	}
	results := runFranzGo(t, append(mainArgs, franzGoPkg), env, timeout+time.Minute)
	if scram512 != "" {
		// The main run logged in with SCRAM-SHA-256; SHA-512 too.
		env512 := maps.Clone(env)
		env512["KGO_TEST_SCRAM"] = scram512
		for _, r := range runFranzGo(t, append(slices.Clip(args), "-run", "^TestSCRAMAuth", franzGoPkg), env512, 2*time.Minute) {
			r.name += "(SCRAM-SHA-512)"
			results = append(results, r)
		}
		for _, r := range results {
			if strings.HasPrefix(r.name, "TestSCRAMAuth") && r.action != "pass" {
				t.Errorf("franz-go %s: %s, want pass against the SASL node", r.name, r.action)
			}
		}
	}
	runGaps := full || os.Getenv("STRATA_COMPAT_RUN_GAPS") != ""
	if runGaps {
		for _, name := range gapNames {
			gapArgs := []string{"test", "-json", "-count=1", "-timeout", franzGoGapTimeout.String(),
				"-run", "^" + name + "$", franzGoPkg}
			results = append(results, runFranzGo(t, gapArgs, env, franzGoGapTimeout+time.Minute)...)
		}
	}
	took := time.Since(start).Round(time.Second)
	t.Logf("franz-go's %s: %d tests in %v", franzGoPkg, len(results), took)
	if full {
		writeFranzGoReport(t, results, gaps, env, took)
	}
	judgeFranzGo(t, results, gaps, runGaps)
}

// runFranzGo runs go test from the module root and returns the top-level
// tests in the order they finished. It fails the test if none ran.
func runFranzGo(t *testing.T, args []string, env map[string]string, timeout time.Duration) []*franzGoResult {
	t.Helper()
	cmd := exec.CommandContext(brokertest.Context(t, timeout), "go", args...)
	cmd.Dir = "../.."
	cmd.Env = os.Environ()
	for k, v := range env {
		if _, set := os.LookupEnv(k); !set {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run() // fails when a test fails; the events say which
	t.Logf("go %s: %v", strings.Join(args, " "), err)
	results, perr := parseTestJSON(&stdout)
	if perr != nil {
		t.Fatalf("parse go test -json output: %v", perr)
	}
	if len(results) == 0 {
		t.Fatalf("go %s: no test ran; stderr:\n%s", strings.Join(args, " "), stderr.String())
	}
	return results
}

// testEvent is a line of `go test -json` (see `go doc test2json`).
type testEvent struct {
	Action  string
	Test    string
	Elapsed float64
	Output  string
}

// parseTestJSON gathers the events by top-level test: a subtest's output
// goes to its parent. A test that started but has no outcome was cut short
// (the test binary panicked or timed out) and counts as failed.
func parseTestJSON(r *bytes.Buffer) ([]*franzGoResult, error) {
	byName := map[string]*franzGoResult{}
	var started, done []*franzGoResult
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var e testEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("line %q: %w", sc.Bytes(), err)
		}
		if e.Test == "" {
			continue
		}
		top, _, sub := strings.Cut(e.Test, "/")
		res := byName[top]
		if res == nil {
			res = &franzGoResult{name: top}
			byName[top] = res
			started = append(started, res)
		}
		switch {
		case e.Action == "output":
			res.output = append(res.output, strings.TrimRight(e.Output, "\n"))
		case !sub && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip"):
			res.action, res.elapsed = e.Action, e.Elapsed
			done = append(done, res)
		}
	}
	for _, res := range started {
		if res.action == "" {
			res.action = "fail"
			res.output = append(res.output, "(no outcome: the test binary exited while this test ran)")
			done = append(done, res)
		}
	}
	return done, sc.Err()
}

// judgeFranzGo fails the test for every failure outside the gaps, and for
// a gap that is no test of franz-go's (when the gaps ran).
func judgeFranzGo(t *testing.T, results []*franzGoResult, gaps map[string]string, ranGaps bool) {
	t.Helper()
	var passingGaps []string
	seen := map[string]bool{}
	for _, r := range results {
		_, gap := gaps[r.name]
		seen[r.name] = true
		switch {
		case r.action == "fail" && !gap:
			t.Errorf("franz-go %s failed (%.1fs); its output ends:\n%s", r.name, r.elapsed, tailLines(r.output, 40))
		case r.action == "pass" && gap:
			passingGaps = append(passingGaps, r.name)
		}
	}
	for name := range gaps {
		if ranGaps && !seen[name] {
			t.Errorf("%s lists %s, which is no test of %s", franzGoGapsFile, name, franzGoPkg)
		}
	}
	if len(passingGaps) > 0 {
		t.Logf("known gaps that pass now (remove them from %s): %s", franzGoGapsFile, strings.Join(passingGaps, ", "))
	}
}

// readFranzGoGaps reads "TestName<TAB>reason" lines; # starts a comment.
func readFranzGoGaps(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("franz-go gaps: %w", err)
	}
	gaps := map[string]string{}
	for i, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, reason, ok := strings.Cut(line, "\t")
		if !ok || !testName.MatchString(name) || strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("franz-go gaps: %s:%d: want TestName<TAB>reason, got %q", path, i+1, line)
		}
		gaps[name] = strings.TrimSpace(reason)
	}
	return gaps, nil
}

// tailLines returns the last n lines, indented.
func tailLines(lines []string, n int) string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// firstLog is the first line a test logged through t.Log, t.Error or
// t.Skip (its file:line prefix cut): a skip's reason, a failure's first
// error.
func firstLog(r *franzGoResult) string {
	for _, l := range r.output {
		l = strings.TrimSpace(l)
		if testLogLine.MatchString(l) {
			return l[strings.Index(l, ": ")+2:]
		}
	}
	if len(r.output) > 0 && r.action == "fail" {
		return strings.TrimSpace(r.output[len(r.output)-1])
	}
	return ""
}

var (
	testName    = regexp.MustCompile(`^Test\w+$`)
	testLogLine = regexp.MustCompile(`^\w+_test\.go:\d+: `)
)

// goListModule returns a field of franz-go's module as the build sees it.
func goListModule(t *testing.T, field string) string {
	t.Helper()
	cmd := exec.CommandContext(context.Background(), "go", "list", "-m", "-f", "{{."+field+"}}", franzGoModule)
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", franzGoModule, err)
	}
	return strings.TrimSpace(string(out))
}

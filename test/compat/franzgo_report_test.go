package compat

// FRANZ-GO-SUITE.md: the outcome of each test of franz-go's suite, written
// by a full run (franz-go-suite.sh).

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeFranzGoReport(t *testing.T, results []*franzGoResult, gaps map[string]string, env map[string]string, took time.Duration) {
	t.Helper()
	version := goListModule(t, "Version")
	cluster := clusterTests(t, filepath.Join(goListModule(t, "Dir"), "pkg", "kgo"))
	slices.SortFunc(results, func(a, b *franzGoResult) int { return strings.Compare(a.name, b.name) })
	counts := map[string]int{}
	clusterCounts := map[string]int{}
	var rows strings.Builder
	for _, r := range results {
		outcome, note := franzGoOutcome(r, gaps)
		counts[outcome]++
		uses := ""
		if cluster[r.name] {
			uses = "yes"
			clusterCounts[outcome]++
		}
		fmt.Fprintf(&rows, "| %s | %s | %s | %.1f | %s |\n", r.name, outcome, uses, r.elapsed, mdEscape(note))
	}
	var envs []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if k != "KGO_SEEDS" {
			v := env[k]
			if set, ok := os.LookupEnv(k); ok {
				v = set
			}
			envs = append(envs, fmt.Sprintf("`%s=%s`", k, v))
		}
	}
	if _, ok := env["KGO_TEST_RECORDS"]; !ok {
		if v, set := os.LookupEnv("KGO_TEST_RECORDS"); set {
			envs = append(envs, fmt.Sprintf("`KGO_TEST_RECORDS=%s`", v))
		} else {
			envs = append(envs, "franz-go's default of 500,000 records per ETL test")
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# franz-go's test suite against Strata\n\n")
	fmt.Fprintf(&b, "Written by `test/compat/franz-go-suite.sh` (do not edit): the tests of `%s` at franz-go %s, "+
		"from the module cache, run with `go test -count=1` against %s with %s.\n\n",
		franzGoPkg, version, franzGoTarget(env["KGO_SEEDS"]), strings.Join(envs, ", "))
	fmt.Fprintf(&b, "%d tests in %v (%s, %d CPUs): %s.\n", len(results), took, runtime.GOOS+"/"+runtime.GOARCH,
		runtime.NumCPU(), countSummary(counts))
	fmt.Fprintf(&b, "The %d that talk to the cluster (column \"cluster\": they reach franz-go's test client "+
		"seeded from KGO_SEEDS; the others are unit tests, some on franz-go's in-process fake): %s.\n\n",
		sumCounts(clusterCounts), countSummary(clusterCounts))
	b.WriteString("`gap` tests fail for a reason listed in [franz-go-gaps.txt](franz-go-gaps.txt); CI skips them.\n\n")
	b.WriteString("| test | result | cluster | seconds | note |\n| --- | --- | --- | --- | --- |\n")
	b.WriteString(rows.String())
	report := franzGoReport
	if env := os.Getenv("STRATA_FRANZ_GO_REPORT"); env != "" {
		report = env
	}
	if err := os.WriteFile(report, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", report)
}

// franzGoTarget names what the suite ran against, from its seed list.
func franzGoTarget(seeds string) string {
	if n := len(strings.Split(seeds, ",")); n > 1 {
		return fmt.Sprintf("a %d-node Strata cluster", n)
	}
	return "one Strata node"
}

// franzGoOutcome is a test's table cell and note.
func franzGoOutcome(r *franzGoResult, gaps map[string]string) (string, string) {
	reason, gap := gaps[r.name]
	switch {
	case r.action == "fail" && gap:
		return "gap", reason
	case r.action == "fail":
		return "FAIL", firstLog(r)
	case r.action == "pass" && gap:
		return "pass", "listed as a gap but passes: " + reason
	case r.action == "skip":
		return "skip", firstLog(r)
	}
	return r.action, ""
}

func countSummary(counts map[string]int) string {
	var parts []string
	for _, k := range []string{"pass", "FAIL", "gap", "skip"} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

func sumCounts(counts map[string]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// clusterTests finds the tests that reach franz-go's cluster client: those
// whose body refers, directly or through other functions of the test
// files, to getSeedBrokers (the helper that reads KGO_SEEDS). Functions are
// matched by name, methods included, which is close enough for a report.
func clusterTests(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("franz-go test files in %s: %v", dir, err)
	}
	refs := map[string]map[string]bool{} // function name -> names it refers to
	fset := token.NewFileSet()
	for _, f := range files {
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatalf("parse %s: %v", f, err)
		}
		for _, d := range file.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			names := refs[fd.Name.Name]
			if names == nil {
				names = map[string]bool{}
				refs[fd.Name.Name] = names
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				if id, ok := n.(*ast.Ident); ok {
					names[id.Name] = true
				}
				return true
			})
		}
	}
	reaches := map[string]bool{"getSeedBrokers": true}
	for changed := true; changed; {
		changed = false
		for fn, names := range refs {
			if reaches[fn] {
				continue
			}
			for name := range names {
				if reaches[name] {
					reaches[fn], changed = true, true
					break
				}
			}
		}
	}
	return reaches
}

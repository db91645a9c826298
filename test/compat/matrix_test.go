package compat

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The suite fills a client x scenario matrix: each cell is one subtest run
// through cell(). A full run (no -run filter, not -short) writes it to
// MATRIX.md; in CI it also checks that the README shows that matrix and the
// known gaps, so the published table is always the tested one. A full run
// in cluster mode (cluster_test.go) writes MATRIX-CLUSTER.md instead.
//
// KNOWN-GAPS.md lists cells that cannot pass yet, each with its reason; they
// are skipped (shown as "gap") and must never fail CI. The list only
// shrinks: when a feature lands, its issue removes the lines. Set
// STRATA_COMPAT_RUN_GAPS=1 to run them anyway and see which pass.

const (
	matrixFile = "MATRIX.md"
	gapsFile   = "KNOWN-GAPS.md"
	readmeFile = "../../README.md"
)

// Cell outcomes.
const (
	outPass = "pass"
	outFail = "FAIL"
	outGap  = "gap"
	outNA   = "n/a"
)

// clientOrder and scenarioOrder fix the table's columns and rows; names
// not listed here are appended in sorted order.
var (
	clientOrder = []string{
		"kgo", "sarama", "sarama-2.1", "sarama-0.11", "kafka-go", "confluent-kafka-go", "kcat",
		"confluent-kafka-python", "kafka-python", "kafkajs", "confluent-kafka-javascript",
	}
	scenarioOrder = []string{
		"codec/none", "codec/gzip", "codec/snappy", "codec/lz4", "codec/zstd",
		"records/large", "offsets/by-timestamp",
		"admin/topics", "admin/configs", "admin/list-offsets", "admin/describe-groups",
		"groups/consume", "groups/commit", "producer/idempotent", "txn/read-committed",
		"versions/unsupported", scFailover,
		"sasl/plain", "sasl/scram-sha-256", "sasl/scram-sha-512", "sasl_ssl/scram-sha-512", "ssl/mtls", "tenants/same-names",
	}
)

type cellKey struct{ client, scenario string }

type matrix struct {
	mu    sync.Mutex
	cells map[cellKey]string
	notes map[cellKey]string // why a cell is n/a
}

var results = &matrix{cells: map[cellKey]string{}, notes: map[cellKey]string{}}

func (m *matrix) set(client, scenario, outcome, note string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := cellKey{client, scenario}
	// A cell run several times (e.g. per codec pass) keeps its worst result.
	if prev, ok := m.cells[k]; ok && prev == outFail {
		return
	}
	m.cells[k] = outcome
	if note != "" {
		m.notes[k] = note
	}
}

// cell runs one matrix cell as a subtest named after the scenario. A cell
// listed in KNOWN-GAPS.md is skipped with its reason.
func cell(t *testing.T, client, scenario string, fn func(t *testing.T)) {
	t.Helper()
	if reason, ok := knownGap(client, scenario); ok && os.Getenv("STRATA_COMPAT_RUN_GAPS") == "" {
		results.set(client, scenario, outGap, "")
		t.Run(scenario, func(t *testing.T) { t.Skip("known gap: " + reason) })
		return
	}
	ok := t.Run(scenario, fn)
	switch {
	case !ok:
		results.set(client, scenario, outFail, "")
	default:
		results.set(client, scenario, outPass, "")
	}
}

// notWritten is the body of a gap cell whose scenario waits for its
// feature: it fails, so a gap line removed too early cannot pass silently.
func notWritten(t *testing.T) {
	t.Helper()
	t.Fatal("scenario not written yet: write it when its feature lands, then remove its known gap")
}

// unsupported records that a client cannot do a scenario at all.
func unsupported(client, scenario, why string) {
	results.set(client, scenario, outNA, why)
}

var gaps struct {
	once sync.Once
	m    map[cellKey]string
	err  error
}

// knownGap reports whether KNOWN-GAPS.md lists the cell; a client of "*"
// matches every client.
func knownGap(client, scenario string) (string, bool) {
	gaps.once.Do(func() { gaps.m, gaps.err = readGaps(gapsFile) })
	if gaps.err != nil {
		panic(gaps.err)
	}
	if r, ok := gaps.m[cellKey{client, scenario}]; ok {
		return r, true
	}
	r, ok := gaps.m[cellKey{"*", scenario}]
	return r, ok
}

// readGaps parses the table rows "| client | scenario | reason |".
func readGaps(path string) (map[cellKey]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[cellKey]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(strings.Trim(strings.TrimSpace(sc.Text()), "|"), "|")
		if len(cols) != 3 || !strings.HasPrefix(strings.TrimSpace(sc.Text()), "|") {
			continue
		}
		c, s, r := strings.TrimSpace(cols[0]), strings.TrimSpace(cols[1]), strings.TrimSpace(cols[2])
		if c == "client" || strings.HasPrefix(c, "---") {
			continue
		}
		out[cellKey{c, s}] = r
	}
	return out, sc.Err()
}

// render draws the matrix as Markdown.
func (m *matrix) render() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var clients, scenarios []string
	seenC, seenS := map[string]bool{}, map[string]bool{}
	for k := range m.cells {
		seenC[k.client], seenS[k.scenario] = true, true
	}
	clients = ordered(clientOrder, seenC)
	scenarios = ordered(scenarioOrder, seenS)
	var b strings.Builder
	b.WriteString("| scenario | " + strings.Join(clients, " | ") + " |\n")
	b.WriteString("| --- |" + strings.Repeat(" --- |", len(clients)) + "\n")
	var notes []string
	for _, s := range scenarios {
		row := []string{s}
		for _, c := range clients {
			out, ok := m.cells[cellKey{c, s}]
			if !ok {
				out = "-"
			}
			if n, ok := m.notes[cellKey{c, s}]; ok {
				notes = append(notes, fmt.Sprintf("%s, %s: %s", c, s, n))
				out += fmt.Sprintf(" [%d]", len(notes))
			}
			row = append(row, out)
		}
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	if len(notes) > 0 {
		b.WriteString("\n")
		for i, n := range notes {
			fmt.Fprintf(&b, "[%d] %s  \n", i+1, n)
		}
	}
	return b.String()
}

func ordered(order []string, seen map[string]bool) []string {
	var out, rest []string
	for _, x := range order {
		if seen[x] {
			out = append(out, x)
		}
	}
	for x := range seen {
		if !slices.Contains(order, x) {
			rest = append(rest, x)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

func TestMain(m *testing.M) {
	flag.Parse()
	n, err := clusterSize()
	if err != nil {
		fmt.Fprintln(os.Stderr, "compat:", err)
		os.Exit(2)
	}
	var code int
	if n > 0 {
		code = runCluster(m, n)
	} else {
		code = m.Run()
	}
	full := flag.Lookup("test.run").Value.String() == "" && !testing.Short()
	if full && n > 0 {
		// Its own file, failed cells included: a cluster run is not
		// the README's matrix.
		if err := publishCluster(n); err != nil {
			fmt.Fprintln(os.Stderr, "compat:", err)
			code = 1
		}
	} else if code == 0 && full {
		if err := publish(); err != nil {
			fmt.Fprintln(os.Stderr, "compat:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// publish writes MATRIX.md and, in CI, checks that the README shows it and
// the known gaps (STRATA_UPDATE_README=1 rewrites the README instead).
func publish() error {
	table := "Client x scenario results of `go test ./test/compat/` (written by the suite; " +
		"`gap` cells are listed with their reasons in [KNOWN-GAPS.md](test/compat/KNOWN-GAPS.md)).\n\n" + results.render()
	if err := os.WriteFile(matrixFile, []byte(table), 0o644); err != nil {
		return err
	}
	gapsText, err := os.ReadFile(gapsFile)
	if err != nil {
		return err
	}
	readme, err := os.ReadFile(readmeFile)
	if err != nil {
		return err
	}
	want := replaceSection(string(readme), "matrix", table)
	want = replaceSection(want, "known-gaps", gapsTable(string(gapsText)))
	if want == string(readme) {
		return nil
	}
	if os.Getenv("STRATA_UPDATE_README") != "" {
		return os.WriteFile(readmeFile, []byte(want), 0o644)
	}
	if os.Getenv("CI") != "" {
		return fmt.Errorf("README.md does not show the current matrix or known gaps; "+
			"run STRATA_UPDATE_README=1 go test ./test/compat/ and commit the result; lines that differ:\n%s",
			lineDiff(string(readme), want))
	}
	fmt.Fprintln(os.Stderr, "compat: README.md matrix is out of date; STRATA_UPDATE_README=1 go test ./test/compat/ updates it")
	return nil
}

// publishCluster writes a cluster run's matrix to MATRIX-CLUSTER.md; the
// README shows the single-node matrix only.
func publishCluster(n int) error {
	table := fmt.Sprintf("Client x scenario results of `%s=%d go test ./test/compat/`: every client against a "+
		"%d-node cluster, topics with replication factor %d (written by the suite; `gap` cells are listed "+
		"with their reasons in [KNOWN-GAPS.md](KNOWN-GAPS.md)).\n\n", clusterEnv, n, n, clusterRF) + results.render()
	return os.WriteFile(clusterMatrixFile, []byte(table), 0o644)
}

// lineDiff lists the lines of have missing from want (-) and of want missing
// from have (+), so a CI log shows which cell changed.
func lineDiff(have, want string) string {
	var b strings.Builder
	hl, wl := strings.Split(have, "\n"), strings.Split(want, "\n")
	for _, l := range hl {
		if !slices.Contains(wl, l) {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range wl {
		if !slices.Contains(hl, l) {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}

// gapsTable is the table part of KNOWN-GAPS.md, or a sentence when the
// table has no rows.
func gapsTable(doc string) string {
	var lines []string
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "|") {
			lines = append(lines, line+"\n")
		}
	}
	if len(lines) <= 2 { // the header and its separator
		return "None: every cell passes, or the client cannot do the scenario (n/a).\n"
	}
	return strings.Join(lines, "")
}

// replaceSection replaces the text between <!-- name:start --> and
// <!-- name:end --> markers.
func replaceSection(doc, name, body string) string {
	start, end := "<!-- "+name+":start -->\n", "<!-- "+name+":end -->"
	i, j := strings.Index(doc, start), strings.Index(doc, end)
	if i < 0 || j < i {
		return doc
	}
	return doc[:i+len(start)] + body + doc[j:]
}

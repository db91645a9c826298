package compat

// kcat (librdkafka 2.x): `kcat -P` writes lines of key<TAB>value, one run
// per header set because -H applies to every record of a run; `kcat -C -J`
// reads all partitions to their end as JSON lines. kcat does not report
// offsets, so what it wrote is matched by key. Data is text (hex): kcat
// splits lines and prints JSON strings.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
)

func TestKcat(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		if os.Getenv("CI") == "" {
			t.Skip("kcat is not installed (apt-get install kcat); CI requires it")
		}
		t.Fatalf("kcat is required in CI: %v", err)
	}
	addr := serverAddr(t)
	c := client{
		name:    "kcat",
		opts:    kcatOpts,
		produce: kcatProduce,
		consume: kcatConsume,
	}
	runClient(t, addr, c)
	runScenarios(t, addr, kcatScenarios(c))
	runGroupScenarios(t, addr, kcatGroups())
	runEOSScenarios(t, addr, kcatEOS())
}

// kcatOpts: with -Z an empty key or value is sent as null, so there are
// nulls but no empty keys or values, and keys stay non-null to match by.
// `-H name` sends a null header value, `-H name=` an empty one.
var kcatOpts = genOpts{
	text:             true,
	nullValues:       true,
	nullHeaderValues: true,
	headerSets: [][]header{
		nil,
		{{"trace-id", []byte("4bf92f3577b34da6a3ce929d0e0e4736")}},
		{{"a", []byte("1")}, {"empty", []byte{}}, {"null", nil}},
		{{"dup", []byte("first")}, {"dup", []byte("second")}},
	},
}

// kcatArgs are the common arguments. librdkafka logs everything with
// STRATA_TEST_LOG=debug; otherwise the reader logs its fetches, which
// runKcat shows only if kcat fails.
func kcatArgs(mode, addr, topic string) []string {
	args := append([]string{mode, "-b", hostPort(addr), "-t", topic}, kcatSecurity(addr)...)
	switch {
	case debugLogs():
		args = append(args, "-d", "broker,protocol,topic,msg,fetch")
	case mode == "-C":
		args = append(args, "-d", "fetch")
	}
	return args
}

func kcatProduce(t *testing.T, addr, topic, codec string, recs []record) map[pos]record {
	t.Helper()
	for start := 0; start < len(recs); {
		end := start + 1
		for end < len(recs) && sameHeaders(recs[end].Headers, recs[start].Headers) {
			end++
		}
		kcatProduceRun(t, addr, topic, codec, recs[start:end])
		start = end
	}
	return nil
}

// kcatProduceRun writes records that share one header set with one kcat.
func kcatProduceRun(t *testing.T, addr, topic, codec string, recs []record) {
	t.Helper()
	args := append(kcatArgs("-P", addr, topic), "-z", codec, "-K", `\t`, "-Z",
		"-X", "acks=all", "-X", "enable.idempotence=false", "-X", "linger.ms=5")
	for _, h := range recs[0].Headers {
		if h.Value == nil {
			args = append(args, "-H", h.Key)
		} else {
			args = append(args, "-H", h.Key+"="+string(h.Value))
		}
	}
	var in bytes.Buffer
	for i, r := range recs {
		if r.Key == nil || len(r.Value) == 0 && r.Value != nil ||
			bytes.ContainsAny(r.Key, "\t\n") || bytes.ContainsAny(r.Value, "\t\n") {
			t.Fatalf("record %d cannot be written by kcat: %+v", i, r)
		}
		in.Write(r.Key)
		in.WriteByte('\t')
		in.Write(r.Value) // null: nothing, which -Z turns into null
		in.WriteByte('\n')
	}
	cmd := kcatCommand(t, args...)
	cmd.Stdin = &in
	runKcat(t, cmd)
}

func sameHeaders(a, b []header) bool {
	return diff(record{Headers: a}, record{Headers: b}) == ""
}

// kcatMessage is a line of `kcat -C -J`; null keys, payloads and header
// values are JSON nulls. Headers alternate name and value.
type kcatMessage struct {
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	Key       *string   `json:"key"`
	Payload   *string   `json:"payload"`
	Headers   []*string `json:"headers"`
}

func kcatConsume(t *testing.T, addr, topic string, ends map[int32]int64) map[pos]record {
	t.Helper()
	cmd := kcatCommand(t, append(kcatArgs("-C", addr, topic), "-o", "beginning", "-e", "-J")...)
	out := runKcat(t, cmd)
	col := newCollector("kcat read " + topic)
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 4<<20) // records/large: a line of over 1 MB
	for sc.Scan() {
		var m kcatMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("kcat output line %q: %v", sc.Bytes(), err)
		}
		r := record{Key: strBytes(m.Key), Value: strBytes(m.Payload)}
		if len(m.Headers)%2 != 0 {
			t.Fatalf("kcat headers %v: odd length", m.Headers)
		}
		for i := 0; i < len(m.Headers); i += 2 {
			if m.Headers[i] == nil {
				t.Fatalf("kcat headers %v: null name", m.Headers)
			}
			r.Headers = append(r.Headers, header{*m.Headers[i], strBytes(m.Headers[i+1])})
		}
		col.add(pos{m.Partition, m.Offset}, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	got := col.result(t)
	for p, end := range ends {
		if _, ok := got[pos{p, end - 1}]; end > 0 && !ok {
			t.Fatalf("kcat read %s: partition %d: no record at its last offset %d", topic, p, end-1)
		}
	}
	return got
}

func strBytes(s *string) []byte {
	if s == nil {
		return nil
	}
	return []byte(*s)
}

// kcatCommand is kcat with args, killed if it runs for over a minute.
func kcatCommand(t *testing.T, args ...string) *exec.Cmd {
	return exec.CommandContext(brokertest.Context(t, time.Minute), "kcat", args...)
}

// runKcat runs kcat and returns its stdout. It fails the test if kcat fails
// or librdkafka logs an error (a "%3|" or lower syslog level line, or kcat's
// "% ERROR"); warnings go to the test log.
func runKcat(t *testing.T, cmd *exec.Cmd) []byte {
	t.Helper()
	stdout, err := execKcat(t, cmd)
	if err != nil {
		t.Fatal(err)
	}
	return stdout
}

// execKcat runs kcat and returns its stdout, or an error carrying the
// error lines and the end of stderr if kcat failed or logged an error.
func execKcat(t *testing.T, cmd *exec.Cmd) ([]byte, error) {
	t.Helper()
	return execKcatIgnoring(t, cmd, nil)
}

// execKcatIgnoring is execKcat for which the error lines that ignore
// (unless nil) accepts are no failure.
func execKcatIgnoring(t *testing.T, cmd *exec.Cmd, ignore func(line string) bool) ([]byte, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var problems []string
	for _, line := range strings.Split(stderr.String(), "\n") {
		switch {
		case ignore != nil && ignore(line):
		case strings.HasPrefix(line, "% ERROR"), strings.HasPrefix(line, "% Delivery failed"),
			strings.HasPrefix(line, "%0|"), strings.HasPrefix(line, "%1|"),
			strings.HasPrefix(line, "%2|"), strings.HasPrefix(line, "%3|"):
			problems = append(problems, line)
		case strings.HasPrefix(line, "%4|"):
			t.Logf("kcat warning: %s", line)
		case debugLogs() && line != "":
			fmt.Fprintln(os.Stderr, line)
		}
	}
	if err != nil || len(problems) > 0 {
		return nil, fmt.Errorf("%v: %v\n%s\nstderr ends:\n%s", cmd.Args[:min(6, len(cmd.Args))], err,
			strings.Join(problems, "\n"), tail(stderr.String(), 60))
	}
	return stdout.Bytes(), nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

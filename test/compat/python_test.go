package compat

// Python clients, from Debian's packages (install/python.sh):
//
//   - confluent-kafka-python 1.7 on librdkafka 2.0, driven by
//     drivers/python/ck.py;
//   - kafka-python 2.0.2, pure Python, driven by drivers/python/kp.py. It
//     asks the broker for its versions (ApiVersions) and infers a broker
//     version from them, or is told one (api_version); that version picks
//     its request versions.
//
// Debian's modules load only in Debian's interpreter, so drivers always run
// under /usr/bin/python3, never a python3 found on PATH. A driver runs one
// subcommand per process and prints JSON lines (format in
// drivers/python/common.py): Go writes the records, runs the driver, and
// checks its output, with kgo as the reference.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
)

// pyInterpreter is Debian's Python, the only one that sees Debian's modules.
const pyInterpreter = "/usr/bin/python3"

// pyModules are the modules the drivers import; kafka-python needs snappy,
// lz4 and zstandard for those codecs and uses crc32c's C code when present.
const pyModules = "confluent_kafka, kafka, snappy, lz4.frame, zstandard, crc32c"

// pyClient is one Python client and what it can do.
type pyClient struct {
	name   string // matrix column
	script string // driver, relative to this package's directory
	opts   genOpts
	// codecConf are client settings for the codec cells' writes.
	codecConf []string
	// largeConf raises the client's own size limit so that the 1,100,000
	// byte record of records/large reaches the broker and is refused there.
	largeConf []string
	// noNullRecord: the client refuses a record whose key and value are
	// both null, so such records are written with an empty value.
	noNullRecord bool
	// idempotentConf are the client settings that turn on its idempotent
	// producer (producer/idempotent).
	idempotentConf []string
	// noIdempotence, noTransactions and noIsolation say why the client has
	// no idempotent producer, no transactional producer, or no consumer
	// isolation level (python_eos_test.go); empty means it has one.
	noIdempotence, noTransactions, noIsolation string
	// oldConfs are client settings that make it send request versions
	// older than Strata serves (versions/unsupported), each run in turn.
	oldConfs []pyOldConf
	// inferredVersion: the client infers a broker version from ApiVersions
	// (kafka-python), which versions/unsupported checks is recent enough.
	inferredVersion bool
}

// pyOldConf is one way to make a client speak an old protocol.
type pyOldConf struct {
	label string
	conf  []string
}

var pyClients = []pyClient{
	{
		name:           "confluent-kafka-python",
		script:         "drivers/python/ck.py",
		opts:           binaryOpts,
		largeConf:      []string{"message.max.bytes=2000000"},
		idempotentConf: []string{"enable.idempotence=true"},
		// Without ApiVersions and with the 0.9.0 fallback (the newest that
		// does not turn ApiVersions back on), librdkafka sends Metadata v0,
		// Produce v1 (message format v0) and Fetch v1.
		oldConfs: []pyOldConf{{"fallback 0.9.0", []string{"api.version.request=false", "broker.version.fallback=0.9.0"}}},
	},
	{
		name:   "kafka-python",
		script: "drivers/python/kp.py",
		// kafka-python's producer takes only bytes header values.
		opts: genOpts{nullKeys: true, nullValues: true, emptyValues: true},
		// Full batches: kafka-python sends a batch uncompressed when the
		// codec does not shrink it, which small batches often are not.
		codecConf:      []string{"linger_ms=100"},
		largeConf:      []string{"max_request_size=2000000"},
		noNullRecord:   true,
		noIdempotence:  "kafka-python 2.0.2 has no idempotent producer",
		noTransactions: "kafka-python 2.0.2 has no transactional producer",
		noIsolation: "kafka-python 2.0.2's consumer has no isolation level (it always fetches read_uncommitted) " +
			"and returns the records of control batches (transaction markers) as ordinary records",
		// Told an old broker version, kafka-python sends old requests:
		// 0.10.1 Produce v2 and Fetch v3, 0.9 Produce v1 and ListOffsets v0.
		oldConfs: []pyOldConf{
			{"api_version 0.10.1", []string{"api_version=0.10.1"}},
			{"api_version 0.9", []string{"api_version=0.9"}},
		},
		inferredVersion: true,
	},
}

func TestPython(t *testing.T) {
	pyRequire(t)
	for _, c := range pyClients {
		t.Run(c.name, func(t *testing.T) {
			addr := serverAddr(t)
			t.Logf("%s", c.run(t, time.Minute, "version", addr, "-")[0])
			cl := client{name: c.name, opts: c.opts, produce: c.produceCodec, consume: c.consume}
			runClient(t, addr, cl)
			runScenarios(t, addr, c.scenarios(cl))
			runGroupScenarios(t, addr, c.groups())
			runEOSScenarios(t, addr, c.eos())
			cell(t, c.name, "versions/unsupported", func(t *testing.T) { c.oldVersions(t, addr) })
		})
	}
}

// pyRequire skips, or in CI fails, when the interpreter or a module is
// missing.
func pyRequire(t *testing.T) {
	t.Helper()
	out, err := exec.Command(pyInterpreter, "-c", "import "+pyModules).CombinedOutput()
	if err == nil {
		return
	}
	msg := fmt.Sprintf("%s cannot import %s (run install/python.sh): %v\n%s", pyInterpreter, pyModules, err, out)
	if os.Getenv("CI") == "" {
		t.Skip(msg + "; CI requires them")
	}
	t.Fatal(msg)
}

// pyRecord is a record as the drivers read and print it. nil Key or Value
// is JSON null; encoding/json carries bytes as base64.
type pyRecord struct {
	Partition *int32     `json:"partition,omitempty"`
	Offset    int64      `json:"offset,omitempty"`
	Timestamp *int64     `json:"timestamp,omitempty"`
	Key       []byte     `json:"key"`
	Value     []byte     `json:"value"`
	Headers   []pyHeader `json:"headers,omitempty"`
}

type pyHeader struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

func (r pyRecord) record() record {
	out := record{Key: r.Key, Value: r.Value}
	for _, h := range r.Headers {
		out.Headers = append(out.Headers, header{h.Key, h.Value})
	}
	return out
}

// pyError is an error as a driver reports it: the Kafka error code and
// name where the client gives them (code -1 otherwise).
type pyError struct {
	Code    int16  `json:"code"`
	Name    string `json:"name"`
	Type    string `json:"type"`
	Message string `json:"message"`
}

func (e *pyError) Error() string {
	if e == nil {
		return "no error"
	}
	return fmt.Sprintf("%s (%d): %s", e.Name, e.Code, e.Message)
}

// pyDelivery is produce's report on input record I.
type pyDelivery struct {
	I         int      `json:"i"`
	Partition int32    `json:"partition"`
	Offset    int64    `json:"offset"`
	Error     *pyError `json:"error"`
}

// run runs a driver subcommand against addr and topic and returns its
// output lines. It fails the test if the driver fails; the driver's own
// deadline is timeout, the process is killed 30 s later.
func (c pyClient) run(t *testing.T, timeout time.Duration, command, addr, topic string, args ...string) [][]byte {
	t.Helper()
	argv := append([]string{c.script, command, "--bootstrap", addr, "--topic", topic,
		"--timeout", strconv.FormatFloat(timeout.Seconds(), 'f', 0, 64)}, args...)
	cmd := exec.CommandContext(brokertest.Context(t, timeout+30*time.Second), pyInterpreter, argv...)
	// No __pycache__ in the source tree.
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if debugLogs() {
		cmd.Stderr = io.MultiWriter(&stderr, os.Stderr)
	}
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s after %v: %v\nstderr ends:\n%s", c.name, command, time.Since(start).Round(time.Millisecond),
			err, tail(stderr.String(), 40))
	}
	if stderr.Len() > 0 && !debugLogs() {
		t.Logf("%s %s stderr:\n%s", c.name, command, tail(stderr.String(), 10))
	}
	var lines [][]byte
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 8<<20) // a 1 MB record is 1.4 MB of base64
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	return lines
}

// pyDecode decodes a driver's output lines into Ts.
func pyDecode[T any](t *testing.T, lines [][]byte) []T {
	t.Helper()
	out := make([]T, len(lines))
	for i, l := range lines {
		if err := json.Unmarshal(l, &out[i]); err != nil {
			t.Fatalf("driver output line %.200q: %v", l, err)
		}
	}
	return out
}

// pyInput turns records into driver input, all to partition (unless nil)
// and with timestamps from ts (unless nil).
func pyInput(recs []record, partition *int32, ts func(i int) int64) []pyRecord {
	in := make([]pyRecord, len(recs))
	for i, r := range recs {
		in[i] = pyRecord{Partition: partition, Key: r.Key, Value: r.Value}
		for _, h := range r.Headers {
			in[i].Headers = append(in[i].Headers, pyHeader{h.Key, h.Value})
		}
		if ts != nil {
			ms := ts(i)
			in[i].Timestamp = &ms
		}
	}
	return in
}

// writable returns recs as the client can write them.
func (c pyClient) writable(recs []record) []record {
	if !c.noNullRecord {
		return recs
	}
	out := make([]record, len(recs))
	for i, r := range recs {
		if r.Key == nil && r.Value == nil {
			r.Value = []byte{}
		}
		out[i] = r
	}
	return out
}

// produce writes in with the driver and returns one report per record,
// in input order.
func (c pyClient) produce(t *testing.T, addr, topic, codec string, in []pyRecord, conf ...string) []pyDelivery {
	t.Helper()
	path := filepath.Join(t.TempDir(), "records.jsonl")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, r := range in {
		if err := enc.Encode(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	args := []string{"--codec", codec, "--in", path}
	for _, kv := range conf {
		args = append(args, "--conf", kv)
	}
	ds := pyDecode[pyDelivery](t, c.run(t, 3*time.Minute, "produce", addr, topic, args...))
	if len(ds) != len(in) {
		t.Fatalf("%s produce: %d reports for %d records", c.name, len(ds), len(in))
	}
	for i, d := range ds {
		if d.I != i {
			t.Fatalf("%s produce: report %d is about record %d", c.name, i, d.I)
		}
	}
	return ds
}

// produceCodec is runClient's produce: every record must be acknowledged.
func (c pyClient) produceCodec(t *testing.T, addr, topic, codec string, recs []record) map[pos]record {
	t.Helper()
	recs = c.writable(recs)
	sent := make(map[pos]record, len(recs))
	for i, d := range c.produce(t, addr, topic, codec, pyInput(recs, nil, nil), c.codecConf...) {
		if d.Error != nil {
			t.Fatalf("%s produce: record %d: %v", c.name, i, d.Error)
		}
		at := pos{d.Partition, d.Offset}
		if _, dup := sent[at]; dup {
			t.Fatalf("%s produce: two records acknowledged at %v", c.name, at)
		}
		sent[at] = recs[i]
	}
	return sent
}

// consume reads each partition of topic from its start to its end offset
// in ends.
func (c pyClient) consume(t *testing.T, addr, topic string, ends map[int32]int64) map[pos]record {
	t.Helper()
	lines := c.run(t, 3*time.Minute, "consume", addr, topic, "--ends", pyEnds(ends))
	col := newCollector(c.name + " read " + topic)
	for _, l := range lines {
		var m struct {
			pyRecord
			Error *pyError `json:"error"`
		}
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("%s consume output %.200q: %v", c.name, l, err)
		}
		if m.Error != nil {
			t.Fatalf("%s consume %s: %v", c.name, topic, m.Error)
		}
		if m.Partition == nil {
			t.Fatalf("%s consume output %.200q: no partition", c.name, l)
		}
		col.add(pos{*m.Partition, m.Offset}, m.record())
	}
	got := col.result(t)
	for p, end := range ends {
		if _, ok := got[pos{p, end - 1}]; end > 0 && !ok {
			t.Fatalf("%s read %s: partition %d: no record at its last offset %d", c.name, topic, p, end-1)
		}
	}
	return got
}

// pyEnds is the drivers' --ends argument: partition:end,...
func pyEnds(ends map[int32]int64) string {
	spec := make([]string, 0, len(ends))
	for p, end := range ends {
		spec = append(spec, fmt.Sprintf("%d:%d", p, end))
	}
	return strings.Join(spec, ",")
}

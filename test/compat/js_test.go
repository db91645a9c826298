package compat

// JavaScript clients on Node.js, installed into drivers/js/node_modules by
// install/node.sh (versions pinned in drivers/js/package.json and its
// lockfile):
//
//   - kafkajs 2.2, pure JavaScript, driven by drivers/js/kafkajs.mjs. Its
//     Consumer works only in a group and from committed offsets, so the
//     record scenarios read exact offset ranges through the Cluster and
//     Broker objects under it (the same Fetch v11 requests, batch decoding
//     and codecs); the group scenarios use the Consumer (js_groups_test.go).
//   - confluent-kafka-javascript 1.10 (librdkafka 2.x built from its
//     bundled source), driven by drivers/js/ckjs.mjs with the node-rdkafka
//     style API, whose KafkaConsumer reads assigned partitions without a
//     group, or subscribes in one for the group scenarios.
//
// A driver runs one subcommand per process and prints JSON lines (format in
// drivers/js/common.mjs): Go writes the records, runs the driver and checks
// its output, with kgo as the reference.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// jsDir holds the drivers, package.json and node_modules.
const jsDir = "drivers/js"

// jsClient is one JavaScript client and what it can do.
type jsClient struct {
	name   string // matrix column
	script string // driver, in jsDir
	opts   genOpts
	// produceArgs are extra produce arguments for the scenarios' writes.
	produceArgs []string
	// missing says why the client cannot do a scenario.
	missing map[string]string
	// oldConf makes the client send request versions older than Strata
	// serves (versions/unsupported); nil means it cannot.
	oldConf []string
}

var jsClients = []jsClient{
	{
		name:   "kafkajs",
		script: "kafkajs.mjs",
		// kafkajs cannot write a null header value: it sizes every value
		// with Buffer.byteLength, which throws on null.
		opts: genOpts{nullKeys: true, nullValues: true, emptyValues: true},
		missing: map[string]string{
			"versions/unsupported": "kafkajs always picks request versions from ApiVersions and has no setting for older ones",
		},
	},
	{
		name:   "confluent-kafka-javascript",
		script: "ckjs.mjs",
		// Its producer takes no null header value, and sends an empty
		// value as null (it hands librdkafka the data pointer of an empty
		// Buffer, which is NULL); empty header values go as "" (see
		// ckjs.mjs). Nulls read back as themselves.
		opts: genOpts{nullKeys: true, nullValues: true},
		// librdkafka checks message.max.bytes (1000000) itself; lifting it
		// lets the broker be the one to refuse records/large's second
		// record.
		produceArgs: []string{"--max-message-bytes", "2000000"},
		missing: map[string]string{
			scConfigs: "confluent-kafka-javascript 1.10 has no describe or alter configs call in either of its APIs",
		},
		// Without ApiVersions and with the 0.9.0 fallback (the newest
		// that does not turn ApiVersions back on), librdkafka sends
		// Metadata v0, Produce v1 (message format v0) and Fetch v1.
		oldConf: []string{"--conf", "api.version.request=false,broker.version.fallback=0.9.0"},
	},
}

func TestJavaScript(t *testing.T) {
	for _, c := range jsClients {
		t.Run(c.name, func(t *testing.T) {
			c.require(t)
			addr := serverAddr(t)
			cl := client{name: c.name, opts: c.opts, produce: c.produceCodec, consume: c.consume}
			runClient(t, addr, cl)
			runScenarios(t, addr, c.scenarios(cl))
			runGroupScenarios(t, addr, c.groups())
			runEOSScenarios(t, addr, c.eos())
			if why, ok := c.missing["versions/unsupported"]; ok {
				unsupported(c.name, "versions/unsupported", why)
			} else {
				cell(t, c.name, "versions/unsupported", func(t *testing.T) { c.oldVersions(t, addr) })
			}
		})
	}
}

// require runs the driver's version subcommand, which loads every module
// the driver uses. It skips, or in CI fails, when node or a module is
// missing.
func (c jsClient) require(t *testing.T) {
	t.Helper()
	out, err := exec.Command("node", filepath.Join(jsDir, c.script), "version").CombinedOutput()
	if err == nil {
		t.Logf("%s: %s", c.name, bytes.TrimSpace(out))
		return
	}
	msg := fmt.Sprintf("node cannot run %s's driver (run install/node.sh): %v\n%s", c.name, err, tail(string(out), 20))
	if os.Getenv("CI") == "" {
		t.Skip(msg + "; CI requires it")
	}
	t.Fatal(msg)
}

// jsRecord is a record as the drivers read and print it; nil Key or Value
// is JSON null, and encoding/json carries bytes as base64.
type jsRecord struct {
	Partition *int32     `json:"p,omitempty"`
	Offset    int64      `json:"o,omitempty"`
	Timestamp *int64     `json:"ts,omitempty"`
	Key       []byte     `json:"k"`
	Value     []byte     `json:"v"`
	Headers   []jsHeader `json:"h"`
}

type jsHeader struct {
	Key   string `json:"k"`
	Value []byte `json:"v"`
}

func (r jsRecord) record() record {
	out := record{Key: r.Key, Value: r.Value}
	for _, h := range r.Headers {
		out.Headers = append(out.Headers, header{h.Key, h.Value})
	}
	return out
}

// jsInput is the driver input for recs, all to partition (unless nil) and
// with timestamps from ts (unless nil).
func jsInput(recs []record, partition *int32, ts func(i int) int64) []jsRecord {
	in := make([]jsRecord, len(recs))
	for i, r := range recs {
		in[i] = jsRecord{Partition: partition, Key: r.Key, Value: r.Value, Headers: []jsHeader{}}
		for _, h := range r.Headers {
			in[i].Headers = append(in[i].Headers, jsHeader{h.Key, h.Value})
		}
		if ts != nil {
			stamp := ts(i)
			in[i].Timestamp = &stamp
		}
	}
	return in
}

// jsError is an error as a driver reports it: the Kafka error code where
// the client gives one (-1 otherwise; librdkafka's own errors are
// negative), and the client's name for it.
type jsError struct {
	Code    int16  `json:"code"`
	Name    string `json:"name"`
	Message string `json:"message"`
}

func (e *jsError) Error() string { return fmt.Sprintf("%s (%d): %s", e.Name, e.Code, e.Message) }

// jsIsKerr reports whether err carries the Kafka error code of want.
func jsIsKerr(err error, want *kerr.Error) bool {
	var je *jsError
	return errors.As(err, &je) && je.Code == want.Code
}

// jsDelivery is produce's report on input record I.
type jsDelivery struct {
	I         int      `json:"i"`
	Partition int32    `json:"p"`
	Offset    int64    `json:"o"`
	Error     *jsError `json:"error"`
}

// run runs a driver subcommand against addr and topic and returns its
// output lines. It fails the test if the driver fails or outlives timeout.
func (c jsClient) run(t *testing.T, timeout time.Duration, command, addr, topic string, args ...string) [][]byte {
	t.Helper()
	argv := append([]string{filepath.Join(jsDir, c.script), command, "--bootstrap", addr, "--topic", topic}, args...)
	cmd := exec.CommandContext(brokertest.Context(t, timeout), "node", argv...)
	cmd.Env = append(os.Environ(), "KAFKAJS_NO_PARTITIONER_WARNING=1")
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
	if err := sc.Err(); err != nil {
		t.Fatalf("%s %s output: %v", c.name, command, err)
	}
	return lines
}

// jsDecode decodes a driver's output lines into Ts.
func jsDecode[T any](t *testing.T, lines [][]byte) []T {
	t.Helper()
	out := make([]T, len(lines))
	for i, l := range lines {
		if err := json.Unmarshal(l, &out[i]); err != nil {
			t.Fatalf("driver output line %q: %v", tail(string(l), 1), err)
		}
	}
	return out
}

// jsOne runs a subcommand that prints one JSON line and decodes it.
func jsOne[T any](t *testing.T, c jsClient, command, addr, topic string, args ...string) T {
	t.Helper()
	out := jsDecode[T](t, c.run(t, time.Minute, command, addr, topic, args...))
	if len(out) != 1 {
		t.Fatalf("%s %s printed %d lines, want 1", c.name, command, len(out))
	}
	return out[0]
}

// produce writes in to topic with codec and returns one report per input
// record, in input order.
func (c jsClient) produce(t *testing.T, addr, topic, codec string, in []jsRecord, args ...string) []jsDelivery {
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
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		t.Fatal(err)
	}
	args = append([]string{"--codec", codec, "--records", path}, args...)
	ds := jsDecode[jsDelivery](t, c.run(t, 3*time.Minute, "produce", addr, topic, args...))
	out := make([]jsDelivery, len(in))
	seen := make([]bool, len(in))
	for _, d := range ds {
		if d.I < 0 || d.I >= len(in) || seen[d.I] {
			t.Fatalf("%s produce: report on record %d of %d, or twice", c.name, d.I, len(in))
		}
		out[d.I], seen[d.I] = d, true
	}
	if len(ds) != len(in) {
		t.Fatalf("%s produce: %d reports on %d records", c.name, len(ds), len(in))
	}
	return out
}

// produceCodec is the codec cells' write: every record must be
// acknowledged, each at its own position.
func (c jsClient) produceCodec(t *testing.T, addr, topic, codec string, recs []record) map[pos]record {
	t.Helper()
	sent := make(map[pos]record, len(recs))
	for _, d := range c.produce(t, addr, topic, codec, jsInput(recs, nil, nil)) {
		if d.Error != nil {
			t.Fatalf("%s produce: record %d: %v", c.name, d.I, d.Error)
		}
		at := pos{d.Partition, d.Offset}
		if _, dup := sent[at]; dup {
			t.Fatalf("%s produce: two records acknowledged at %v", c.name, at)
		}
		sent[at] = recs[d.I]
	}
	return sent
}

// consume reads every partition from 0 to its end in ends.
func (c jsClient) consume(t *testing.T, addr, topic string, ends map[int32]int64) map[pos]record {
	t.Helper()
	col := newCollector(c.name + " read " + topic)
	for _, r := range jsDecode[jsRead](t, c.run(t, 3*time.Minute, "consume", addr, topic, "--ends", jsEnds(ends))) {
		if r.Error != nil {
			t.Fatalf("%s read %s after %d records: %v", c.name, topic, col.count(), r.Error)
		}
		if r.Partition == nil {
			t.Fatalf("%s consume: record without partition", c.name)
		}
		col.add(pos{*r.Partition, r.Offset}, r.record())
	}
	got := col.result(t)
	for p, end := range ends {
		if _, ok := got[pos{p, end - 1}]; end > 0 && !ok {
			t.Fatalf("%s read %s: partition %d: no record at its last offset %d", c.name, topic, p, end-1)
		}
	}
	return got
}

// jsRead is a line of consume: a record or, last, the error that ended it.
type jsRead struct {
	jsRecord
	Error *jsError `json:"error"`
}

// jsEnds is the --ends argument: a JSON object of partition to end offset.
func jsEnds(ends map[int32]int64) string {
	m := make(map[string]int64, len(ends))
	for p, end := range ends {
		m[strconv.Itoa(int(p))] = end
	}
	b, _ := json.Marshal(m) // cannot fail on a map of strings to ints
	return string(b)
}

// scenarios returns the shared scenarios' view of the client.
func (c jsClient) scenarios(cl client) scenarioClient {
	sc := scenarioClient{
		client: cl,
		produceP0: func(t *testing.T, addr, topic string, recs []record) error {
			return c.produceP0(t, addr, topic, recs, nil)
		},
		tooLarge: func(err error) bool { return jsIsKerr(err, kerr.MessageTooLarge) },
		produceTimed: func(t *testing.T, addr, topic string, recs []record, ts []time.Time) {
			if err := c.produceP0(t, addr, topic, recs, ts); err != nil {
				t.Fatalf("%s produce: %v", c.name, err)
			}
		},
		offsetForTime: c.offsetForTime,
		readAt:        c.readAt,
		listOffsets:   c.listOffsets,
		topics: &topicOps{
			create:   c.createTopic,
			describe: c.describeTopic,
			remove: func(t *testing.T, addr, topic string) error {
				return c.adminError(t, addr, "delete-topic", topic)
			},
			exists: func(err error) bool { return jsIsKerr(err, kerr.TopicAlreadyExists) },
		},
		missing: c.missing,
	}
	if _, ok := c.missing[scConfigs]; !ok {
		sc.configs = &configOps{describe: c.describeConfig, set: c.setConfig}
	}
	return sc
}

// produceP0 writes recs to partition 0, with timestamps ts unless nil, and
// returns the first error a record got. Offsets must follow input order.
func (c jsClient) produceP0(t *testing.T, addr, topic string, recs []record, ts []time.Time) error {
	t.Helper()
	var stamp func(int) int64
	if ts != nil {
		stamp = func(i int) int64 { return ts[i].UnixMilli() }
	}
	p0 := int32(0)
	ds := c.produce(t, addr, topic, "none", jsInput(recs, &p0, stamp), c.produceArgs...)
	for i, d := range ds {
		if d.Error != nil {
			return fmt.Errorf("record %d: %w", i, d.Error)
		}
		if d.Partition != 0 || i > 0 && d.Offset != ds[i-1].Offset+1 {
			t.Fatalf("%s produce: record %d for partition 0 landed at %v after %v",
				c.name, i, pos{d.Partition, d.Offset}, pos{ds[max(i-1, 0)].Partition, ds[max(i-1, 0)].Offset})
		}
	}
	return nil
}

func (c jsClient) offsetForTime(t *testing.T, addr, topic string, ts time.Time) int64 {
	t.Helper()
	out := jsOne[struct {
		Offset *int64 `json:"offset"`
	}](t, c, "offsets-for-times", addr, topic, "--partition", "0", "--times", strconv.FormatInt(ts.UnixMilli(), 10))
	if out.Offset == nil {
		t.Fatalf("%s offsets-for-times %v: no offset", c.name, ts)
	}
	return *out.Offset
}

func (c jsClient) readAt(t *testing.T, addr, topic string, offset int64) (int64, record) {
	t.Helper()
	r := jsOne[jsRecord](t, c, "read-at", addr, topic, "--partition", "0", "--offset", strconv.FormatInt(offset, 10))
	return r.Offset, r.record()
}

func (c jsClient) listOffsets(t *testing.T, addr, topic string, partition int32) (int64, int64) {
	t.Helper()
	out := jsOne[struct {
		Offsets []struct {
			Partition int32 `json:"p"`
			Earliest  int64 `json:"earliest"`
			Latest    int64 `json:"latest"`
		} `json:"offsets"`
		Error *jsError `json:"error"`
	}](t, c, "list-offsets", addr, topic)
	if out.Error != nil {
		t.Fatalf("%s list offsets of %s: %v", c.name, topic, out.Error)
	}
	for _, o := range out.Offsets {
		if o.Partition == partition {
			return o.Earliest, o.Latest
		}
	}
	t.Fatalf("%s list offsets of %s: no partition %d in %+v", c.name, topic, partition, out.Offsets)
	return 0, 0
}

// adminError runs an admin subcommand whose answer is {"error": ...} or a
// result the caller does not need.
func (c jsClient) adminError(t *testing.T, addr, command, topic string, args ...string) error {
	t.Helper()
	out := jsOne[struct {
		Error *jsError `json:"error"`
	}](t, c, command, addr, topic, args...)
	if out.Error != nil {
		return out.Error
	}
	return nil
}

// createTopic: kafkajs's createTopics resolves false, not an error, when
// the topic exists; that is its form of TOPIC_ALREADY_EXISTS.
func (c jsClient) createTopic(t *testing.T, addr, topic string, partitions int32, configs map[string]string) error {
	t.Helper()
	args := []string{"--partitions", strconv.Itoa(int(partitions)), "--replication-factor", strconv.Itoa(int(replicationFactor()))}
	if len(configs) > 0 {
		var kvs []string
		for _, k := range sortedKeys(configs) {
			kvs = append(kvs, k+"="+configs[k])
		}
		args = append(args, "--config", strings.Join(kvs, ","))
	}
	out := jsOne[struct {
		Created *bool    `json:"created"`
		Error   *jsError `json:"error"`
	}](t, c, "create-topic", addr, topic, args...)
	switch {
	case out.Error != nil:
		return out.Error
	case out.Created == nil:
		t.Fatalf("%s create-topic printed no result", c.name)
	case !*out.Created:
		return &jsError{Code: kerr.TopicAlreadyExists.Code, Name: "createTopics resolved false", Message: "topic exists"}
	}
	return nil
}

// describeTopic lists the cluster's topics and, if the topic is among
// them, describes it for its partitions.
func (c jsClient) describeTopic(t *testing.T, addr, topic string) (int, bool) {
	t.Helper()
	out := jsOne[struct {
		Listed     bool     `json:"listed"`
		Partitions int      `json:"partitions"`
		Error      *jsError `json:"error"`
	}](t, c, "describe-topic", addr, topic)
	if out.Error != nil {
		t.Fatalf("%s describe %s: %v", c.name, topic, out.Error)
	}
	return out.Partitions, out.Listed
}

// describeConfig returns a topic config's value and source, named from
// DescribeConfigs' config_source.
func (c jsClient) describeConfig(t *testing.T, addr, topic, key string) (string, string) {
	t.Helper()
	out := jsOne[struct {
		Configs []struct {
			Name   string  `json:"name"`
			Value  *string `json:"value"`
			Source *int8   `json:"source"`
		} `json:"configs"`
		Error *jsError `json:"error"`
	}](t, c, "describe-configs", addr, topic, "--names", key)
	if out.Error != nil {
		t.Fatalf("%s describe configs of %s: %v", c.name, topic, out.Error)
	}
	for _, cfg := range out.Configs {
		if cfg.Name != key || cfg.Value == nil {
			continue
		}
		src := ""
		if cfg.Source != nil {
			src = kmsg.ConfigSource(*cfg.Source).String()
		}
		return *cfg.Value, src
	}
	t.Fatalf("%s describe configs of %s: no value of %s in %+v", c.name, topic, key, out.Configs)
	return "", ""
}

// setConfig uses AlterConfigs: kafkajs has no IncrementalAlterConfigs.
func (c jsClient) setConfig(t *testing.T, addr, topic, key, value string) {
	t.Helper()
	if err := c.adminError(t, addr, "alter-configs", topic, "--config", key+"="+value); err != nil {
		t.Fatalf("%s alter %s of %s: %v", c.name, key, topic, err)
	}
}

// oldVersions is versions/unsupported: told to send versions older than
// Strata serves, the client must fail promptly with UNSUPPORTED_VERSION,
// not hang or retry forever, and nothing may be written.
func (c jsClient) oldVersions(t *testing.T, addr string) {
	topic := c.name + "-versions-unsupported"
	createTopic(t, addr, topic)
	kgoProduce(t, addr, topic, "none", []record{{Key: []byte("k"), Value: []byte("v")}})
	ends := endOffsets(t, addr, topic)
	// Far below the drivers' own limits: a client that retries or waits
	// on a dropped connection fails here.
	const prompt = 10 * time.Second
	start := time.Now()
	// No headers: message format v0 has none.
	in := jsInput([]record{{Key: []byte("old"), Value: []byte("client")}}, nil, nil)
	d := c.produce(t, addr, topic, "none", in, c.oldConf...)[0]
	if took := time.Since(start); d.Error == nil || d.Error.Code != kerr.UnsupportedVersion.Code || took > prompt {
		t.Fatalf("produce: %v after %v; want UNSUPPORTED_VERSION (35) within %v", d.Error, took, prompt)
	}
	start = time.Now()
	args := append([]string{"--ends", jsEnds(ends), "--idle", "15"}, c.oldConf...)
	lines := c.run(t, time.Minute, "consume", addr, topic, args...)
	res := jsDecode[jsRead](t, lines)
	if took := time.Since(start); len(res) != 1 || res[0].Error == nil ||
		res[0].Error.Code != kerr.UnsupportedVersion.Code || took > prompt {
		t.Fatalf("consume printed %q after %v; want only UNSUPPORTED_VERSION (35) within %v", lines, took, prompt)
	}
	t.Logf("produce and consume fail with %v", res[0].Error)
	if now := endOffsets(t, addr, topic); !maps.Equal(now, ends) {
		t.Fatalf("end offsets moved from %v to %v: an old client's write was stored", ends, now)
	}
}

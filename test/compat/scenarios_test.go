package compat

// The scenarios beyond the codecs (records/large, offsets/by-timestamp and
// the admin/ rows of SCENARIOS.md), shared by the Go-driven clients. Each
// client fills a scenarioClient with what its API can do; runScenarios
// drives every scenario the same way and checks the results, with kgo and
// kadm as the reference where a second opinion is needed. The scenarios use
// partition 0 of a fresh 12-partition topic (createTopic), so that the
// codec cells' consume functions read them unchanged.

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Scenario names outside the codec rows.
const (
	scLarge       = "records/large"
	scByTimestamp = "offsets/by-timestamp"
	scTopics      = "admin/topics"
	scConfigs     = "admin/configs"
	scListOffsets = "admin/list-offsets"
)

// Sizes of records/large: the first value fits below the topic default
// max.message.bytes (1048588) with its key, header and batch overhead; the
// second does not.
const (
	largeValue    = 1_000_000
	tooLargeValue = 1_100_000
)

// Topic config values of the admin scenarios: retention.ms's default, and
// the values the scenarios set.
const (
	defaultRetentionMs = "604800000"
	createRetentionMs  = "3600000"
	alterRetentionMs   = "86400000"
)

// scenarioClient is what a client offers for the scenarios. A nil func
// means the client cannot do the scenarios that need it; missing then says
// why, by scenario. The client's consume func (from the codec cells) reads
// what was written.
type scenarioClient struct {
	client
	// produceP0 writes recs to partition 0 of topic in order and waits
	// for their acknowledgements; it returns the client's error as is.
	produceP0 func(t *testing.T, addr, topic string, recs []record) error
	// tooLarge reports whether err is the client's form of
	// MESSAGE_TOO_LARGE coming from the broker.
	tooLarge func(err error) bool
	// produceTimed writes recs to partition 0 with CreateTime timestamps
	// ts; nil means kgo writes them and only the lookups are the client's.
	produceTimed func(t *testing.T, addr, topic string, recs []record, ts []time.Time)
	// offsetForTime is the client's offsets-for-times lookup on partition 0:
	// the first offset whose timestamp is at or after ts.
	offsetForTime func(t *testing.T, addr, topic string, ts time.Time) int64
	// readAt seeks partition 0 to offset and returns the first record read
	// and its offset.
	readAt func(t *testing.T, addr, topic string, offset int64) (int64, record)
	// listOffsets returns a partition's earliest and latest offsets.
	listOffsets func(t *testing.T, addr, topic string, partition int32) (earliest, latest int64)
	topics      *topicOps
	configs     *configOps
	// missing says why the client cannot do a scenario.
	missing map[string]string
}

// topicOps are a client's topic admin calls.
type topicOps struct {
	create func(t *testing.T, addr, topic string, partitions int32, configs map[string]string) error
	// describe returns the topic's partition count, or found false.
	describe func(t *testing.T, addr, topic string) (partitions int, found bool)
	remove   func(t *testing.T, addr, topic string) error
	// exists reports whether err is the client's TOPIC_ALREADY_EXISTS.
	exists func(err error) bool
}

// configOps are a client's topic config calls. Sources are Kafka's names
// (DEFAULT_CONFIG, DYNAMIC_TOPIC_CONFIG, ...), or "" if the client does not
// show them.
type configOps struct {
	describe func(t *testing.T, addr, topic, key string) (value, source string)
	// set changes one config, incrementally where the client can.
	set func(t *testing.T, addr, topic, key, value string)
}

// runScenarios runs every non-codec scenario for c against the node at
// addr.
func runScenarios(t *testing.T, addr string, c scenarioClient) {
	type scenario struct {
		name string
		can  bool
		run  func(t *testing.T, addr string, c scenarioClient)
	}
	for _, s := range []scenario{
		{scLarge, c.produceP0 != nil && c.tooLarge != nil, runLarge},
		{scByTimestamp, c.offsetForTime != nil && c.readAt != nil, runByTimestamp},
		{scTopics, c.topics != nil, runTopics},
		{scConfigs, c.configs != nil, runConfigs},
		{scListOffsets, c.produceP0 != nil && c.listOffsets != nil, runListOffsets},
	} {
		why, isMissing := c.missing[s.name]
		switch {
		case isMissing:
			unsupported(c.name, s.name, why)
		case !s.can:
			t.Fatalf("%s: %s: the client offers no API for it and no reason why", c.name, s.name)
		default:
			cell(t, c.name, s.name, func(t *testing.T) { s.run(t, addr, c) })
		}
	}
}

// scenarioTopic is the topic of one scenario of one client; each client
// runs against a node of its own, so the name is fresh.
func scenarioTopic(c scenarioClient, scenario string) string {
	return c.name + "-" + strings.ReplaceAll(scenario, "/", "-")
}

// runLarge: a record of 1,000,000 bytes round-trips; one of 1,100,000 is
// refused with MESSAGE_TOO_LARGE and nothing is appended.
func runLarge(t *testing.T, addr string, c scenarioClient) {
	rng := brokertest.Rand(t)
	topic := scenarioTopic(c, scLarge)
	createTopic(t, addr, topic)
	big := largeRecord(rng, largeValue, c.opts.text)
	if err := c.produceP0(t, addr, topic, []record{big}); err != nil {
		t.Fatalf("%s: write a record of %d bytes: %v", c.name, largeValue, err)
	}
	want := map[pos]record{{0, 0}: big}
	checkByPos(t, c.name+" wrote, kgo read", want, kgoConsume(t, addr, topic, ""))
	checkByPos(t, c.name+" wrote, "+c.name+" read", c.readable(want),
		c.readable(c.consume(t, addr, topic, endOffsets(t, addr, topic))))

	err := c.produceP0(t, addr, topic, []record{largeRecord(rng, tooLargeValue, c.opts.text)})
	if err == nil || !c.tooLarge(err) {
		t.Fatalf("%s: write a record of %d bytes: error %v, want MESSAGE_TOO_LARGE", c.name, tooLargeValue, err)
	}
	t.Logf("%s refused the record of %d bytes: %v", c.name, tooLargeValue, err)
	if end := endOffsets(t, addr, topic)[0]; end != 1 {
		t.Fatalf("after the refused write partition 0 ends at %d, want 1", end)
	}
}

func largeRecord(rng *rand.Rand, size int, text bool) record {
	return record{
		Key:     []byte("large-key"),
		Value:   randomBytes(rng, size, text),
		Headers: []header{{"large-header", []byte("v")}},
	}
}

// runByTimestamp: 100 records at t0 + i s; the lookups of t0 + 50 s and
// t0 + 50.5 s give 50 and 51, and a read from 50 starts with record 50.
func runByTimestamp(t *testing.T, addr string, c scenarioClient) {
	const n = 100
	rng := brokertest.Rand(t)
	topic := scenarioTopic(c, scByTimestamp)
	createTopic(t, addr, topic)
	// Whole seconds an hour ago: in the past, so the broker accepts the
	// timestamps under any message.timestamp.*.ms setting's default.
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	recs := make([]record, n)
	ts := make([]time.Time, n)
	for i := range recs {
		recs[i] = record{Key: fmt.Appendf(nil, "ts-%03d", i), Value: randomBytes(rng, 1+rng.IntN(100), c.opts.text)}
		ts[i] = t0.Add(time.Duration(i) * time.Second)
	}
	if c.produceTimed != nil {
		c.produceTimed(t, addr, topic, recs, ts)
	} else {
		kgoProduceTimed(t, addr, topic, recs, ts)
	}
	for _, q := range []struct {
		at   time.Duration
		want int64
	}{{50 * time.Second, 50}, {50*time.Second + 500*time.Millisecond, 51}, {0, 0}} {
		if got := c.offsetForTime(t, addr, topic, t0.Add(q.at)); got != q.want {
			t.Errorf("%s: offset for t0+%v: %d, want %d", c.name, q.at, got, q.want)
		}
	}
	off, r := c.readAt(t, addr, topic, 50)
	if off != 50 {
		t.Fatalf("%s: seek to 50 read offset %d first", c.name, off)
	}
	if d := diff(recs[50], r); d != "" {
		t.Fatalf("%s: record at 50: %s", c.name, d)
	}
}

// kgoProduceTimed writes recs to partition 0 with timestamps ts.
func kgoProduceTimed(t *testing.T, addr, topic string, recs []record, ts []time.Time) {
	t.Helper()
	cl := brokertest.Client(t, addr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.DisableIdempotentWrite())
	krs := make([]*kgo.Record, len(recs))
	for i, r := range recs {
		krs[i] = &kgo.Record{Key: r.Key, Value: r.Value, Timestamp: ts[i], Partition: 0}
	}
	if err := cl.ProduceSync(brokertest.Context(t, time.Minute), krs...).FirstErr(); err != nil {
		t.Fatalf("kgo produce: %v", err)
	}
}

// runTopics: create with 3 partitions and an override, describe, create
// again (TOPIC_ALREADY_EXISTS), delete, and the topic is gone.
func runTopics(t *testing.T, addr string, c scenarioClient) {
	ops := c.topics
	topic := scenarioTopic(c, scTopics)
	if err := ops.create(t, addr, topic, 3, map[string]string{"retention.ms": createRetentionMs}); err != nil {
		t.Fatalf("%s: create %s: %v", c.name, topic, err)
	}
	waitTopicEverywhere(t, addr, topic)
	checkReplicationFactor(t, addr, topic)
	if n, found := ops.describe(t, addr, topic); !found || n != 3 {
		t.Fatalf("%s: describe %s: %d partitions, found %v; want 3", c.name, topic, n, found)
	}
	if v, src := kadmConfig(t, addr, topic, "retention.ms"); v != createRetentionMs || src != "DYNAMIC_TOPIC_CONFIG" {
		t.Errorf("kadm: retention.ms of %s is %s (%s), want %s (DYNAMIC_TOPIC_CONFIG)", topic, v, src, createRetentionMs)
	}
	err := ops.create(t, addr, topic, 3, nil)
	if err == nil || !ops.exists(err) {
		t.Fatalf("%s: create %s again: error %v, want TOPIC_ALREADY_EXISTS", c.name, topic, err)
	}
	if err := ops.remove(t, addr, topic); err != nil {
		t.Fatalf("%s: delete %s: %v", c.name, topic, err)
	}
	// Deletion may complete after the response; give it a few seconds.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, found := ops.describe(t, addr, topic)
		if !found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s still described with %d partitions 10s after its deletion", c.name, topic, n)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// runConfigs: retention.ms is the default, then the value set.
func runConfigs(t *testing.T, addr string, c scenarioClient) {
	ops := c.configs
	topic := scenarioTopic(c, scConfigs)
	createTopic(t, addr, topic)
	checkSource := func(step, src, want string) {
		if src != "" && src != want {
			t.Errorf("%s: %s: retention.ms source %s, want %s", c.name, step, src, want)
		}
	}
	v, src := ops.describe(t, addr, topic, "retention.ms")
	if v != defaultRetentionMs {
		t.Errorf("%s: retention.ms of a new topic is %q, want %s", c.name, v, defaultRetentionMs)
	}
	checkSource("new topic", src, "DEFAULT_CONFIG")
	ops.set(t, addr, topic, "retention.ms", alterRetentionMs)
	waitConfigEverywhere(t, addr, topic, "retention.ms", alterRetentionMs)
	v, src = ops.describe(t, addr, topic, "retention.ms")
	if v != alterRetentionMs {
		t.Errorf("%s: retention.ms after setting it is %q, want %s", c.name, v, alterRetentionMs)
	}
	checkSource("after set", src, "DYNAMIC_TOPIC_CONFIG")
	if v, src := kadmConfig(t, addr, topic, "retention.ms"); v != alterRetentionMs || src != "DYNAMIC_TOPIC_CONFIG" {
		t.Errorf("kadm: retention.ms is %s (%s), want %s (DYNAMIC_TOPIC_CONFIG)", v, src, alterRetentionMs)
	}
}

// runListOffsets: 10 records in partition 0 give earliest 0 and latest 10;
// an empty partition gives 0 and 0.
func runListOffsets(t *testing.T, addr string, c scenarioClient) {
	rng := brokertest.Rand(t)
	topic := scenarioTopic(c, scListOffsets)
	createTopic(t, addr, topic)
	recs := make([]record, 10)
	for i := range recs {
		recs[i] = record{Key: fmt.Appendf(nil, "lo-%d", i), Value: randomBytes(rng, 1+rng.IntN(50), c.opts.text)}
	}
	if err := c.produceP0(t, addr, topic, recs); err != nil {
		t.Fatalf("%s: write 10 records: %v", c.name, err)
	}
	for _, q := range []struct {
		partition              int32
		wantEarliest, wantLast int64
	}{{0, 0, 10}, {1, 0, 0}} {
		e, l := c.listOffsets(t, addr, topic, q.partition)
		if e != q.wantEarliest || l != q.wantLast {
			t.Errorf("%s: partition %d: earliest %d, latest %d; want %d and %d",
				c.name, q.partition, e, l, q.wantEarliest, q.wantLast)
		}
	}
}

// kadmConfig is the reference view of a topic config: value and source.
func kadmConfig(t *testing.T, addr, topic, key string) (string, string) {
	t.Helper()
	rcs, err := brokertest.Admin(t, addr).DescribeTopicConfigs(brokertest.Context(t, 10*time.Second), topic)
	if err != nil {
		t.Fatalf("kadm describe configs of %s: %v", topic, err)
	}
	rc, err := rcs.On(topic, nil)
	if err == nil {
		err = rc.Err
	}
	if err != nil {
		t.Fatalf("kadm describe configs of %s: %v", topic, err)
	}
	for _, cfg := range rc.Configs {
		if cfg.Key == key {
			return cfg.MaybeValue(), cfg.Source.String()
		}
	}
	t.Fatalf("kadm describe configs of %s: no %s among %v", topic, key, configKeys(rc.Configs))
	return "", ""
}

func configKeys(cs []kadm.Config) []string {
	keys := make([]string, len(cs))
	for i, c := range cs {
		keys[i] = c.Key
	}
	return keys
}

// sortedKeys is for error messages.
func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// atoi64 parses a decimal offset printed by a tool.
func atoi64(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return n
}

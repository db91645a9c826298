package compat

// The Python clients' scenarios beyond codec/*: the shared ones
// (scenarios_test.go) through driver subcommands, and versions/unsupported
// through old-protocol settings of each client.

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// scenarios returns the shared scenarios' view of the client; c.run starts
// one driver process per call.
func (c pyClient) scenarios(cl client) scenarioClient {
	sc := scenarioClient{
		client: cl,
		produceP0: func(t *testing.T, addr, topic string, recs []record) error {
			// largeConf only lifts the client's own limit, so that the
			// broker is the one to refuse records/large's second record.
			return c.produceTo0(t, addr, topic, recs, nil, c.largeConf...)
		},
		tooLarge: func(err error) bool { return pyIsKerr(err, kerr.MessageTooLarge) },
		produceTimed: func(t *testing.T, addr, topic string, recs []record, ts []time.Time) {
			if err := c.produceTo0(t, addr, topic, recs, ts); err != nil {
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
			exists: func(err error) bool { return pyIsKerr(err, kerr.TopicAlreadyExists) },
		},
		configs: &configOps{describe: c.describeConfig, set: c.setConfig},
	}
	return sc
}

// produceTo0 writes recs to partition 0, with timestamps ts unless nil,
// and returns the first error a record got.
func (c pyClient) produceTo0(t *testing.T, addr, topic string, recs []record, ts []time.Time, conf ...string) error {
	t.Helper()
	recs = c.writable(recs)
	var stamp func(int) int64
	if ts != nil {
		stamp = func(i int) int64 { return ts[i].UnixMilli() }
	}
	p0 := int32(0)
	for i, d := range c.produce(t, addr, topic, "none", pyInput(recs, &p0, stamp), conf...) {
		if d.Error != nil {
			return fmt.Errorf("record %d: %w", i, d.Error)
		}
		if d.Partition != 0 {
			t.Fatalf("%s produce: record %d for partition 0 landed in %d", c.name, i, d.Partition)
		}
	}
	return nil
}

// pyIsKerr reports whether err carries the Kafka error code of want.
func pyIsKerr(err error, want *kerr.Error) bool {
	var pe *pyError
	return errors.As(err, &pe) && pe.Code == want.Code
}

func (c pyClient) offsetForTime(t *testing.T, addr, topic string, ts time.Time) int64 {
	t.Helper()
	out := pyOne[struct {
		Offset *int64   `json:"offset"`
		Error  *pyError `json:"error"`
	}](t, c, time.Minute, "offsets-for-times", addr, topic, "--partition", "0", "--times", strconv.FormatInt(ts.UnixMilli(), 10))
	if out.Error != nil || out.Offset == nil {
		t.Fatalf("%s offsets-for-times %v: %v (offset found: %v)", c.name, ts, out.Error, out.Offset != nil)
	}
	return *out.Offset
}

func (c pyClient) readAt(t *testing.T, addr, topic string, offset int64) (int64, record) {
	t.Helper()
	out := pyOne[struct {
		pyRecord
		Error *pyError `json:"error"`
	}](t, c, time.Minute, "read-at", addr, topic, "--partition", "0", "--offset", strconv.FormatInt(offset, 10))
	if out.Error != nil {
		t.Fatalf("%s read-at %d: %v", c.name, offset, out.Error)
	}
	return out.Offset, out.record()
}

func (c pyClient) listOffsets(t *testing.T, addr, topic string, partition int32) (int64, int64) {
	t.Helper()
	out := pyOne[struct {
		Earliest int64 `json:"earliest"`
		Latest   int64 `json:"latest"`
	}](t, c, time.Minute, "list-offsets", addr, topic, "--partition", strconv.Itoa(int(partition)))
	return out.Earliest, out.Latest
}

// adminError runs an admin subcommand whose answer is {"error": ...}.
func (c pyClient) adminError(t *testing.T, addr, command, topic string, args ...string) error {
	t.Helper()
	out := pyOne[struct {
		Error *pyError `json:"error"`
	}](t, c, time.Minute, command, addr, topic, args...)
	if out.Error != nil {
		return out.Error
	}
	return nil
}

func (c pyClient) createTopic(t *testing.T, addr, topic string, partitions int32, configs map[string]string) error {
	t.Helper()
	args := []string{"--partitions", strconv.Itoa(int(partitions)), "--replication-factor", strconv.Itoa(int(replicationFactor()))}
	for _, k := range sortedKeys(configs) {
		args = append(args, "--config", k+"="+configs[k])
	}
	return c.adminError(t, addr, "create-topic", topic, args...)
}

// describeTopic: ck.py lists the cluster's topics (Metadata for all), kp.py
// too, then describes the topic for its partitions.
func (c pyClient) describeTopic(t *testing.T, addr, topic string) (int, bool) {
	t.Helper()
	out := pyOne[struct {
		Exists     bool     `json:"exists"`
		Partitions int      `json:"partitions"`
		Error      *pyError `json:"error"`
	}](t, c, time.Minute, "describe-topic", addr, topic)
	if out.Error != nil {
		t.Fatalf("%s describe %s: %v", c.name, topic, out.Error)
	}
	return out.Partitions, out.Exists
}

// describeConfig returns a topic config's value and source. kafka-python
// mis-decodes the source field, so kp.py takes it from the first synonym.
func (c pyClient) describeConfig(t *testing.T, addr, topic, key string) (string, string) {
	t.Helper()
	out := pyOne[struct {
		Configs map[string]struct {
			Value  *string `json:"value"`
			Source string  `json:"source"`
		} `json:"configs"`
		Error *pyError `json:"error"`
	}](t, c, time.Minute, "describe-configs", addr, topic)
	if out.Error != nil {
		t.Fatalf("%s describe configs of %s: %v", c.name, topic, out.Error)
	}
	cfg, ok := out.Configs[key]
	if !ok || cfg.Value == nil {
		t.Fatalf("%s describe configs of %s: no %s among %v", c.name, topic, key, sortedKeys(out.Configs))
	}
	return *cfg.Value, cfg.Source
}

// setConfig uses AlterConfigs: neither client has IncrementalAlterConfigs
// (confluent-kafka-python from 2.2, kafka-python not in 2.0).
func (c pyClient) setConfig(t *testing.T, addr, topic, key, value string) {
	t.Helper()
	if err := c.adminError(t, addr, "alter-configs", topic, "--config", key+"="+value); err != nil {
		t.Fatalf("%s alter %s of %s: %v", c.name, key, topic, err)
	}
}

// pyOne runs a subcommand that prints one JSON line and decodes it.
func pyOne[T any](t *testing.T, c pyClient, timeout time.Duration, command, addr, topic string, args ...string) T {
	t.Helper()
	out := pyDecode[T](t, c.run(t, timeout, command, addr, topic, args...))
	if len(out) != 1 {
		t.Fatalf("%s %s printed %d lines, want 1", c.name, command, len(out))
	}
	return out[0]
}

// oldVersions is versions/unsupported. Each of the client's old settings
// makes it send requests older than Strata serves; produce and consume
// must each fail promptly with UNSUPPORTED_VERSION, not hang or see the
// connection drop, and nothing may be written. Left to itself the client
// negotiates versions that work: the other cells run that way.
func (c pyClient) oldVersions(t *testing.T, addr string) {
	if c.inferredVersion {
		v := pyOne[struct {
			APIVersion []int `json:"api_version"`
		}](t, c, time.Minute, "version", addr, "-")
		if slices.Compare(v.APIVersion, []int{0, 11}) < 0 {
			t.Fatalf("%s infers broker version %v from ApiVersions; want 0.11 or later (record batches v2)",
				c.name, v.APIVersion)
		}
	}
	topic := c.name + "-versions-unsupported"
	createTopic(t, addr, topic)
	kgoProduce(t, addr, topic, "none", []record{{Key: []byte("k"), Value: []byte("v")}})
	ends := endOffsets(t, addr, topic)
	// Far below the drivers' own deadline: a client that retries or waits
	// on a dropped connection fails here.
	const prompt = 10 * time.Second
	for _, old := range c.oldConfs {
		start := time.Now()
		// No headers: message formats v0 and v1 have none.
		in := pyInput([]record{{Key: []byte("old"), Value: []byte("client")}}, nil, nil)
		d := c.produce(t, addr, topic, "none", in, old.conf...)[0]
		if took := time.Since(start); d.Error == nil || d.Error.Code != kerr.UnsupportedVersion.Code || took > prompt {
			t.Fatalf("%s: produce: %v after %v; want UNSUPPORTED_VERSION (35) within %v", old.label, d.Error, took, prompt)
		}
		start = time.Now()
		args := []string{"--ends", pyEnds(ends)}
		for _, kv := range old.conf {
			args = append(args, "--conf", kv)
		}
		lines := c.run(t, 20*time.Second, "consume", addr, topic, args...)
		res := pyDecode[struct {
			Error *pyError `json:"error"`
		}](t, lines)
		if took := time.Since(start); len(res) != 1 || res[0].Error == nil ||
			res[0].Error.Code != kerr.UnsupportedVersion.Code || took > prompt {
			t.Fatalf("%s: consume printed %q after %v; want only UNSUPPORTED_VERSION (35) within %v",
				old.label, lines, took, prompt)
		}
		t.Logf("%s: produce and consume fail with %v", old.label, res[0].Error)
	}
	if now := endOffsets(t, addr, topic); !maps.Equal(now, ends) {
		t.Fatalf("end offsets moved from %v to %v: an old client's write was stored", ends, now)
	}
}

// Package bench measures a Kafka-protocol server: it generates load with
// franz-go clients, records end-to-end and acknowledgement latency in
// log-linear histograms, probes the machine's own limits (loopback TCP,
// disk), and runs a grid of workloads against several servers side by side,
// writing JSON, Markdown and an SVG plot.
//
// It imports none of Strata's internal packages: a server under test is
// reached only over the wire, and servers it starts itself are child
// processes so their CPU time and peak memory can be read from /proc.
package bench

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// MB is the unit of every throughput figure: 2^20 bytes, as Kafka's
// kafka-producer-perf-test counts.
const MB = 1 << 20

// stampBytes is the size of the send timestamp at the head of every value.
const stampBytes = 8

// Limits on knobs, so a typo cannot ask for a million producers.
const (
	maxClients    = 256
	maxTopics     = 1000
	maxPartitions = 100_000
	maxRecordSize = 16 * MB
	// franz-go refuses batches under 512 bytes; a batch holds its record
	// plus a 61-byte header and the record's own framing.
	minBatchBytes      = 512
	batchOverheadBytes = 128
)

// RunConfig is one workload against one bootstrap address.
type RunConfig struct {
	Bootstrap []string
	// Topic is an existing topic to use; empty means create Topics fresh
	// topics (named TopicPrefix-<random>-<i>) and delete them afterwards.
	Topic       string
	TopicPrefix string
	Topics      int
	Partitions  int32 // per created topic
	// MBps is the target produce throughput in MB/s over all producers;
	// 0 means unlimited.
	MBps       float64
	RecordSize int // value bytes, at least stampBytes
	// Keys is the size of the key space; 0 sends records without keys.
	// Keyed records are placed by key hash (murmur2, as Kafka's Java
	// client); unkeyed ones by Partitioner.
	Keys int
	// Partitioner places unkeyed records: "sticky" (the default of
	// franz-go and of Kafka's Java client since 2.4: fill a 64 KiB batch on
	// one partition, then move on) or "round-robin" (record i goes to
	// partition i mod n, so every request carries a batch for most
	// partitions: the hardest case for a server with many partitions).
	Partitioner string
	Producers   int
	Consumers   int
	Acks        int16 // -1 (all), 0 or 1
	Compression string
	Linger      time.Duration
	BatchBytes  int32
	// MaxInflight is produce requests in flight per broker per producer.
	MaxInflight int
	Duration    time.Duration // the measured window
	Warmup      time.Duration // load before the window, not measured
	// Drain bounds the wait, after producing stops, for consumers to read
	// what was acknowledged.
	Drain  time.Duration
	Logger *slog.Logger
	// ClientOpts are added to every client the run makes (e.g. kgo.SASL).
	ClientOpts []kgo.Opt
	// Progress, when set, receives a line per second while running.
	Progress func(string)
}

// DefaultRunConfig is 20 MB/s of 1 KiB random values over 12 partitions,
// sticky partitioning, acks=all, no compression, linger 0, one producer and
// one consumer, for 10 s after 2 s of warm-up.
func DefaultRunConfig() RunConfig {
	return RunConfig{
		Bootstrap:   []string{"127.0.0.1:9092"},
		TopicPrefix: "strata-bench",
		Topics:      1,
		Partitions:  12,
		MBps:        20,
		RecordSize:  1024,
		Partitioner: "sticky",
		Producers:   1,
		Consumers:   1,
		Acks:        -1,
		Compression: "none",
		BatchBytes:  1 << 20,
		MaxInflight: 5,
		Duration:    10 * time.Second,
		Warmup:      2 * time.Second,
		Drain:       10 * time.Second,
	}
}

// Validate checks every knob against its limits.
func (c *RunConfig) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(len(c.Bootstrap) > 0, "no bootstrap address")
	check(c.Topic != "" || (c.Topics >= 1 && c.Topics <= maxTopics), "topics %d not in [1, %d]", c.Topics, maxTopics)
	check(c.Topic != "" || (c.Partitions >= 1 && c.Partitions <= maxPartitions), "partitions %d not in [1, %d]", c.Partitions, maxPartitions)
	check(c.MBps >= 0, "throughput %g MB/s is negative", c.MBps)
	check(c.RecordSize >= stampBytes && c.RecordSize <= maxRecordSize, "record size %d not in [%d, %d]", c.RecordSize, stampBytes, maxRecordSize)
	check(c.Keys >= 0, "keys %d is negative", c.Keys)
	check(c.Partitioner == "round-robin" || c.Partitioner == "sticky", "partitioner %q: want round-robin or sticky", c.Partitioner)
	check(c.Producers >= 1 && c.Producers <= maxClients, "producers %d not in [1, %d]", c.Producers, maxClients)
	check(c.Consumers >= 1 && c.Consumers <= maxClients, "consumers %d not in [1, %d]", c.Consumers, maxClients)
	check(c.Acks == -1 || c.Acks == 0 || c.Acks == 1, "acks %d is not -1 (all), 0 or 1", c.Acks)
	_, err := compressionCodec(c.Compression)
	check(err == nil, "%v", err)
	check(c.Linger >= 0, "linger %s is negative", c.Linger)
	minBatch := max(minBatchBytes, int32(c.RecordSize)+batchOverheadBytes)
	check(c.BatchBytes >= minBatch && c.BatchBytes <= 64*MB, "batch size %d not in [%d, 64 MiB]", c.BatchBytes, minBatch)
	check(c.MaxInflight >= 1 && c.MaxInflight <= 64, "max in-flight %d not in [1, 64]", c.MaxInflight)
	check(c.Duration > 0, "duration %s is not positive", c.Duration)
	check(c.Warmup >= 0, "warm-up %s is negative", c.Warmup)
	check(c.Drain >= 0, "drain %s is negative", c.Drain)
	return joinOneLine(errs)
}

// joinOneLine joins errors with "; " so a command line shows one line.
func joinOneLine(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New("bench: " + strings.Join(msgs, "; "))
}

// ParseThroughput reads a target such as "20", "20MB/s" or "unlimited" into
// MB/s, 0 meaning unlimited.
func ParseThroughput(s string) (float64, error) {
	t := strings.TrimSpace(strings.ToLower(s))
	if t == "unlimited" || t == "max" || t == "0" {
		return 0, nil
	}
	t = strings.TrimSuffix(strings.TrimSuffix(t, "/s"), "mb")
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bench: throughput %q: want MB/s (e.g. 20) or \"unlimited\"", s)
	}
	return v, nil
}

// ParseAcks reads "all", "-1", "0" or "1".
func ParseAcks(s string) (int16, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "all", "-1":
		return -1, nil
	case "0":
		return 0, nil
	case "1":
		return 1, nil
	}
	return 0, fmt.Errorf("bench: acks %q: want all, 0 or 1", s)
}

func compressionCodec(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(name) {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("compression %q: want none, gzip, snappy, lz4 or zstd", name)
}

func acksName(a int16) string {
	if a == -1 {
		return "all"
	}
	return strconv.Itoa(int(a))
}

// SASL returns the client option that authenticates with mechanism
// (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, any case) as user and password,
// for servers whose listener requires SASL.
func SASL(mechanism, user, password string) (kgo.Opt, error) {
	switch strings.ToUpper(mechanism) {
	case "PLAIN":
		return kgo.SASL(plain.Auth{User: user, Pass: password}.AsMechanism()), nil
	case "SCRAM-SHA-256":
		return kgo.SASL(scram.Auth{User: user, Pass: password}.AsSha256Mechanism()), nil
	case "SCRAM-SHA-512":
		return kgo.SASL(scram.Auth{User: user, Pass: password}.AsSha512Mechanism()), nil
	}
	return nil, fmt.Errorf("bench: SASL mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", mechanism)
}

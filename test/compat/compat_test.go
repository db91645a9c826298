// Package compat runs third-party Kafka clients (IBM/sarama,
// segmentio/kafka-go and the kcat tool built on librdkafka) against a real
// Strata node, one file per client. Every client writes random records with
// every codec and reads them back, and franz-go's kgo is the reference on
// both sides: it reads what the client wrote, and the client reads what kgo
// wrote. A record is checked byte for byte at its (partition, offset), and
// each partition's offsets must be dense from 0.
//
// Set STRATA_TEST_SEED to replay a failing run's data (each test prints its seed)
// and STRATA_TEST_LOG=debug for server, kgo and client debug logs.
// STRATA_COMPAT_CLUSTER=3 runs every client against one three-node cluster
// with replication factor 3, plus the failover/leader-kill cells
// (cluster_test.go, failover_test.go).
package compat

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
)

// partitions is the partition count of every test topic.
const partitions = 12

// codecs are the compression codecs every client is run with, by the names
// kcat, librdkafka and Kafka's compression.type use.
var codecs = []string{"none", "gzip", "snappy", "lz4", "zstd"}

// header is a record header; a nil Value is a null value.
type header struct {
	Key   string
	Value []byte
}

// record is what a test writes and reads back. nil Key or Value is null,
// which differs from an empty non-nil slice.
type record struct {
	Key, Value []byte
	Headers    []header
}

// pos is where a record was written.
type pos struct {
	Partition int32
	Offset    int64
}

func (p pos) String() string { return fmt.Sprintf("%d@%d", p.Partition, p.Offset) }

// numRecords is how many records each scenario writes.
func numRecords() int {
	if testing.Short() {
		return 5000
	}
	return 50000
}

func debugLogs() bool { return os.Getenv("STRATA_TEST_LOG") == "debug" }

// genOpts says what a client can carry, so that the data uses everything it
// can and nothing it cannot.
type genOpts struct {
	// text keeps keys, values and header values printable ASCII (kcat
	// reads lines and prints JSON).
	text bool
	// nullKeys, nullValues, emptyValues and nullHeaderValues allow those
	// on some records.
	nullKeys, nullValues, emptyValues, nullHeaderValues bool
	// headerSets, when set, limits each record's headers to one of these
	// sets (kcat sets headers per invocation, not per record); otherwise
	// headers are random per record.
	headerSets [][]header
}

// binaryOpts is for clients that carry arbitrary bytes and nulls.
var binaryOpts = genOpts{nullKeys: true, nullValues: true, emptyValues: true, nullHeaderValues: true}

// genRecords makes n records. Every non-null key starts with the record's
// index, so keys are unique and a record can be found by its key.
func genRecords(rng *rand.Rand, n int, o genOpts) []record {
	recs := make([]record, n)
	for i := range recs {
		r := &recs[i]
		if !o.nullKeys || rng.IntN(20) != 0 {
			r.Key = append(fmt.Appendf(nil, "k%06d-", i), randomBytes(rng, rng.IntN(24), o.text)...)
		}
		r.Value = randomValue(rng, i, o)
		if o.headerSets != nil {
			r.Headers = o.headerSets[i*len(o.headerSets)/n]
		} else if rng.IntN(3) == 0 {
			r.Headers = randomHeaders(rng, o)
		}
	}
	return recs
}

// randomValue: mostly small values, some of a few KiB and a rare one of up
// to 100 KiB; half compressible, half not.
func randomValue(rng *rand.Rand, i int, o genOpts) []byte {
	switch x := rng.IntN(100); {
	case o.nullValues && x < 3:
		return nil
	case o.emptyValues && x < 5:
		return []byte{}
	}
	size := 1 + rng.IntN(300)
	switch x := rng.IntN(1000); {
	case x == 0:
		size = 50<<10 + rng.IntN(50<<10)
	case x < 100:
		size = 300 + rng.IntN(4000)
	}
	if i%2 == 0 {
		return compressibleBytes(rng, size, o.text)
	}
	return randomBytes(rng, size, o.text)
}

func randomHeaders(rng *rand.Rand, o genOpts) []header {
	hs := make([]header, 1+rng.IntN(3))
	for j := range hs {
		hs[j].Key = fmt.Sprintf("h%d-%s", j, randomBytes(rng, rng.IntN(8), true))
		if !o.nullHeaderValues || rng.IntN(5) != 0 {
			hs[j].Value = randomBytes(rng, rng.IntN(40), o.text)
		}
	}
	return hs
}

// randomBytes returns size random bytes, or lowercase hex when text is set.
// The result is never nil.
func randomBytes(rng *rand.Rand, size int, text bool) []byte {
	raw := make([]byte, size)
	for j := 0; j < size; j += 8 {
		v := rng.Uint64()
		for k := j; k < size && k < j+8; k++ {
			raw[k] = byte(v)
			v >>= 8
		}
	}
	if !text {
		return raw
	}
	return []byte(hex.EncodeToString(raw)[:size])
}

// compressibleBytes draws from a small alphabet so that codecs have work.
func compressibleBytes(rng *rand.Rand, size int, text bool) []byte {
	// A random phrase of 8-32 bytes repeated: every codec, snappy included
	// (it only finds repeats of 4+ bytes), shrinks it, so clients that skip
	// compression when it does not help still compress these values.
	phrase := randomBytes(rng, 8+rng.IntN(25), text)
	out := make([]byte, size)
	for j := range out {
		out[j] = phrase[j%len(phrase)]
	}
	return out
}

// sameBytes compares contents and nullness.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

// diff describes how got differs from want, or returns "".
func diff(want, got record) string {
	if !sameBytes(want.Key, got.Key) {
		return fmt.Sprintf("key %s, want %s", show(got.Key), show(want.Key))
	}
	if !sameBytes(want.Value, got.Value) {
		return fmt.Sprintf("value %s, want %s", show(got.Value), show(want.Value))
	}
	if len(want.Headers) != len(got.Headers) {
		return fmt.Sprintf("%d headers %v, want %d %v", len(got.Headers), got.Headers, len(want.Headers), want.Headers)
	}
	for i, w := range want.Headers {
		g := got.Headers[i]
		if w.Key != g.Key || !sameBytes(w.Value, g.Value) {
			return fmt.Sprintf("header %d is %q=%s, want %q=%s", i, g.Key, show(g.Value), w.Key, show(w.Value))
		}
	}
	return ""
}

func show(b []byte) string {
	if b == nil {
		return "null"
	}
	if len(b) > 40 {
		return fmt.Sprintf("%d bytes %q...", len(b), b[:40])
	}
	return fmt.Sprintf("%q", b)
}

// checkByPos compares what a writer reported at each position with what a
// reader got there, and checks that offsets are dense from 0.
func checkByPos(t *testing.T, what string, sent, got map[pos]record) {
	t.Helper()
	bad := 0
	for p, s := range sent {
		g, ok := got[p]
		if !ok {
			t.Errorf("%s: record at %v was not read", what, p)
		} else if d := diff(s, g); d != "" {
			t.Errorf("%s: record at %v: %s", what, p, d)
		} else {
			continue
		}
		if bad++; bad == 10 {
			t.Fatalf("%s: too many differences", what)
		}
	}
	for p := range got {
		if _, ok := sent[p]; !ok {
			t.Fatalf("%s: read a record at %v that was not written", what, p)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	checkDense(t, what, got)
}

// checkByKey is for writers that do not report offsets: each read record is
// matched to a written one by its unique key. Within a partition, records
// must keep the order of recs (the order they were written in).
func checkByKey(t *testing.T, what string, recs []record, got map[pos]record) {
	t.Helper()
	index := make(map[string]int, len(recs))
	for i, r := range recs {
		if r.Key == nil {
			t.Fatalf("%s: record %d has no key to match it by", what, i)
		}
		index[string(r.Key)] = i
	}
	if len(got) != len(recs) {
		t.Errorf("%s: wrote %d records, read %d", what, len(recs), len(got))
	}
	seen := make(map[int]pos, len(recs))
	for _, p := range sortedPositions(got) {
		g := got[p]
		i, ok := index[string(g.Key)]
		if !ok {
			t.Fatalf("%s: read an unknown record at %v with key %s", what, p, show(g.Key))
		}
		if prev, dup := seen[i]; dup {
			t.Fatalf("%s: record %d read twice, at %v and %v", what, i, prev, p)
		}
		seen[i] = p
		if d := diff(recs[i], g); d != "" {
			t.Fatalf("%s: record %d at %v: %s", what, i, p, d)
		}
		if p.Offset > 0 {
			if before, ok := got[pos{p.Partition, p.Offset - 1}]; ok && index[string(before.Key)] > i {
				t.Fatalf("%s: record %d at %v follows record %d, written later", what, i, p, index[string(before.Key)])
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	checkDense(t, what, got)
}

// checkDense checks that each partition holds offsets 0..n-1 and that the
// writer spread records over more than one partition.
func checkDense(t *testing.T, what string, got map[pos]record) {
	t.Helper()
	counts := map[int32]int64{}
	for p := range got {
		if p.Partition < 0 || p.Partition >= partitions {
			t.Fatalf("%s: record in partition %d of a %d-partition topic", what, p.Partition, partitions)
		}
		counts[p.Partition]++
	}
	for p := range got {
		if p.Offset < 0 || p.Offset >= counts[p.Partition] {
			t.Fatalf("%s: partition %d holds %d records but one is at offset %d: offsets not dense",
				what, p.Partition, counts[p.Partition], p.Offset)
		}
	}
	if len(got) > 100 && len(counts) < 2 {
		t.Fatalf("%s: all %d records landed in one partition", what, len(got))
	}
}

func sortedPositions(m map[pos]record) []pos {
	ps := make([]pos, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Partition != ps[j].Partition {
			return ps[i].Partition < ps[j].Partition
		}
		return ps[i].Offset < ps[j].Offset
	})
	return ps
}

// collector gathers a reader's records from any number of goroutines and
// remembers duplicates and errors until the test goroutine calls result.
type collector struct {
	what string
	mu   sync.Mutex
	got  map[pos]record
	errs []error
}

func newCollector(what string) *collector {
	return &collector{what: what, got: make(map[pos]record)}
}

func (c *collector) add(p pos, r record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.got[p]; dup {
		c.errs = append(c.errs, fmt.Errorf("record at %v read twice", p))
	}
	c.got[p] = r
}

func (c *collector) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errs = append(c.errs, err)
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

// result fails the test if any error was seen; call it once all readers
// are done.
func (c *collector) result(t *testing.T) map[pos]record {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) > 0 {
		t.Fatalf("%s: %d errors, first: %v", c.what, len(c.errs), c.errs[0])
	}
	return c.got
}

// client is one third-party client under test.
type client struct {
	name string
	opts genOpts
	// codecs it writes and reads; nil is all of codecs. noCodecWhy says
	// why the others are missing.
	codecs     []string
	noCodecWhy string
	// produce writes recs to topic with codec and returns where each
	// landed, or nil if the client cannot tell (then records are matched
	// by key).
	produce func(t *testing.T, addr, topic, codec string, recs []record) map[pos]record
	// readsEmptyAsNull: the client's reader cannot tell empty from null,
	// so its reads are compared with empty and null taken as equal.
	readsEmptyAsNull bool
	// consume reads each partition of topic from offset 0 up to its end
	// offset in ends.
	consume func(t *testing.T, addr, topic string, ends map[int32]int64) map[pos]record
}

// runClient runs a client against one Strata node, for every codec (the
// matrix cells codec/...): the
// client writes, kgo reads and checks that against what was written, then
// the client reads the same records back; and the client reads records that
// kgo wrote. kgo reads first so that a client's writes are checked even
// when its own reads fail.
func runClient(t *testing.T, addr string, c client) {
	n := numRecords()
	cs := c.codecs
	if cs == nil {
		cs = codecs
	}
	for _, codec := range codecs {
		if !slices.Contains(cs, codec) {
			unsupported(c.name, "codec/"+codec, c.noCodecWhy)
			continue
		}
		cell(t, c.name, "codec/"+codec, func(t *testing.T) {
			rng := brokertest.Rand(t)
			sw := newStopwatch(t, n)
			defer sw.log()
			topic := fmt.Sprintf("%s-%s", c.name, codec)
			createTopic(t, addr, topic)
			recs := genRecords(rng, n, c.opts)
			sent := c.produce(t, addr, topic, codec, recs)
			sw.lap(c.name + " write")
			kgoGot := kgoConsume(t, addr, topic, codec)
			ref := sent // what every reader must see
			if sent != nil {
				checkByPos(t, c.name+" wrote, kgo read", sent, kgoGot)
			} else {
				checkByKey(t, c.name+" wrote, kgo read", recs, kgoGot)
				ref = kgoGot
			}
			sw.lap("kgo read")
			got := c.consume(t, addr, topic, endOffsets(t, addr, topic))
			checkByPos(t, c.name+" wrote, "+c.name+" read", c.readable(ref), c.readable(got))
			sw.lap(c.name + " read")

			topic = fmt.Sprintf("kgo-to-%s-%s", c.name, codec)
			createTopic(t, addr, topic)
			sent = kgoProduce(t, addr, topic, codec, genRecords(rng, n, c.opts))
			sw.lap("kgo write")
			got = c.consume(t, addr, topic, endOffsets(t, addr, topic))
			checkByPos(t, "kgo wrote, "+c.name+" read", c.readable(sent), c.readable(got))
			sw.lap(c.name + " read")
		})
	}
}

// stopwatch logs how long each step of a scenario took.
type stopwatch struct {
	t     *testing.T
	n     int
	last  time.Time
	steps []string
}

func newStopwatch(t *testing.T, n int) *stopwatch {
	return &stopwatch{t: t, n: n, last: time.Now()}
}

func (s *stopwatch) lap(step string) {
	now := time.Now()
	s.steps = append(s.steps, fmt.Sprintf("%s %v", step, now.Sub(s.last).Round(time.Millisecond)))
	s.last = now
}

func (s *stopwatch) log() {
	s.t.Logf("%d records each: %s", s.n, strings.Join(s.steps, ", "))
}

// readable returns records as the client can read them: with empty keys,
// values and header values turned to null if it cannot tell them apart.
func (c client) readable(m map[pos]record) map[pos]record {
	if !c.readsEmptyAsNull {
		return m
	}
	out := make(map[pos]record, len(m))
	for p, r := range m {
		r.Key, r.Value = emptyToNull(r.Key), emptyToNull(r.Value)
		if r.Headers != nil {
			hs := make([]header, len(r.Headers))
			for i, h := range r.Headers {
				hs[i] = header{h.Key, emptyToNull(h.Value)}
			}
			r.Headers = hs
		}
		out[p] = r
	}
	return out
}

func emptyToNull(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

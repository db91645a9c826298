package chaos

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"

	"github.com/strata-db/strata/internal/record"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	corruptTopic = "corrupt"
	damagedPart  = int32(0) // the partition whose active segment is damaged
	intactPart   = int32(1) // must come through untouched
	crcStart     = 17       // first batch byte covered by the CRC check (the CRC field itself)
)

// corruptBaseline is a data directory left by a SIGKILLed node, with what
// was acknowledged in it.
type corruptBaseline struct {
	dataDir string
	logRel  string                          // damaged partition's log dir, relative to dataDir
	records map[int32]map[int64]*kgo.Record // acknowledged records by partition and offset
	ends    offsets                         // log end offsets at the kill
}

// damage rewrites the active segment seg (made of spans) and returns the
// new content and the index of the first batch that must not survive
// recovery (len(spans) if all must).
type damage func(rng *rand.Rand, seg []byte, spans []batchSpan) (out []byte, firstLost int)

// TestRecoverCorruptTail damages the active segment of a SIGKILLed node
// in several ways and checks that the node comes back with exactly the
// batches before the damage: byte-identical records, dense offsets, the
// log end offset at the damaged batch's base offset, the file truncated
// there, and new produces continuing from it (also across another crash).
func TestRecoverCorruptTail(t *testing.T) {
	rng := brokertest.Rand(t)
	base := buildCorruptBaseline(t, rng)
	last := func(spans []batchSpan) int { return len(spans) - 1 }
	middle := func(spans []batchSpan) int { return len(spans) / 2 }
	cases := []struct {
		name  string
		clean bool // shut down cleanly (SIGTERM) once before damaging
		fn    damage
	}{
		{"flip-bytes-last-batch", false, flipBytes(last, crcStart)},
		{"truncate-inside-last-batch", false, truncateInside(last, 0)},
		{"truncate-inside-last-header", false, truncateInside(last, record.HeaderSize)},
		{"append-garbage", false, appendGarbage},
		{"zero-fill-tail", false, zeroFillTail},
		{"zero-extend", false, zeroExtend},
		{"flip-bytes-middle-batch", false, flipBytes(middle, crcStart)},
		{"bad-base-offset-middle-batch", false, badBaseOffset(middle)},
		{"clean-shutdown-then-truncate-inside-last-batch", true, truncateInside(last, 0)},
		{"clean-shutdown-then-append-garbage", true, appendGarbage},
	}
	for _, tc := range cases {
		caseRng := rand.New(rand.NewPCG(rng.Uint64(), 0))
		t.Run(tc.name, func(t *testing.T) { runCorruptCase(t, caseRng, base, tc.clean, tc.fn) })
	}
}

// buildCorruptBaseline produces to both partitions in batches of varied
// size and codec (so the damaged partition has dozens of batches), then
// kills the node.
func buildCorruptBaseline(t *testing.T, rng *rand.Rand) *corruptBaseline {
	t.Helper()
	b := &corruptBaseline{dataDir: filepath.Join(t.TempDir(), "data"), records: map[int32]map[int64]*kgo.Record{}}
	srv := startServer(t, b.dataDir)
	brokertest.CreateTopic(t, brokertest.Admin(t, srv.kafkaAddr), corruptTopic, 2, map[string]*string{"segment.bytes": kadm.StringPtr("1048576")})
	var clients []*kgo.Client
	for _, c := range []kgo.CompressionCodec{kgo.NoCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()} {
		clients = append(clients, brokertest.Client(t, srv.kafkaAddr, kgo.RecordPartitioner(kgo.ManualPartitioner()),
			kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite(), kgo.ProducerBatchCompression(c)))
	}
	// About 2.5 MB first, so that the damaged partition has rolled twice
	// (segment.bytes is at its minimum, 1 MiB) and its active segment
	// starts at a non-zero offset.
	for range 25 {
		recs := make([]*kgo.Record, 10)
		for j := range recs {
			recs[j] = randomRecord(rng, damagedPart)
			recs[j].Value = randomBytes(rng, 10<<10)
		}
		produceAcked(t, clients[0], recs, b.records)
	}
	for i := range 60 {
		p := damagedPart
		if i%5 == 4 {
			p = intactPart
		}
		recs := make([]*kgo.Record, 1+rng.IntN(10))
		for j := range recs {
			recs[j] = randomRecord(rng, p)
		}
		produceAcked(t, clients[rng.IntN(len(clients))], recs, b.records)
	}
	adm := brokertest.Admin(t, srv.kafkaAddr)
	b.ends = endOffsets(t, adm, corruptTopic)
	logDir := topicLogDir(t, adm, b.dataDir, corruptTopic, damagedPart)
	b.logRel, _ = filepath.Rel(b.dataDir, logDir)
	srv.kill()
	spans := parseSegment(t, readFile(t, activeSegment(t, logDir)))
	first, last := spans[0], spans[len(spans)-1]
	t.Logf("baseline: end offsets %v; damaged partition: %d batches, offsets [%d, %d), in its active segment; files: %s",
		b.ends, len(spans), first.base, last.next, listFiles(logDir))
	if len(spans) < 20 || first.base == 0 || last.next != b.ends[damagedPart] {
		t.Fatalf("baseline active segment holds %d batches, offsets [%d, %d); want >= 20 batches from a non-zero offset up to %d",
			len(spans), first.base, last.next, b.ends[damagedPart])
	}
	return b
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.IntN(256))
	}
	return b
}

func randomRecord(rng *rand.Rand, p int32) *kgo.Record {
	r := &kgo.Record{Topic: corruptTopic, Partition: p, Key: fmt.Appendf(nil, "key-%d", rng.IntN(1000))}
	r.Value = randomBytes(rng, rng.IntN(300))
	if rng.IntN(3) == 0 {
		r.Headers = []kgo.RecordHeader{{Key: "h", Value: []byte{byte(rng.IntN(256))}}}
	}
	return r
}

// produceAcked produces recs in one call and adds them to into by their
// acknowledged offsets; any failure fails the test.
func produceAcked(t *testing.T, cl *kgo.Client, recs []*kgo.Record, into map[int32]map[int64]*kgo.Record) {
	t.Helper()
	res := cl.ProduceSync(brokertest.Context(t, 10*time.Second), recs...)
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	for _, r := range res {
		if into[r.Record.Partition] == nil {
			into[r.Record.Partition] = map[int64]*kgo.Record{}
		}
		into[r.Record.Partition][r.Record.Offset] = r.Record
	}
}

func runCorruptCase(t *testing.T, rng *rand.Rand, base *corruptBaseline, clean bool, fn damage) {
	dataDir := filepath.Join(t.TempDir(), "data")
	copyDir(t, base.dataDir, dataDir)
	srv := newServer(t, dataDir)
	if clean {
		srv.start()
		if code, took := srv.term(); code != 0 {
			t.Fatalf("SIGTERM: exit code %d after %v", code, took)
		}
	}
	segPath := activeSegment(t, filepath.Join(dataDir, base.logRel))
	orig := readFile(t, segPath)
	spans := parseSegment(t, orig)
	damaged, firstLost := fn(rng, bytes.Clone(orig), spans)
	if err := os.WriteFile(segPath, damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	cut, wantEnd := len(orig), base.ends[damagedPart]
	if firstLost < len(spans) {
		cut, wantEnd = spans[firstLost].pos, spans[firstLost].base
	}
	t.Logf("segment of %d bytes, %d batches: damaged from batch %d on; want the file cut to %d bytes, end offset %d",
		len(orig), len(spans), firstLost, cut, wantEnd)

	srv.start()
	want := map[int32]map[int64]*kgo.Record{damagedPart: {}, intactPart: base.records[intactPart]}
	for off, r := range base.records[damagedPart] {
		if off < wantEnd {
			want[damagedPart][off] = r
		}
	}
	checkRecovered(t, srv, offsets{damagedPart: wantEnd, intactPart: base.ends[intactPart]}, want)
	if got := readFile(t, segPath); !bytes.Equal(got, orig[:cut]) {
		t.Fatalf("segment after recovery: %d bytes, want the first %d bytes of the original (equal prefix: %v); files: %s",
			len(got), cut, bytes.HasPrefix(orig, got), listFiles(filepath.Dir(segPath)))
	}

	// New records continue densely from the recovered end, also after
	// another crash.
	cl := brokertest.Client(t, srv.kafkaAddr, kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite())
	recs := []*kgo.Record{randomRecord(rng, damagedPart), randomRecord(rng, damagedPart), randomRecord(rng, damagedPart)}
	produceAcked(t, cl, recs, want)
	for i, r := range recs {
		if r.Offset != wantEnd+int64(i) {
			t.Fatalf("record %d produced after recovery got offset %d, want %d", i, r.Offset, wantEnd+int64(i))
		}
	}
	cl.Close()
	srv.kill()
	srv.start()
	checkRecovered(t, srv, offsets{damagedPart: wantEnd + int64(len(recs)), intactPart: base.ends[intactPart]}, want)
}

// checkRecovered checks the end and start offsets of the topic and that
// reading it returns exactly want, byte for byte.
func checkRecovered(t *testing.T, srv *server, wantEnds offsets, want map[int32]map[int64]*kgo.Record) {
	t.Helper()
	adm := brokertest.Admin(t, srv.kafkaAddr)
	ends := endOffsets(t, adm, corruptTopic)
	for p, end := range wantEnds {
		if ends[p] != end {
			t.Fatalf("partition %d: end offset %d, want %d (all: %v)", p, ends[p], end, ends)
		}
	}
	for p, start := range startOffsets(t, adm, corruptTopic) {
		if start != 0 {
			t.Fatalf("partition %d: start offset %d, want 0", p, start)
		}
	}
	got := consumeRange(t, srv.kafkaAddr, corruptTopic, ends)
	for p, recs := range got {
		if len(recs) != len(want[p]) {
			t.Fatalf("partition %d: read %d records, want %d", p, len(recs), len(want[p]))
		}
		for _, r := range recs {
			if err := sameRecord(want[p][r.Offset], r); err != nil {
				t.Fatalf("partition %d offset %d: %v", p, r.Offset, err)
			}
		}
	}
}

func sameRecord(want, got *kgo.Record) error {
	switch {
	case want == nil:
		return fmt.Errorf("record was never acknowledged")
	case !bytes.Equal(want.Key, got.Key) || !bytes.Equal(want.Value, got.Value):
		return fmt.Errorf("key/value differ: %q/%x, want %q/%x", got.Key, got.Value, want.Key, want.Value)
	case len(want.Headers) != len(got.Headers):
		return fmt.Errorf("%d headers, want %d", len(got.Headers), len(want.Headers))
	}
	for i, h := range want.Headers {
		if h.Key != got.Headers[i].Key || !bytes.Equal(h.Value, got.Headers[i].Value) {
			return fmt.Errorf("header %d differs", i)
		}
	}
	return nil
}

// flipBytes XORs 1 to 4 distinct bytes of batch pick(spans), at or after
// byte from of the batch, with non-zero values. From crcStart on, every
// byte is covered by the CRC check (the CRC field included); the leader
// epoch before it is not, by the format's design.
func flipBytes(pick func([]batchSpan) int, from int) damage {
	return func(rng *rand.Rand, seg []byte, spans []batchSpan) ([]byte, int) {
		i := pick(spans)
		b := spans[i]
		for _, k := range rng.Perm(b.size - from)[:1+rng.IntN(4)] {
			seg[b.pos+from+k] ^= byte(1 + rng.IntN(255))
		}
		return seg, i
	}
}

// truncateInside cuts the file inside batch pick(spans), within its first
// limit bytes (0: anywhere).
func truncateInside(pick func([]batchSpan) int, limit int) damage {
	return func(rng *rand.Rand, seg []byte, spans []batchSpan) ([]byte, int) {
		i := pick(spans)
		b := spans[i]
		if limit == 0 || limit > b.size {
			limit = b.size
		}
		return seg[:b.pos+1+rng.IntN(limit-1)], i
	}
}

// appendGarbage appends random bytes after the last batch.
func appendGarbage(rng *rand.Rand, seg []byte, spans []batchSpan) ([]byte, int) {
	for range 1 + rng.IntN(4096) {
		seg = append(seg, byte(rng.IntN(256)))
	}
	return seg, len(spans)
}

// zeroFillTail zeroes the file from inside the last batch on and extends
// it with zeros, as a power loss leaves a file whose size was updated but
// whose last blocks never reached the disk.
func zeroFillTail(rng *rand.Rand, seg []byte, spans []batchSpan) ([]byte, int) {
	i := len(spans) - 1
	b := spans[i]
	from := b.pos + rng.IntN(b.size)
	// Zeroing must change something: start at or before the last non-zero
	// byte of the batch.
	lastNonZero := b.end() - 1
	for seg[lastNonZero] == 0 {
		lastNonZero-- // stops inside the header at the latest (magic is 2)
	}
	from = min(from, lastNonZero)
	clear(seg[from:])
	return append(seg, make([]byte, 4096)...), i
}

// zeroExtend appends zeros after the intact batches (preallocated or
// extended but never written).
func zeroExtend(rng *rand.Rand, seg []byte, spans []batchSpan) ([]byte, int) {
	return append(seg, make([]byte, 1+rng.IntN(8192))...), len(spans)
}

// badBaseOffset moves the base offset of batch pick(spans), which the CRC
// does not cover; recovery must notice that offsets are no longer dense.
func badBaseOffset(pick func([]batchSpan) int) damage {
	return func(rng *rand.Rand, seg []byte, spans []batchSpan) ([]byte, int) {
		i := pick(spans)
		off := uint64(spans[i].base) + 1 + uint64(rng.IntN(1000))
		binary.BigEndian.PutUint64(seg[spans[i].pos:], off)
		return seg, i
	}
}

package integration

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKgoRoundTrip writes records with keys, headers and null values with
// every codec, reads them back and checks every byte and offset.
func TestKgoRoundTrip(t *testing.T) {
	b := brokertest.Start(t)
	adm := brokertest.Admin(t, b.KafkaAddr())
	n := 50000
	if testing.Short() {
		n = 5000
	}
	codecs := map[string]kgo.CompressionCodec{
		"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
		"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
	}
	for name, codec := range codecs {
		t.Run(name, func(t *testing.T) {
			topic := "roundtrip-" + name
			brokertest.CreateTopic(t, adm, topic, 12, nil)
			sent := produceRandom(t, b.KafkaAddr(), topic, n, codec, brokertest.Rand(t))
			got := consumeAll(t, b.KafkaAddr(), topic, n)
			checkSame(t, sent, got)
		})
	}
}

type pos struct {
	partition int32
	offset    int64
}

func produceRandom(t *testing.T, addr, topic string, n int, codec kgo.CompressionCodec, rng *rand.Rand) map[pos]*kgo.Record {
	t.Helper()
	cl := brokertest.Client(t, addr, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(codec),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond))
	var mu sync.Mutex
	sent := make(map[pos]*kgo.Record, n)
	var firstErr error
	var wg sync.WaitGroup
	for i := range n {
		r := &kgo.Record{Key: fmt.Appendf(nil, "key-%d", rng.IntN(1000)), Value: randomValue(rng, i)}
		if i%10 == 0 {
			r.Value = nil
		}
		if i%3 == 0 {
			r.Headers = []kgo.RecordHeader{{Key: "h1", Value: []byte("v1")}, {Key: fmt.Sprint("n", i), Value: nil}}
		}
		wg.Add(1)
		cl.Produce(brokertest.Context(t, time.Minute), r, func(r *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			sent[pos{r.Partition, r.Offset}] = r
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("produce: %v", firstErr)
	}
	return sent
}

func randomValue(rng *rand.Rand, i int) []byte {
	size := 10 + rng.IntN(400)
	if i%1000 == 0 {
		size = 100 << 10
	}
	v := make([]byte, size)
	for j := range v {
		v[j] = byte(rng.IntN(16)) // compressible but not trivially
	}
	return v
}

func consumeAll(t *testing.T, addr, topic string, n int) map[pos]*kgo.Record {
	t.Helper()
	cl := brokertest.Client(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond))
	got := make(map[pos]*kgo.Record, n)
	ctx := brokertest.Context(t, 2*time.Minute)
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(got), n, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			k := pos{r.Partition, r.Offset}
			if _, dup := got[k]; dup {
				t.Fatalf("record %v consumed twice", k)
			}
			got[k] = r
		})
	}
	return got
}

// checkSame compares produced and consumed records position by position and
// checks that each partition's offsets are dense from 0.
func checkSame(t *testing.T, sent, got map[pos]*kgo.Record) {
	t.Helper()
	if len(sent) != len(got) {
		t.Fatalf("sent %d records, got %d", len(sent), len(got))
	}
	perPartition := map[int32]int64{}
	for k, s := range sent {
		perPartition[k.partition]++
		g, ok := got[k]
		if !ok {
			t.Fatalf("record at %v not consumed", k)
		}
		if !bytes.Equal(s.Key, g.Key) || !bytes.Equal(s.Value, g.Value) || (s.Value == nil) != (g.Value == nil) {
			t.Fatalf("record at %v differs: key %q/%q, value %d/%d bytes", k, s.Key, g.Key, len(s.Value), len(g.Value))
		}
		if len(s.Headers) != len(g.Headers) {
			t.Fatalf("record at %v: %d headers, got %d", k, len(s.Headers), len(g.Headers))
		}
		for i := range s.Headers {
			if s.Headers[i].Key != g.Headers[i].Key || !bytes.Equal(s.Headers[i].Value, g.Headers[i].Value) {
				t.Fatalf("record at %v: header %d differs", k, i)
			}
		}
	}
	for p, count := range perPartition {
		for off := int64(0); off < count; off++ {
			if _, ok := got[pos{p, off}]; !ok {
				t.Fatalf("partition %d: offsets not dense, %d missing of %d", p, off, count)
			}
		}
	}
}

// TestConcurrentRoundTrip produces from several clients at once while
// several consumers read the topic as it fills, and checks every byte each
// consumer got. Produce request frames and fetch read buffers are pooled
// (internal/bufpool) and reused as soon as a request is handled: a buffer
// put back while something still referred to it would show here as
// records that differ, or batches that fail their CRC.
func TestConcurrentRoundTrip(t *testing.T) {
	b := brokertest.Start(t)
	adm := brokertest.Admin(t, b.KafkaAddr())
	const topic, producers, consumers = "concurrent-roundtrip", 3, 3
	perProducer := 10000
	if testing.Short() {
		perProducer = 2000
	}
	total := producers * perProducer
	brokertest.CreateTopic(t, adm, topic, 6, nil)
	// Plain goroutines, not parallel subtests: -parallel may be lower
	// than the clients, and consumers holding every slot would wait for
	// producers that never start.
	var (
		mu   sync.Mutex
		sent = map[pos]*kgo.Record{}
		got  [consumers]map[pos]*kgo.Record
		errs = make(chan error, producers+consumers)
		wg   sync.WaitGroup
	)
	fail := func(err error) { // the first error of each client is enough
		select {
		case errs <- err:
		default:
		}
	}
	ctx := brokertest.Context(t, 2*time.Minute)
	for i := range producers {
		rng := rand.New(rand.NewPCG(uint64(i), 1))
		cl := brokertest.Client(t, b.KafkaAddr(), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.ProducerLinger(5*time.Millisecond))
		wg.Go(func() {
			for j := range perProducer {
				r := &kgo.Record{Key: fmt.Appendf(nil, "p%d-%d", i, j), Value: randomValue(rng, j)}
				cl.Produce(ctx, r, func(r *kgo.Record, err error) {
					if err != nil {
						fail(fmt.Errorf("produce: %w", err))
						return
					}
					mu.Lock()
					sent[pos{r.Partition, r.Offset}] = r
					mu.Unlock()
				})
			}
			if err := cl.Flush(ctx); err != nil {
				fail(fmt.Errorf("flush: %w", err))
			}
		})
	}
	for i := range consumers {
		cl := brokertest.Client(t, b.KafkaAddr(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxWait(200*time.Millisecond))
		got[i] = make(map[pos]*kgo.Record, total)
		wg.Go(func() {
			for len(got[i]) < total {
				fs := cl.PollFetches(ctx)
				if err := ctx.Err(); err != nil {
					fail(fmt.Errorf("consumer %d: %d of %d records: %w", i, len(got[i]), total, err))
					return
				}
				var ferr error
				fs.EachError(func(topic string, p int32, err error) { ferr = fmt.Errorf("fetch %s/%d: %w", topic, p, err) })
				if ferr != nil {
					fail(ferr)
					return
				}
				fs.EachRecord(func(r *kgo.Record) { got[i][pos{r.Partition, r.Offset}] = r })
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range consumers {
		checkSame(t, sent, got[i])
	}
}

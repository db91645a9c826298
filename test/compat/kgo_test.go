package compat

// franz-go's kgo is the reference client: it creates the topics, lists end
// offsets, reads what each third-party client wrote and writes what each
// third-party client reads.

import (
	"sync"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func createTopic(t *testing.T, addr, topic string) {
	t.Helper()
	adm := kadmClient(t, addr)
	resp, err := adm.CreateTopic(brokertest.Context(t, 10*time.Second), partitions, replicationFactor(), topicConfigs(nil), topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", topic, err, resp.Err)
	}
	waitTopicEverywhere(t, addr, topic)
}

// endOffsets lists each partition's end offset (high watermark).
func endOffsets(t *testing.T, addr, topic string) map[int32]int64 {
	t.Helper()
	adm := kadmClient(t, addr)
	listed, err := adm.ListEndOffsets(brokertest.Context(t, 10*time.Second), topic)
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		t.Fatalf("list end offsets of %s: %v", topic, err)
	}
	ends := make(map[int32]int64, partitions)
	listed.Each(func(o kadm.ListedOffset) { ends[o.Partition] = o.Offset })
	if len(ends) != partitions {
		t.Fatalf("end offsets of %s: %d partitions, want %d", topic, len(ends), partitions)
	}
	return ends
}

var kgoCodecs = map[string]kgo.CompressionCodec{
	"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(), "snappy": kgo.SnappyCompression(),
	"lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression(),
}

func kgoProduce(t *testing.T, addr, topic, codec string, recs []record) map[pos]record {
	t.Helper()
	cl := kgoClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgoCodecs[codec]),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite(), kgo.ProducerLinger(5*time.Millisecond))
	var mu sync.Mutex
	sent := make(map[pos]record, len(recs))
	var firstErr error
	var wg sync.WaitGroup
	ctx := brokertest.Context(t, time.Minute)
	for _, r := range recs {
		kr := &kgo.Record{Key: r.Key, Value: r.Value}
		for _, h := range r.Headers {
			kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
		}
		wg.Add(1)
		cl.Produce(ctx, kr, func(kr *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			sent[pos{kr.Partition, kr.Offset}] = r
		})
	}
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("kgo produce: %v", firstErr)
	}
	if len(sent) != len(recs) {
		t.Fatalf("kgo produce: %d records acknowledged at %d distinct offsets", len(recs), len(sent))
	}
	return sent
}

// kgoConsume reads every partition of topic from its start to its current
// end offset, assigning partitions directly (no group). Unless wantCodec is
// empty, every record must come in a batch compressed with it: the server
// stores batches as written, so this checks that the client compressed.
func kgoConsume(t *testing.T, addr, topic, wantCodec string) map[pos]record {
	t.Helper()
	ends := endOffsets(t, addr, topic)
	assign := map[int32]kgo.Offset{}
	remaining := 0
	for p, end := range ends {
		if end > 0 {
			assign[p] = kgo.NewOffset().At(0)
			remaining++
		}
	}
	cl := kgoClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: assign}),
		kgo.FetchMaxWait(200*time.Millisecond))
	c := newCollector("kgo read " + topic)
	codecs := map[uint8]int{} // by the batch attributes' compression bits
	ctx := brokertest.Context(t, 2*time.Minute)
	for remaining > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("kgo read %d records of %s: %v", c.count(), topic, err)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Fatalf("kgo fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(kr *kgo.Record) {
			codecs[kr.Attrs.CompressionType()]++
			r := record{Key: kr.Key, Value: kr.Value}
			for _, h := range kr.Headers {
				r.Headers = append(r.Headers, header{h.Key, h.Value})
			}
			c.add(pos{kr.Partition, kr.Offset}, r)
			if kr.Offset == ends[kr.Partition]-1 {
				remaining--
			}
		})
	}
	got := c.result(t)
	checkCodecs(t, topic, wantCodec, codecs)
	return got
}

// checkCodecs checks the batch compression of the records read: no codec
// but want, and at least 90% in want. A client may send a batch that does
// not shrink uncompressed (librdkafka does).
func checkCodecs(t *testing.T, topic, want string, counts map[uint8]int) {
	t.Helper()
	id, ok := codecIDs[want]
	if !ok {
		return
	}
	total := 0
	for c, n := range counts {
		total += n
		if c != id && c != codecIDs["none"] {
			t.Errorf("%s: %d records in batches with compression %d, want %s", topic, n, c, want)
		}
	}
	if counts[id] < total*9/10 {
		t.Errorf("%s: records by batch compression (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd): %v, want %s",
			topic, counts, want)
	}
}

// codecIDs are the compression bits of a batch's attributes.
var codecIDs = map[string]uint8{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}

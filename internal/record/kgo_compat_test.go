package record_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-db/strata/internal/record"
)

// TestKgoProducedBatches decodes batches written by franz-go's real producer
// (idempotent, each codec), captured from the Produce requests it sends to a
// kfake cluster, and checks every record against what was produced.
func TestKgoProducedBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a fake cluster")
	}
	codecs := map[record.Compression]kgo.CompressionCodec{
		record.CompressionNone:   kgo.NoCompression(),
		record.CompressionGzip:   kgo.GzipCompression(),
		record.CompressionSnappy: kgo.SnappyCompression(),
		record.CompressionLZ4:    kgo.Lz4Compression(),
		record.CompressionZstd:   kgo.ZstdCompression(),
	}
	for c, codec := range codecs {
		t.Run(c.String(), func(t *testing.T) {
			sent := kgoRecords()
			batches := produceAndCapture(t, codec, sent)
			var got []*kgo.Record
			for _, b := range batches {
				h, err := record.Verify(b)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if h.Compression() != c || !h.HasProducerID() {
					t.Fatalf("header %+v: want codec %s and a producer id", h, c)
				}
				err = record.ForEachRecord(b, 8<<20, func(r *record.Record) bool {
					kr := &kgo.Record{Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value)}
					for _, rh := range r.Headers {
						kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: rh.Key, Value: bytes.Clone(rh.Value)})
					}
					got = append(got, kr)
					return true
				})
				if err != nil {
					t.Fatalf("ForEachRecord: %v", err)
				}
			}
			if len(got) != len(sent) {
				t.Fatalf("decoded %d records from %d batches, sent %d", len(got), len(batches), len(sent))
			}
			for i := range sent {
				s, g := sent[i], got[i]
				if !bytes.Equal(s.Key, g.Key) || (s.Key == nil) != (g.Key == nil) || !bytes.Equal(s.Value, g.Value) || len(s.Headers) != len(g.Headers) {
					t.Fatalf("record %d: got key %q value %d bytes, sent key %q value %d bytes", i, g.Key, len(g.Value), s.Key, len(s.Value))
				}
			}
		})
	}
}

func kgoRecords() []*kgo.Record {
	var recs []*kgo.Record
	for i := range 200 {
		r := &kgo.Record{Value: bytes.Repeat([]byte(fmt.Sprintf("value %d ", i)), 1+i%50)}
		if i%3 != 0 {
			r.Key = []byte(fmt.Sprintf("key-%d", i%7))
		}
		if i%5 == 0 {
			r.Headers = []kgo.RecordHeader{{Key: "h", Value: []byte("x")}, {Key: "n"}}
		}
		recs = append(recs, r)
	}
	return recs
}

// produceAndCapture produces recs to one partition of a kfake cluster and
// returns copies of the record batches in the Produce requests, in order.
func produceAndCapture(t *testing.T, codec kgo.CompressionCodec, recs []*kgo.Record) [][]byte {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	var (
		mu      sync.Mutex
		batches [][]byte
	)
	cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		mu.Lock()
		defer mu.Unlock()
		for _, topic := range req.(*kmsg.ProduceRequest).Topics {
			for _, p := range topic.Partitions {
				batches = append(batches, bytes.Clone(p.Records))
			}
		}
		return nil, nil, false // observe only; kfake answers
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic("t"),
		kgo.ProducerBatchCompression(codec), kgo.ProducerLinger(20*time.Millisecond),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	// A request may carry several batches back to back.
	var out [][]byte
	for _, b := range batches {
		if _, err := record.Split(b, func(batch []byte, _ *record.Header) error {
			out = append(out, batch)
			return nil
		}); err != nil {
			t.Fatalf("Split: %v", err)
		}
	}
	return out
}

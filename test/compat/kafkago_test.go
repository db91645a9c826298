package compat

// segmentio/kafka-go: a Writer with acks=all and a hash balancer writes, one
// group-less Reader per partition reads.

import (
	"fmt"
	"io"
	"log"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/strata-db/strata/internal/broker/brokertest"
)

func TestKafkaGo(t *testing.T) {
	addr := serverAddr(t)
	c := client{
		name: "kafka-go",
		opts: binaryOpts,
		// kafka-go's reader returns nil for empty keys, values and header
		// values (readNewBytes allocates only for n > 0); its writer keeps
		// them apart, which kgo checks.
		readsEmptyAsNull: true,
		produce:          kafkagoProduce,
		consume:          kafkagoConsume,
	}
	runClient(t, addr, c)
	runScenarios(t, addr, kafkagoScenarios(c))
	runGroupScenarios(t, addr, kafkagoGroups())
	runEOSScenarios(t, addr, kafkagoEOS())
}

var kafkagoCodecs = map[string]kafka.Compression{
	"none": 0, "gzip": kafka.Gzip, "snappy": kafka.Snappy, "lz4": kafka.Lz4, "zstd": kafka.Zstd,
}

// kafkagoLoggers returns the client's info and error loggers. The client
// retries most errors silently, so anything it logs as an error is handed
// to fail and fails the test; info is logged only with
// STRATA_TEST_LOG=debug.
func kafkagoLoggers(what string, fail func(error)) (info, errs kafka.Logger) {
	errs = kafka.LoggerFunc(func(format string, args ...any) {
		fail(fmt.Errorf("%s logged: %s", what, fmt.Sprintf(format, args...)))
	})
	if debugLogs() {
		info = log.New(os.Stderr, "[kafka-go "+what+"] ", log.Lmicroseconds)
	}
	return info, errs
}

func kafkagoProduce(t *testing.T, addr, topic, codec string, recs []record) map[pos]record {
	t.Helper()
	var mu sync.Mutex
	sent := make(map[pos]record, len(recs))
	var errs []error
	info, errLog := kafkagoLoggers("writer", func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	})
	// A Transport of its own: the shared DefaultTransport caches metadata
	// for its TTL and would reject a topic created since by another client.
	transport := &kafka.Transport{}
	kafkagoSecureTransport(t, transport, addr)
	defer transport.CloseIdleConnections()
	w := &kafka.Writer{
		Transport:    transport,
		Addr:         kafka.TCP(seeds(addr)...),
		Topic:        topic,
		Balancer:     &kafka.Hash{},
		RequiredAcks: kafka.RequireAll,
		Compression:  kafkagoCodecs[codec],
		BatchSize:    1000,
		BatchBytes:   1 << 20,
		BatchTimeout: 5 * time.Millisecond,
		Logger:       info,
		ErrorLogger:  errLog,
		Completion: func(msgs []kafka.Message, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			for _, m := range msgs {
				at := pos{int32(m.Partition), m.Offset}
				if _, dup := sent[at]; dup {
					errs = append(errs, fmt.Errorf("two records acknowledged at %v", at))
				}
				sent[at] = recs[m.WriterData.(int)]
			}
		},
	}
	msgs := make([]kafka.Message, len(recs))
	for i, r := range recs {
		msgs[i] = kafka.Message{Key: r.Key, Value: r.Value, WriterData: i}
		for _, h := range r.Headers {
			msgs[i].Headers = append(msgs[i].Headers, kafka.Header{Key: h.Key, Value: h.Value})
		}
	}
	err := w.WriteMessages(brokertest.Context(t, time.Minute), msgs...)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("kafka-go write: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) > 0 {
		t.Fatalf("kafka-go write: %d errors, first: %v", len(errs), errs[0])
	}
	if len(sent) != len(recs) {
		t.Fatalf("kafka-go write: %d of %d records acknowledged", len(sent), len(recs))
	}
	return sent
}

// kafkagoMaxWait is the readers' MaxWait. kafka-go makes it the deadline
// for a fetch response to start arriving, and asks the broker to hold a
// fetch for it less one second (its assumed round trip). 200ms failed
// reads with "i/o timeout" on a loaded machine; 1.5s leaves the response
// that long while the broker holds an idle fetch (the one in flight when a
// reader closes) for only 0.5s.
const kafkagoMaxWait = 1500 * time.Millisecond

// closeLater closes c in the background and waits for it when the test
// ends: a kafka-go Reader's Close waits for its fetch in flight, which
// the broker holds for up to MaxWait once the partition has no more data.
func closeLater(t *testing.T, c io.Closer) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Close()
	}()
	t.Cleanup(func() { <-done })
}

// kafkagoConsume reads the partitions in parallel, one Reader each.
func kafkagoConsume(t *testing.T, addr, topic string, ends map[int32]int64) map[pos]record {
	t.Helper()
	col := newCollector("kafka-go read " + topic)
	ctx := brokertest.Context(t, time.Minute)
	var wg sync.WaitGroup
	for p, end := range ends {
		if end == 0 {
			continue
		}
		// Close cancels the reader's lag and fetch loops, which log that;
		// only errors before that count.
		var closing atomic.Bool
		info, errLog := kafkagoLoggers(fmt.Sprintf("reader of partition %d", p), func(err error) {
			if !closing.Load() {
				col.fail(err)
			}
		})
		r := kafka.NewReader(kafka.ReaderConfig{
			Brokers:     seeds(addr),
			Dialer:      kafkagoDialer(t, addr),
			Topic:       topic,
			Partition:   int(p),
			StartOffset: kafka.FirstOffset,
			MinBytes:    1,
			MaxBytes:    4 << 20,
			MaxWait:     kafkagoMaxWait,
			Logger:      info,
			ErrorLogger: errLog,
		})
		wg.Go(func() {
			defer func() {
				closing.Store(true)
				closeLater(t, r)
			}()
			for {
				m, err := r.ReadMessage(ctx)
				if err != nil {
					col.fail(fmt.Errorf("partition %d: %w", p, err))
					return
				}
				rec := record{Key: m.Key, Value: m.Value}
				for _, h := range m.Headers {
					rec.Headers = append(rec.Headers, header{h.Key, h.Value})
				}
				col.add(pos{int32(m.Partition), m.Offset}, rec)
				if m.Offset >= end-1 {
					return
				}
			}
		})
	}
	wg.Wait()
	return col.result(t)
}

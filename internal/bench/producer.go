package bench

import (
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// randomPoolBytes is the size of the block of random bytes values are cut
// from. Each value is a slice at a random offset, so no two values in a
// batch share content and a codec finds nothing to squeeze, while making a
// value costs a copy rather than a random-number generator's time.
const randomPoolBytes = 8 << 20

// runState is what producers and consumers of one run share. Times are
// durations since origin, read from the monotonic clock, so a stamp taken
// by a producer and read by a consumer of the same process is exact.
type runState struct {
	origin           time.Time
	winStart, winEnd time.Duration // the measured window

	e2e, ack *Histogram

	produced, acked, produceErrs atomic.Uint64
	ackedBytesInWin              atomic.Uint64 // sent inside the window and acknowledged
	bytesAckedDuringWin          atomic.Uint64 // acknowledged inside the window, whenever sent
	consumed, consumeErrs        atomic.Uint64
	consumedBytesInWin           atomic.Uint64 // received inside the window
	foreign                      atomic.Uint64 // records too short to carry a stamp

	mu       sync.Mutex
	firstErr error // first produce or consume error, for the report
}

func (s *runState) now() time.Duration { return time.Since(s.origin) }

func (s *runState) inWindow(t time.Duration) bool { return t >= s.winStart && t < s.winEnd }

func (s *runState) noteErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.firstErr == nil {
		s.firstErr = err
	}
}

// payloads hands out value buffers holding random bytes, recycling them
// once a record is acknowledged (franz-go keeps no reference after the
// promise runs).
type payloads struct {
	random []byte
	size   int
	pool   sync.Pool
}

func newPayloads(size int) *payloads {
	p := &payloads{random: make([]byte, randomPoolBytes+size), size: size}
	crand.Read(p.random)
	p.pool.New = func() any { b := make([]byte, size); return &b }
	return p
}

// get returns a value of random bytes; the caller stamps its head.
func (p *payloads) get(rng *rand.Rand) *[]byte {
	b := p.pool.Get().(*[]byte)
	off := rng.IntN(randomPoolBytes)
	copy(*b, p.random[off:off+p.size])
	return b
}

func (p *payloads) put(b *[]byte) { p.pool.Put(b) }

// producer is one client sending at its share of the target rate.
type producer struct {
	cl     *kgo.Client
	st     *runState
	topics []string
	keys   int
	pay    *payloads
	pacer  *Pacer // set when the run's clock starts
	rng    *rand.Rand
}

func producerOpts(cfg *RunConfig) ([]kgo.Opt, error) {
	codec, err := compressionCodec(cfg.Compression)
	if err != nil {
		return nil, err
	}
	acks := kgo.AllISRAcks()
	switch cfg.Acks {
	case 0:
		acks = kgo.NoAck()
	case 1:
		acks = kgo.LeaderAck()
	}
	part := kgo.RoundRobinPartitioner()
	if cfg.Keys > 0 {
		part = kgo.StickyKeyPartitioner(nil)
	} else if cfg.Partitioner == "sticky" {
		part = kgo.UniformBytesPartitioner(64<<10, true, true, nil)
	}
	return append([]kgo.Opt{
		kgo.SeedBrokers(cfg.Bootstrap...),
		// Idempotence needs InitProducerID, which not every server under
		// test serves; records are counted, not deduplicated, here.
		kgo.DisableIdempotentWrite(),
		kgo.RequiredAcks(acks),
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerLinger(cfg.Linger),
		kgo.ProducerBatchMaxBytes(cfg.BatchBytes),
		kgo.MaxProduceRequestsInflightPerBroker(cfg.MaxInflight),
		kgo.RecordPartitioner(part),
		kgo.RecordRetries(3),
	}, cfg.ClientOpts...), nil
}

func newProducer(cfg *RunConfig, st *runState, topics []string, pay *payloads, seed uint64) (*producer, error) {
	opts, err := producerOpts(cfg)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("bench: producer client: %w", err)
	}
	return &producer{
		cl: cl, st: st, topics: topics, keys: cfg.Keys, pay: pay,
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}, nil
}

// run sends until the window closes or ctx ends. Produce blocks when the
// client's buffer is full, which is how an overloaded server slows the
// sender: the shortfall then shows in the achieved throughput.
func (p *producer) run(ctx context.Context) {
	for i := 0; ; i++ {
		if ctx.Err() != nil || p.st.now() >= p.st.winEnd {
			return
		}
		if err := p.pacer.Wait(ctx, p.pay.size); err != nil {
			return
		}
		r := &kgo.Record{Topic: p.topics[i%len(p.topics)]}
		if p.keys > 0 {
			r.Key = fmt.Appendf(nil, "key-%d", p.rng.IntN(p.keys))
		}
		buf := p.pay.get(p.rng)
		r.Value = *buf
		binary.BigEndian.PutUint64(r.Value, uint64(p.st.now()))
		p.st.produced.Add(1)
		p.cl.Produce(ctx, r, func(r *kgo.Record, err error) { p.acked(r, buf, err) })
	}
}

func (p *producer) acked(r *kgo.Record, buf *[]byte, err error) {
	sent := time.Duration(binary.BigEndian.Uint64(r.Value))
	now := p.st.now()
	n := uint64(len(r.Key) + len(r.Value))
	p.pay.put(buf)
	if err != nil {
		p.st.produceErrs.Add(1)
		p.st.noteErr(fmt.Errorf("produce: %w", err))
		return
	}
	p.st.acked.Add(1)
	if p.st.inWindow(now) {
		p.st.bytesAckedDuringWin.Add(n)
	}
	if p.st.inWindow(sent) {
		p.st.ack.RecordDuration(now - sent)
		p.st.ackedBytesInWin.Add(n)
	}
}

// flush waits for every buffered record to be acknowledged or failed.
func (p *producer) flush(ctx context.Context) error {
	return p.cl.Flush(ctx)
}

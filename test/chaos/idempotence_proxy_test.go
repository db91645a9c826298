package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker"
	"github.com/strata-db/strata/internal/broker/brokertest"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestIdempotentProducerThroughDroppingProxy (issue 6, done-when 2): an
// idempotent kgo producer writes through a TCP proxy that cuts its
// connections at random moments, in both directions and mid-request or
// mid-response, sometimes after stalling them long enough for requests to
// time out. Requests the node processed but whose responses were lost are
// retried; the producer's sequence numbers must make every record land
// exactly once: no duplicates, no gaps, each key's records in order.
func TestIdempotentProducerThroughDroppingProxy(t *testing.T) {
	const topic, partitions = "idempotent-proxy", 3
	// Produce for a while, and until enough connections were cut.
	minRun, minCuts, maxRecords := 10*time.Second, int64(30), 400000
	if testing.Short() {
		minRun, minCuts = 3*time.Second, 10
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	px := newDropProxy(t, rand.New(rand.NewPCG(seed, 0x9e3779b9)))
	b := brokertest.Start(t, func(c *broker.Config) { c.Advertise = px.addr() }) // clients come back through the proxy
	px.serve(b.KafkaAddr())
	brokertest.CreateTopic(t, brokertest.Admin(t, b.KafkaAddr()), topic, partitions, nil)

	px.setCutting(true)
	cl := brokertest.Client(t, px.addr(), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(2*time.Millisecond), kgo.MaxBufferedRecords(1000),
		kgo.ProduceRequestTimeout(2*time.Second), kgo.RequestTimeoutOverhead(time.Second),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }),
		kgo.MetadataMinAge(100*time.Millisecond))
	ctx := brokertest.Context(t, 3*time.Minute)
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
		acked    = map[int32]map[int64]int{} // partition -> offset -> seq
		conflict string
	)
	start := time.Now()
	n := 0
	for ; n < maxRecords && (time.Since(start) < minRun || px.cuts.Load() < minCuts); n++ {
		seq := n
		if seq%100 == 99 {
			time.Sleep(10 * time.Millisecond) // about 10,000 records a second: the run spans many cuts
		}
		wg.Add(1)
		r := &kgo.Record{Key: []byte(strconv.Itoa(seq % 50)), Value: []byte(strconv.Itoa(seq))}
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			if acked[r.Partition] == nil {
				acked[r.Partition] = map[int64]int{}
			}
			if prev, dup := acked[r.Partition][r.Offset]; dup && conflict == "" {
				conflict = fmt.Sprintf("offset %d/%d acknowledged for seq %d and %d", r.Partition, r.Offset, prev, seq)
			}
			acked[r.Partition][r.Offset] = seq
		})
	}
	wg.Wait()
	px.setCutting(false)
	cuts := px.cuts.Load()
	t.Logf("%d records through %d connections, %d of them cut", n, px.conns.Load(), cuts)
	switch {
	case firstErr != nil:
		t.Fatalf("produce: %v", firstErr)
	case conflict != "":
		t.Fatal(conflict)
	case cuts < minCuts:
		t.Fatalf("only %d connections cut: the test did not test anything", cuts)
	}

	got := readAllThrough(t, px.addr(), topic, partitions, n)
	seen := make(map[int]bool, n)
	for p, recs := range got {
		lastOfKey := map[string]int{}
		for i, r := range recs {
			seq, err := strconv.Atoi(string(r.Value))
			switch {
			case r.Offset != int64(i):
				t.Fatalf("partition %d: record %d at offset %d: offsets not dense", p, i, r.Offset)
			case err != nil || seq < 0 || seq >= n:
				t.Fatalf("partition %d offset %d: foreign record %q", p, r.Offset, r.Value)
			case seen[seq]:
				t.Fatalf("partition %d offset %d: seq %d written twice", p, r.Offset, seq)
			}
			if want, ok := acked[p][r.Offset]; !ok || want != seq {
				t.Fatalf("partition %d offset %d holds seq %d; acknowledged there: seq %d (%v)", p, r.Offset, seq, want, ok)
			}
			seen[seq] = true
			if prev, ok := lastOfKey[string(r.Key)]; ok && seq < prev {
				t.Fatalf("partition %d: key %s has seq %d after %d", p, r.Key, seq, prev)
			}
			lastOfKey[string(r.Key)] = seq
		}
	}
	if len(seen) != n {
		t.Fatalf("%d of %d records found", len(seen), n)
	}
}

// readAllThrough reads every partition of topic from 0 until n records
// are in, then checks that nothing more arrives.
func readAllThrough(t *testing.T, addr, topic string, partitions int32, n int) map[int32][]*kgo.Record {
	t.Helper()
	at := map[string]map[int32]kgo.Offset{topic: {}}
	for p := range partitions {
		at[topic][p] = kgo.NewOffset().At(0)
	}
	cl := brokertest.Client(t, addr, kgo.ConsumePartitions(at), kgo.FetchMaxWait(100*time.Millisecond))
	defer cl.Close()
	got := map[int32][]*kgo.Record{}
	total := 0
	deadline := time.Now().Add(time.Minute)
	extraWait := time.Time{}
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("fetch %s/%d: %v", topic, p, err)
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], r)
			total++
		})
		if total >= n {
			if extraWait.IsZero() {
				extraWait = time.Now()
			} else if time.Since(extraWait) > time.Second {
				for _, recs := range got {
					slices.SortFunc(recs, func(a, b *kgo.Record) int { return int(a.Offset - b.Offset) })
				}
				return got
			}
		}
	}
	t.Fatalf("read %d of %d records in a minute", total, n)
	return nil
}

// dropProxy forwards TCP connections to a node and, while cutting, gives
// each connection a random lifetime: then it is reset (both sides, losing
// whatever either direction had in flight), after a stall in which nothing
// is forwarded for some of them. It is written for this test (toxiproxy is
// not a dependency of the module).
type dropProxy struct {
	t        *testing.T
	ln       net.Listener
	upstream string

	rngMu sync.Mutex
	rng   *rand.Rand

	cutting atomic.Bool
	conns   atomic.Int64 // accepted
	cuts    atomic.Int64

	mu    sync.Mutex
	live  map[*proxiedConn]struct{}
	wg    sync.WaitGroup
	close sync.Once
}

type proxiedConn struct {
	client, server net.Conn
	// Stalled directions drop what they read: requests never reach the
	// node, or the node's responses never reach the client (the requests
	// were processed: the client's retries must be recognized).
	requestsStalled, responsesStalled atomic.Bool
	once                              sync.Once
}

// reset ends both sides abruptly (RST, not FIN).
func (c *proxiedConn) reset() {
	c.once.Do(func() {
		for _, conn := range []net.Conn{c.client, c.server} {
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetLinger(0)
			}
			conn.Close()
		}
	})
}

func newDropProxy(t *testing.T, rng *rand.Rand) *dropProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &dropProxy{t: t, ln: ln, rng: rng, live: map[*proxiedConn]struct{}{}}
	t.Cleanup(p.shutdown)
	return p
}

func (p *dropProxy) addr() string       { return p.ln.Addr().String() }
func (p *dropProxy) setCutting(on bool) { p.cutting.Store(on) }
func (p *dropProxy) randDuration(lo, hi time.Duration) time.Duration {
	p.rngMu.Lock()
	defer p.rngMu.Unlock()
	return lo + time.Duration(p.rng.Int64N(int64(hi-lo)))
}

// serve starts accepting connections for upstream.
func (p *dropProxy) serve(upstream string) {
	p.upstream = upstream
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := p.ln.Accept()
			if err != nil {
				return
			}
			p.conns.Add(1)
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.handle(c)
			}()
		}
	}()
}

func (p *dropProxy) handle(client net.Conn) {
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		client.Close()
		return
	}
	pc := &proxiedConn{client: client, server: server}
	p.mu.Lock()
	p.live[pc] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.live, pc)
		p.mu.Unlock()
	}()
	life := p.randDuration(5*time.Millisecond, 400*time.Millisecond)
	// Half of the connections stall before they are cut: a fifth of those
	// in both directions, the others losing only the responses.
	stall := p.randDuration(0, 10*time.Second)
	cutter := time.AfterFunc(life, func() {
		if !p.cutting.Load() {
			return
		}
		p.cuts.Add(1)
		if stall < 5*time.Second {
			pc.responsesStalled.Store(true)
			pc.requestsStalled.Store(stall < time.Second)
			time.Sleep(p.randDuration(200*time.Millisecond, 3*time.Second))
		}
		pc.reset()
	})
	defer cutter.Stop()
	done := make(chan struct{}, 2)
	go func() { p.pipe(server, client, &pc.requestsStalled); done <- struct{}{} }()
	go func() { p.pipe(client, server, &pc.responsesStalled); done <- struct{}{} }()
	<-done
	pc.reset()
	<-done
}

// pipe copies src to dst until either fails; while stalled, what it reads
// is dropped on the floor.
func (p *dropProxy) pipe(dst io.Writer, src io.Reader, stalled *atomic.Bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !stalled.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *dropProxy) shutdown() {
	p.close.Do(func() {
		p.ln.Close()
		p.mu.Lock()
		for pc := range p.live {
			pc.reset()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
}

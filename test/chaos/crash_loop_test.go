package chaos

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestCrashLoop produces continuously with acks=all while the node is
// SIGKILLed at random moments and restarted on the same data directory and
// ports (some restarts are killed again while recovering). After a final
// clean restart every acknowledged record must be at its acknowledged
// offset with its bytes, every partition's offsets must be dense from 0,
// and every record present must be one the test produced.
func TestCrashLoop(t *testing.T) {
	const (
		topic       = "crash-loop"
		partitions  = 6
		kills       = 8
		maxInFlight = 1000 // records handed to kgo and not yet settled
	)
	rng := brokertest.Rand(t)
	srv := startServer(t, filepath.Join(t.TempDir(), "data"))
	// Small segments, so that kills also land around rolls, the flushes
	// of rolled segments (recovery point, index files) and reads across
	// segments.
	brokertest.CreateTopic(t, brokertest.Admin(t, srv.kafkaAddr), topic, partitions, map[string]*string{"segment.bytes": kadm.StringPtr("1048576")})

	// Without idempotence (Strata does not serve it yet) kgo may fail
	// records on timeout even if a request is in flight, so every promise
	// finishes while the node is down.
	cl := brokertest.Client(t, srv.kafkaAddr, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite(),
		kgo.RecordDeliveryTimeout(4*time.Second), kgo.ProduceRequestTimeout(3*time.Second),
		kgo.ProducerLinger(2*time.Millisecond), kgo.DefaultProduceTopic(topic),
		// Reconnect quickly after a restart (the default backoff grows to
		// seconds and metadata refreshes are at least 5s apart), so that
		// most of the run is spent producing.
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		kgo.MetadataMinAge(100*time.Millisecond))
	led := newLedger()
	stop := make(chan struct{})
	var settled sync.WaitGroup
	producerDone := make(chan struct{})
	go func() {
		defer close(producerDone)
		produceUntil(stop, led, cl, topic, maxInFlight, &settled)
	}()

	// Each kill comes at a random moment after the producer has made
	// progress against the current process, so that it lands mid-stream.
	// Some restarts are killed again while starting up (recovering).
	for i := range kills {
		waitProgress(t, led, 15*time.Second)
		time.Sleep(time.Duration(100+rng.IntN(1000)) * time.Millisecond)
		srv.kill()
		acked := ackedCount(led)
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		during := ""
		if rng.IntN(3) == 0 {
			d := time.Duration(rng.IntN(150)) * time.Millisecond
			srv.startKillDuringStartup(d)
			during = fmt.Sprintf(", killed again %v into its restart", d)
		}
		srv.start()
		t.Logf("kill %d: %d records acknowledged before it%s; producing again after %v",
			i+1, acked, during, waitProgress(t, led, 15*time.Second))
	}
	close(stop)
	<-producerDone
	waitSettled(t, &settled, 20*time.Second)

	if code, took := srv.term(); code != 0 {
		t.Fatalf("SIGTERM: exit code %d after %v", code, took)
	}
	srv.start()
	ends := endOffsets(t, brokertest.Admin(t, srv.kafkaAddr), topic)
	if len(ends) != partitions {
		t.Fatalf("end offsets of %d partitions, want %d: %v", len(ends), partitions, ends)
	}
	rep := led.verify(t, srv.kafkaAddr, topic, ends)
	t.Logf("produced %d, acknowledged %d, failed %d (first error: %v); read back %d records: %d never acknowledged, %d records in %d extra copies",
		led.next, rep.acked, led.failed, led.firstErr, rep.records, rep.unacked, rep.dupSeqs, rep.extraCopy)
	logDir := topicLogDir(t, brokertest.Admin(t, srv.kafkaAddr), srv.dataDir, topic, 0)
	t.Logf("partition 0 files: %s", listFiles(logDir))
}

// produceUntil hands records to cl until stop is closed, keeping at most
// maxInFlight unsettled. It paces itself (about 20k records/s at most) so
// that the final read-back stays short.
func produceUntil(stop <-chan struct{}, led *ledger, cl *kgo.Client, topic string, maxInFlight int, settled *sync.WaitGroup) {
	sem := make(chan struct{}, maxInFlight)
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case sem <- struct{}{}:
		}
		settled.Add(1)
		led.produce(context.Background(), cl, topic, func() { <-sem; settled.Done() })
		if i%20 == 19 {
			time.Sleep(time.Millisecond)
		}
	}
}

// waitProgress waits until the producer gets a new acknowledgement and
// returns how long that took.
func waitProgress(t *testing.T, led *ledger, d time.Duration) time.Duration {
	t.Helper()
	before, begin := ackedCount(led), time.Now()
	for ackedCount(led) == before {
		if time.Since(begin) > d {
			t.Fatalf("no record acknowledged for %v (%d so far): the node does not serve", d, before)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(begin)
}

func ackedCount(led *ledger) int {
	led.mu.Lock()
	defer led.mu.Unlock()
	return len(led.acked)
}

func waitSettled(t *testing.T, wg *sync.WaitGroup, d time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("produce promises not settled after %v", d)
	}
}

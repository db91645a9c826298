package chaos

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"

	"github.com/twmb/franz-go/pkg/kgo"
)

// maxCleanShutdown bounds SIGTERM-to-exit: the node drains in-flight
// requests for at most 5s (broker.Config.ShutdownTimeout), then closes.
const maxCleanShutdown = 7 * time.Second

// TestSIGTERMClean sends SIGTERM while a producer is busy: the process must
// exit 0 within a few seconds, leave the clean-shutdown marker, restart
// without recovering any log, and serve every acknowledged record.
func TestSIGTERMClean(t *testing.T) {
	const topic = "sigterm"
	dataDir := filepath.Join(t.TempDir(), "data")
	srv := startServer(t, dataDir)
	brokertest.CreateTopic(t, brokertest.Admin(t, srv.kafkaAddr), topic, 3, nil)
	cl := brokertest.Client(t, srv.kafkaAddr, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite(),
		kgo.RecordDeliveryTimeout(10*time.Second), kgo.ProducerLinger(2*time.Millisecond), kgo.DefaultProduceTopic(topic))
	led := newLedger()
	led.produceSync(t, cl, topic, 5000)

	stop := make(chan struct{})
	var settled sync.WaitGroup
	producerDone := make(chan struct{})
	go func() {
		defer close(producerDone)
		produceUntil(stop, led, cl, topic, 500, &settled)
	}()
	waitProgress(t, led, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	code, took := srv.term()
	close(stop)
	<-producerDone
	t.Logf("SIGTERM: exit code %d after %v; %d records acknowledged", code, took, ackedCount(led))
	if code != 0 {
		t.Fatalf("SIGTERM: exit code %d, want 0", code)
	}
	if took > maxCleanShutdown {
		t.Fatalf("SIGTERM: exit took %v, want at most %v", took, maxCleanShutdown)
	}
	marker := filepath.Join(dataDir, "logs", ".clean-shutdown")
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("no clean-shutdown marker after SIGTERM: %v", err)
	}

	srv.start()
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatalf("clean-shutdown marker still there while the node runs: %v", err)
	}
	// Promises of records pending at the shutdown finish against the new
	// process.
	waitSettled(t, &settled, 20*time.Second)
	rep := led.verify(t, srv.kafkaAddr, topic, endOffsets(t, brokertest.Admin(t, srv.kafkaAddr), topic))
	t.Logf("produced %d, acknowledged %d, failed %d (first error: %v); read back %d records: %d never acknowledged, %d records in %d extra copies",
		led.next, rep.acked, led.failed, led.firstErr, rep.records, rep.unacked, rep.dupSeqs, rep.extraCopy)
	for _, line := range strings.Split(srv.logText(2), "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			t.Errorf("restart after a clean shutdown logged: %s", line)
		}
	}
}

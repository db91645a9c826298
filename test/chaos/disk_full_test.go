package chaos

import (
	"errors"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	diskFullTopic = "disk-full"
	tmpfsSize     = "size=8m"
	bigValue      = 64 << 10 // larger than a page, so an append needs new blocks
)

// TestDiskFull runs the node on a small tmpfs and fills it: produces must
// fail with KAFKA_STORAGE_ERROR while the process stays up and healthy and
// keeps serving reads; once space returns, produces succeed again at the
// next offset, and every acknowledged record is still there, also after a
// clean restart. Needs mount(2) (root); skipped otherwise.
func TestDiskFull(t *testing.T) {
	rng := brokertest.Rand(t)
	mnt := mountTmpfs(t)
	srv := startServer(t, filepath.Join(mnt, "data"))
	brokertest.CreateTopic(t, brokertest.Admin(t, srv.kafkaAddr), diskFullTopic, 1, nil)
	cl := brokertest.Client(t, srv.kafkaAddr, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordDeliveryTimeout(10*time.Second))
	acked := map[int32]map[int64]*kgo.Record{}
	for range 20 {
		produceAcked(t, cl, []*kgo.Record{bigRecord(rng), bigRecord(rng)}, acked)
	}
	adm := brokertest.Admin(t, srv.kafkaAddr)
	endBefore := endOffsets(t, adm, diskFullTopic)[0]

	dummy := filepath.Join(mnt, "dummy")
	t.Logf("filled the disk with %d bytes", fillDisk(t, dummy))
	// No retries: kgo fails the record with the error the node answered.
	failing := brokertest.Client(t, srv.kafkaAddr, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RecordRetries(0))
	storageErrs := 0
	for range 5 {
		r := bigRecord(rng)
		err := failing.ProduceSync(brokertest.Context(t, 10*time.Second), r).FirstErr()
		switch {
		case err == nil:
			t.Logf("produce with a full disk succeeded at offset %d", r.Offset)
			acked[0][r.Offset] = r
		case errors.Is(err, kerr.KafkaStorageError):
			storageErrs++
		default:
			t.Fatalf("produce with a full disk: %v, want KAFKA_STORAGE_ERROR", err)
		}
	}
	if storageErrs == 0 {
		t.Fatal("no produce failed with KAFKA_STORAGE_ERROR while the disk was full")
	}
	t.Logf("%d of 5 produces failed with KAFKA_STORAGE_ERROR", storageErrs)
	if !srv.alive() {
		t.Fatal("node exited while the disk was full")
	}
	if code := srv.healthz(); code != http.StatusOK {
		t.Fatalf("/healthz with a full disk: %d, want 200", code)
	}
	checkDiskFullData(t, srv, acked) // reads keep working

	if err := os.Remove(dummy); err != nil {
		t.Fatal(err)
	}
	endFull := endOffsets(t, adm, diskFullTopic)[0]
	if want := int64(len(acked[0])); endFull != want {
		t.Fatalf("end offset %d after the failed produces (%d before them), want %d", endFull, endBefore, want)
	}
	r := bigRecord(rng)
	produceAcked(t, cl, []*kgo.Record{r}, acked)
	if r.Offset != endFull {
		t.Fatalf("first record after space returned got offset %d, want %d", r.Offset, endFull)
	}
	checkDiskFullData(t, srv, acked)
	logDir := topicLogDir(t, adm, srv.dataDir, diskFullTopic, 0)
	parseSegment(t, readFile(t, activeSegment(t, logDir))) // no partial write left behind

	if code, took := srv.term(); code != 0 {
		t.Fatalf("SIGTERM: exit code %d after %v", code, took)
	}
	srv.start()
	checkDiskFullData(t, srv, acked)
}

// mountTmpfs mounts a small tmpfs for the test and unmounts it at cleanup
// (registered before the server's, so it runs after the node is gone).
func mountTmpfs(t *testing.T) string {
	t.Helper()
	mnt := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, tmpfsSize); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root / CAP_SYS_ADMIN): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount %s: %v", mnt, err)
		}
	})
	return mnt
}

// fillDisk writes path until the file system is full and returns the
// number of bytes written.
func fillDisk(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	var total int64
	for {
		n, err := f.Write(chunk)
		total += int64(n)
		if errors.Is(err, syscall.ENOSPC) {
			return total
		}
		if err != nil {
			t.Fatalf("fill disk: %v", err)
		}
		if total > 1<<30 {
			t.Fatal("fill disk: wrote 1 GiB without running out of space")
		}
	}
}

func bigRecord(rng *rand.Rand) *kgo.Record {
	r := randomRecord(rng, 0)
	r.Topic = diskFullTopic
	r.Value = randomBytes(rng, bigValue) // incompressible
	return r
}

// checkDiskFullData reads the partition and compares it with acked.
func checkDiskFullData(t *testing.T, srv *server, acked map[int32]map[int64]*kgo.Record) {
	t.Helper()
	ends := endOffsets(t, brokertest.Admin(t, srv.kafkaAddr), diskFullTopic)
	if ends[0] != int64(len(acked[0])) {
		t.Fatalf("end offset %d, want %d (the acknowledged records)", ends[0], len(acked[0]))
	}
	got := consumeRange(t, srv.kafkaAddr, diskFullTopic, ends)
	for _, r := range got[0] {
		if err := sameRecord(acked[0][r.Offset], r); err != nil {
			t.Fatalf("offset %d: %v", r.Offset, err)
		}
	}
}

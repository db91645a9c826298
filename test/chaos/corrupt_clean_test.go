package chaos

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"

	"github.com/strata-db/strata/internal/record"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCorruptAfterCleanShutdownNotServed damages a batch in the middle of
// the active segment after a clean shutdown. Files are trusted after a
// clean shutdown (only the tail after the last index entry is scanned), so
// the node keeps the batch; but reads verify CRCs, so it must refuse that
// batch with KAFKA_STORAGE_ERROR instead of serving the damaged bytes,
// while serving the batches around it byte for byte.
func TestCorruptAfterCleanShutdownNotServed(t *testing.T) {
	rng := brokertest.Rand(t)
	base := buildCorruptBaseline(t, rng)
	dataDir := filepath.Join(t.TempDir(), "data")
	copyDir(t, base.dataDir, dataDir)
	srv := startServer(t, dataDir)
	if code, took := srv.term(); code != 0 {
		t.Fatalf("SIGTERM: exit code %d after %v", code, took)
	}
	segPath := activeSegment(t, filepath.Join(dataDir, base.logRel))
	orig := readFile(t, segPath)
	spans := parseSegment(t, orig)
	// Only record bytes are damaged. A damaged last offset delta in the
	// header makes a read starting inside the batch step over it without
	// a CRC check (only returned batches are verified); not covered here.
	damaged, i := flipBytes(func(s []batchSpan) int { return len(s) / 2 }, record.HeaderSize)(rng, bytes.Clone(orig), spans)
	if err := os.WriteFile(segPath, damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	srv.start()

	cl := brokertest.Client(t, srv.kafkaAddr)
	id := topicID(t, cl, corruptTopic)
	// The batch before: served alone (the read stops at the damage).
	code, recs := fetchRaw(t, cl, id, damagedPart, spans[i-1].base)
	if code != 0 || !bytes.Equal(recs, orig[spans[i-1].pos:spans[i].pos]) {
		t.Fatalf("fetch at %d, the batch before the damaged one: error %d, %d bytes; want that batch's %d bytes as stored",
			spans[i-1].base, code, len(recs), spans[i-1].size)
	}
	for _, off := range []int64{spans[i].base, spans[i].next - 1} {
		code, recs := fetchRaw(t, cl, id, damagedPart, off)
		if code != kerr.KafkaStorageError.Code || len(recs) != 0 {
			t.Fatalf("fetch at %d, inside the damaged batch [%d, %d): error %d with %d bytes of records; want KAFKA_STORAGE_ERROR and none",
				off, spans[i].base, spans[i].next, code, len(recs))
		}
	}
	code, recs = fetchRaw(t, cl, id, damagedPart, spans[i+1].base)
	if code != 0 || len(recs) == 0 || !bytes.HasPrefix(orig[spans[i+1].pos:], recs) {
		t.Fatalf("fetch at %d, after the damaged batch: error %d, %d bytes; want the stored batches from there", spans[i+1].base, code, len(recs))
	}
	if !srv.alive() || srv.healthz() != http.StatusOK {
		t.Fatalf("node unhealthy after serving a corrupt batch: alive %v, /healthz %d", srv.alive(), srv.healthz())
	}
}

func topicID(t *testing.T, cl *kgo.Client, topic string) [16]byte {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(brokertest.Context(t, 10*time.Second), cl)
	if err != nil || len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("metadata of %s: %v %+v", topic, err, resp)
	}
	return resp.Topics[0].TopicID
}

// fetchRaw sends one Fetch (the newest version both sides speak, so the
// topic is named by id) for one partition and returns its error code and
// record bytes.
func fetchRaw(t *testing.T, cl *kgo.Client, id [16]byte, partition int32, offset int64) (int16, []byte) {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.MaxBytes = 1 << 20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = corruptTopic, id
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, offset, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(brokertest.Context(t, 10*time.Second), cl)
	if err != nil {
		t.Fatalf("fetch %d/%d: %v", partition, offset, err)
	}
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch %d/%d: error %d, %d topics", partition, offset, resp.ErrorCode, len(resp.Topics))
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.RecordBatches
}

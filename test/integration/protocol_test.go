package integration

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker"
	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/strata-db/strata/internal/record"
	"github.com/strata-db/strata/internal/record/recordtest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawBroker sends hand-built requests, at exactly the version given, over
// its own connection to the node (node 1 of a test cluster). On a cluster
// a partition's requests must reach its leader and a group's or
// transactional id's its coordinator: tests send the former for topics
// made with createTopic, which node 1 leads, and the latter through
// coordinator.
type rawBroker struct {
	t      *testing.T
	b      *broker.Broker
	addr   string
	conn   net.Conn
	corr   int32
	cl     *kgo.Client
	adm    *kadm.Client
	coords map[int32]*rawBroker // by node id, for coordinator
}

func newRaw(t *testing.T, mutate ...func(*broker.Config)) *rawBroker {
	b := brokertest.Start(t, mutate...)
	c, err := net.Dial("tcp", b.KafkaAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	cl := brokertest.Client(t, b.KafkaAddr())
	return &rawBroker{t: t, b: b, addr: b.KafkaAddr(), conn: c, cl: cl, adm: kadm.NewClient(cl), coords: map[int32]*rawBroker{}}
}

// createTopic creates a topic whose partitions node 1 leads, so that this
// connection reaches their leader.
func (r *rawBroker) createTopic(name string, partitions int32, configs map[string]*string) {
	r.t.Helper()
	brokertest.CreateTopicLedByNode1(r.t, r.cl, name, partitions, configs)
}

// coordinator returns a rawBroker connected to the coordinator of key
// (typ 0: a group, 1: a transactional id): r itself on a single node.
func (r *rawBroker) coordinator(typ int8, key string) *rawBroker {
	r.t.Helper()
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorType, fc.CoordinatorKeys = typ, []string{key}
	var c kmsg.FindCoordinatorResponseCoordinator
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c = r.request(fc).(*kmsg.FindCoordinatorResponse).Coordinators[0]; c.ErrorCode == 0 {
			break
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("find coordinator of %q: %v", key, kerr.ErrorForCode(c.ErrorCode))
		}
	}
	if c.NodeID == 1 { // Start's node, this connection's
		return r
	}
	if rc, ok := r.coords[c.NodeID]; ok {
		return rc
	}
	addr := net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port)))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { conn.Close() })
	rc := &rawBroker{t: r.t, b: r.b, addr: addr, conn: conn, cl: r.cl, adm: r.adm, coords: r.coords}
	r.coords[c.NodeID] = rc
	return rc
}

// request sends req at its current version (the maximum if unset) and
// decodes the response.
func (r *rawBroker) request(req kmsg.Request) kmsg.Response {
	r.t.Helper()
	if req.GetVersion() == 0 && req.Key() != 18 {
		req.SetVersion(req.MaxVersion())
	}
	return r.requestAt(req, req.GetVersion())
}

// requestAt sends req at exactly version v, 0 included.
func (r *rawBroker) requestAt(req kmsg.Request, v int16) kmsg.Response {
	r.t.Helper()
	req.SetVersion(v)
	r.corr++
	b := []byte{0, 0, 0, 0}
	b = binary.BigEndian.AppendUint16(b, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(r.corr))
	b = binary.BigEndian.AppendUint16(b, 3)
	b = append(b, "raw"...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	r.conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := r.conn.Write(b); err != nil {
		r.t.Fatal(err)
	}
	var size [4]byte
	if _, err := io.ReadFull(r.conn, size[:]); err != nil {
		r.t.Fatalf("%T: read: %v", req, err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(r.conn, body); err != nil {
		r.t.Fatal(err)
	}
	if got := int32(binary.BigEndian.Uint32(body)); got != r.corr {
		r.t.Fatalf("correlation id %d, want %d", got, r.corr)
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	body = body[4:]
	if resp.IsFlexible() && req.Key() != 18 {
		body = body[1:] // empty header tags
	}
	if err := resp.ReadFrom(body); err != nil {
		r.t.Fatalf("%T v%d: decode: %v", resp, req.GetVersion(), err)
	}
	return resp
}

func (r *rawBroker) produce(topic string, partition int32, records []byte) kmsg.ProduceResponseTopicPartition {
	r.t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(12)
	req.Acks = -1
	req.TimeoutMillis = 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := r.request(req).(*kmsg.ProduceResponse)
	return resp.Topics[0].Partitions[0]
}

func (r *rawBroker) endOffset(topic string) int64 {
	r.t.Helper()
	l, err := r.adm.ListEndOffsets(brokertest.Context(r.t, 10*time.Second), topic)
	if err != nil {
		r.t.Fatal(err)
	}
	o, _ := l.Lookup(topic, 0)
	return o.Offset
}

func batch(n int, valueSize int) []byte {
	recs := make([]recordtest.Rec, n)
	for i := range recs {
		recs[i] = recordtest.Rec{Key: []byte{byte(i)}, Value: make([]byte, valueSize), TimestampMs: time.Now().UnixMilli()}
	}
	return recordtest.Build(record.CompressionNone, recs...)
}

func TestProduceRejectsBadInput(t *testing.T) {
	r := newRaw(t)
	r.createTopic("in", 1, map[string]*string{"max.message.bytes": kadm.StringPtr("10000")})

	corrupt := batch(3, 10)
	corrupt[len(corrupt)-1] ^= 0xff
	oldMagic := batch(1, 10)
	oldMagic[16] = 1
	badMagic := batch(1, 10)
	badMagic[16] = 7
	two := append(batch(1, 10), batch(1, 10)...)
	cases := []struct {
		name    string
		topic   string
		part    int32
		records []byte
		want    *kerr.Error
	}{
		{"crc", "in", 0, corrupt, kerr.CorruptMessage},
		{"too large", "in", 0, batch(1, 20000), kerr.MessageTooLarge},
		{"magic v1", "in", 0, oldMagic, kerr.InvalidRecord},
		{"bad magic", "in", 0, badMagic, kerr.CorruptMessage},
		{"two batches", "in", 0, two, kerr.InvalidRecord},
		{"truncated", "in", 0, batch(3, 10)[:70], kerr.CorruptMessage},
		{"no partition", "in", 7, batch(1, 10), kerr.UnknownTopicOrPartition},
		{"no topic", "missing", 0, batch(1, 10), kerr.UnknownTopicOrPartition},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sp := r.produce(tc.topic, tc.part, tc.records)
			if sp.ErrorCode != tc.want.Code {
				t.Fatalf("got %v, want %v", kerr.ErrorForCode(sp.ErrorCode), tc.want)
			}
		})
	}
	if end := r.endOffset("in"); end != 0 {
		t.Fatalf("rejected batches were appended: end offset %d", end)
	}
	if sp := r.produce("in", 0, batch(3, 10)); sp.ErrorCode != 0 || sp.BaseOffset != 0 {
		t.Fatalf("good batch after bad ones: %v at %d", kerr.ErrorForCode(sp.ErrorCode), sp.BaseOffset)
	}
}

// fetchOne fetches one partition and returns its response.
func (r *rawBroker) fetch(req *kmsg.FetchRequest) *kmsg.FetchResponse {
	r.t.Helper()
	return r.request(req).(*kmsg.FetchResponse)
}

func fetchReq(topic string, partitions ...int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.MaxBytes = 50 << 20
	req.SessionEpoch = -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	for _, p := range partitions {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p
		rp.PartitionMaxBytes = 1 << 20
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

func batchesIn(t *testing.T, b []byte) []record.Header {
	var hs []record.Header
	if _, err := record.Split(b, func(_ []byte, h *record.Header) error { hs = append(hs, *h); return nil }); err != nil {
		t.Fatal(err)
	}
	return hs
}

func TestTopicCodecAndLogAppendTime(t *testing.T) {
	r := newRaw(t)
	r.createTopic("forced", 1, map[string]*string{"compression.type": kadm.StringPtr("zstd"), "message.timestamp.type": kadm.StringPtr("LogAppendTime")})
	before := time.Now().UnixMilli()
	sp := r.produce("forced", 0, batch(5, 100))
	if sp.ErrorCode != 0 || sp.LogAppendTime < before {
		t.Fatalf("produce: %v, log append time %d", kerr.ErrorForCode(sp.ErrorCode), sp.LogAppendTime)
	}
	resp := r.fetch(fetchReq("forced", 0))
	hs := batchesIn(t, resp.Topics[0].Partitions[0].RecordBatches)
	if len(hs) != 1 || hs[0].Compression() != record.CompressionZstd || !hs[0].LogAppendTime() || hs[0].MaxTimestamp != sp.LogAppendTime {
		t.Fatalf("stored batch: %+v", hs)
	}
}

func TestFetchLimits(t *testing.T) {
	r := newRaw(t)
	r.createTopic("lim", 2, nil)
	for p := int32(0); p < 2; p++ {
		for range 3 {
			if sp := r.produce("lim", p, batch(1, 3000)); sp.ErrorCode != 0 {
				t.Fatal(kerr.ErrorForCode(sp.ErrorCode))
			}
		}
	}
	// A partition limit below one batch still returns one whole batch for
	// the first partition with data (KIP-74), and nothing for the next.
	req := fetchReq("lim", 0, 1)
	for i := range req.Topics[0].Partitions {
		req.Topics[0].Partitions[i].PartitionMaxBytes = 100
	}
	resp := r.fetch(req)
	if n := len(batchesIn(t, resp.Topics[0].Partitions[0].RecordBatches)); n != 1 {
		t.Fatalf("first partition: %d batches, want 1", n)
	}
	if n := len(resp.Topics[0].Partitions[1].RecordBatches); n != 0 {
		t.Fatalf("second partition: %d bytes, want none", n)
	}
	// A response limit of two batches' worth stops after two.
	req = fetchReq("lim", 0, 1)
	req.MaxBytes = 2 * 3100
	resp = r.fetch(req)
	total := 0
	for _, p := range resp.Topics[0].Partitions {
		total += len(batchesIn(t, p.RecordBatches))
	}
	if total != 2 {
		t.Fatalf("response max bytes: %d batches, want 2", total)
	}
	// Fetching past the end is out of range; at the end it is empty.
	req = fetchReq("lim", 0)
	req.Topics[0].Partitions[0].FetchOffset = 4
	if resp = r.fetch(req); resp.Topics[0].Partitions[0].ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("past end: %v", kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode))
	}
}

func TestFetchLongPoll(t *testing.T) {
	r := newRaw(t)
	r.createTopic("poll", 1, nil)
	req := fetchReq("poll", 0)
	req.MinBytes, req.MaxWaitMillis = 1, 400
	start := time.Now()
	resp := r.fetch(req)
	if waited := time.Since(start); waited < 350*time.Millisecond || len(resp.Topics[0].Partitions[0].RecordBatches) != 0 {
		t.Fatalf("empty poll returned after %v", waited)
	}
	// An empty record set is encoded empty, not null: librdkafka rejects null.
	if resp.Topics[0].Partitions[0].RecordBatches == nil {
		t.Fatal("empty fetch returned a null record set")
	}
	// Data arriving during the wait ends it early.
	req.MaxWaitMillis = 10000
	producer := brokertest.Client(t, r.addr, kgo.DefaultProduceTopic("poll"))
	go func() {
		time.Sleep(200 * time.Millisecond)
		producer.ProduceSync(context.Background(), &kgo.Record{Value: []byte("x")})
	}()
	start = time.Now()
	resp = r.fetch(req)
	if waited := time.Since(start); waited > 5*time.Second || len(resp.Topics[0].Partitions[0].RecordBatches) == 0 {
		t.Fatalf("poll with data returned after %v with %d bytes", waited, len(resp.Topics[0].Partitions[0].RecordBatches))
	}
}

func TestFetchSessions(t *testing.T) {
	r := newRaw(t)
	r.createTopic("sess", 2, nil)
	topicID := func() [16]byte {
		d, err := r.adm.ListTopics(context.Background(), "sess")
		if err != nil {
			t.Fatal(err)
		}
		return d["sess"].ID
	}()
	req := fetchReq("", 0, 1)
	req.SetVersion(13)
	req.Topics[0].TopicID = topicID
	req.SessionEpoch = 0
	resp := r.fetch(req)
	if resp.SessionID == 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
		t.Fatalf("full fetch: session %d, %+v", resp.SessionID, resp.Topics)
	}
	// Incremental fetch with nothing new: no partitions in the response.
	inc := kmsg.NewPtrFetchRequest()
	inc.SetVersion(13)
	inc.MaxBytes, inc.SessionID, inc.SessionEpoch = 1<<20, resp.SessionID, 1
	if got := r.fetch(inc); got.ErrorCode != 0 || len(got.Topics) != 0 {
		t.Fatalf("idle incremental fetch: %v %+v", kerr.ErrorForCode(got.ErrorCode), got.Topics)
	}
	// New data on partition 1: only it comes back.
	r.produce("sess", 1, batch(2, 10))
	inc.SessionEpoch = 2
	got := r.fetch(inc)
	if len(got.Topics) != 1 || len(got.Topics[0].Partitions) != 1 || got.Topics[0].Partitions[0].Partition != 1 || got.Topics[0].TopicID != topicID {
		t.Fatalf("incremental fetch after produce: %+v", got.Topics)
	}
	inc.SessionEpoch = 7
	if got := r.fetch(inc); got.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("wrong epoch: %v", kerr.ErrorForCode(got.ErrorCode))
	}
	inc.SessionID, inc.SessionEpoch = 12345, 1
	if got := r.fetch(inc); got.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("unknown session: %v", kerr.ErrorForCode(got.ErrorCode))
	}
	// An unknown topic id is reported per partition.
	bad := fetchReq("", 0)
	bad.SetVersion(13)
	bad.Topics[0].TopicID = [16]byte{1, 2, 3}
	if got := r.fetch(bad); got.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicID.Code {
		t.Fatalf("unknown topic id: %v", kerr.ErrorForCode(got.Topics[0].Partitions[0].ErrorCode))
	}
}

func TestMetadataAutoCreate(t *testing.T) {
	r := newRaw(t)
	noAuto := newRaw(t, func(c *broker.Config) { c.Static = map[string]string{"auto.create.topics.enable": "false"} })
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr("auto")
	req.Topics = append(req.Topics, rt)
	req.AllowAutoTopicCreation = false
	resp := r.request(req).(*kmsg.MetadataResponse)
	if resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("without auto-create: %v", kerr.ErrorForCode(resp.Topics[0].ErrorCode))
	}
	req.AllowAutoTopicCreation = true
	resp = r.request(req).(*kmsg.MetadataResponse)
	if resp.Topics[0].ErrorCode != 0 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("auto-create: %v, %d partitions", kerr.ErrorForCode(resp.Topics[0].ErrorCode), len(resp.Topics[0].Partitions))
	}
	// The broker can forbid it (a static config, as in Kafka).
	resp = noAuto.request(req).(*kmsg.MetadataResponse)
	if resp.Topics[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("auto-create disabled by broker: %v", kerr.ErrorForCode(resp.Topics[0].ErrorCode))
	}
}

// TestProduceAdvertisedFromZero: ApiVersions lists Produce from v0, as
// Kafka 4.0 does for librdkafka's sake (KAFKA-18659), though only v3+ is
// served.
func TestProduceAdvertisedFromZero(t *testing.T) {
	r := newRaw(t)
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(3)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "raw", "1"
	resp := r.request(req).(*kmsg.ApiVersionsResponse)
	for _, k := range resp.ApiKeys {
		if k.ApiKey == 0 {
			if k.MinVersion != 0 || k.MaxVersion != 13 {
				t.Fatalf("Produce advertised as v%d-v%d", k.MinVersion, k.MaxVersion)
			}
			return
		}
	}
	t.Fatal("Produce not advertised")
}

// TestOldVersionsGetUnsupportedVersion: a request at a version below the
// served range gets a response of its own version with UNSUPPORTED_VERSION
// for every partition it named, and the connection stays usable.
func TestOldVersionsGetUnsupportedVersion(t *testing.T) {
	r := newRaw(t)
	r.createTopic("old", 2, nil)
	unsupported := kerr.UnsupportedVersion.Code

	produce := kmsg.NewPtrProduceRequest()
	produce.SetVersion(2)
	produce.Acks, produce.TimeoutMillis = 1, 1000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "old"
	for p := int32(0); p < 2; p++ {
		pp := kmsg.NewProduceRequestTopicPartition()
		pp.Partition, pp.Records = p, batch(1, 10)
		pt.Partitions = append(pt.Partitions, pp)
	}
	produce.Topics = append(produce.Topics, pt)
	presp := r.request(produce).(*kmsg.ProduceResponse)
	if len(presp.Topics) != 1 || presp.Topics[0].Topic != "old" || len(presp.Topics[0].Partitions) != 2 {
		t.Fatalf("Produce v2 response: %+v", presp.Topics)
	}
	for _, p := range presp.Topics[0].Partitions {
		if p.ErrorCode != unsupported {
			t.Fatalf("Produce v2 partition %d: %v", p.Partition, kerr.ErrorForCode(p.ErrorCode))
		}
	}

	fetch := fetchReq("old", 0, 1)
	fetch.SetVersion(3)
	fresp := r.fetch(fetch)
	if len(fresp.Topics) != 1 || len(fresp.Topics[0].Partitions) != 2 || fresp.Topics[0].Partitions[1].Partition != 1 ||
		fresp.Topics[0].Partitions[1].ErrorCode != unsupported {
		t.Fatalf("Fetch v3 response: %+v", fresp.Topics)
	}
	if fresp.Topics[0].Partitions[0].RecordBatches == nil {
		t.Fatal("refused Fetch carries null records; librdkafka cannot parse that")
	}

	lo := kmsg.NewPtrListOffsetsRequest()
	lo.SetVersion(0)
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "old"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp, lp.MaxNumOffsets = -1, 1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	lresp := r.requestAt(lo, 0).(*kmsg.ListOffsetsResponse)
	if lresp.Topics[0].Partitions[0].ErrorCode != unsupported {
		t.Fatalf("ListOffsets v0: %+v", lresp.Topics)
	}
	// Nothing was written, and the connection still serves current versions.
	if end := r.endOffset("old"); end != 0 {
		t.Fatalf("refused produce appended: end offset %d", end)
	}
	if sp := r.produce("old", 0, batch(1, 10)); sp.ErrorCode != 0 {
		t.Fatalf("current produce after refusals: %v", kerr.ErrorForCode(sp.ErrorCode))
	}
}

// TestFetchSessionLongPoll: an incremental fetch on a session waits for
// data through the session's long-lived waiter and wakes on a produce,
// also after the session has already returned data once.
func TestFetchSessionLongPoll(t *testing.T) {
	r := newRaw(t)
	r.createTopic("spoll", 3, nil)
	producer := brokertest.Client(t, r.addr, kgo.DefaultProduceTopic("spoll"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	full := fetchReq("spoll", 0, 1, 2)
	full.SessionEpoch = 0
	resp := r.fetch(full)
	if resp.SessionID == 0 {
		t.Fatal("no session")
	}
	offsets := map[int32]int64{}
	for round := int32(1); round <= 3; round++ {
		inc := kmsg.NewPtrFetchRequest()
		inc.SetVersion(12)
		inc.MaxBytes, inc.SessionID, inc.SessionEpoch = 1<<20, resp.SessionID, round
		inc.MinBytes, inc.MaxWaitMillis = 1, 10000
		// Tell the session our new positions after the previous round.
		if len(offsets) > 0 {
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = "spoll"
			for p, o := range offsets {
				rp := kmsg.NewFetchRequestTopicPartition()
				rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = p, o, 1<<20
				rt.Partitions = append(rt.Partitions, rp)
			}
			inc.Topics = append(inc.Topics, rt)
		}
		part := round % 3
		go func() {
			time.Sleep(200 * time.Millisecond)
			producer.ProduceSync(context.Background(), &kgo.Record{Partition: part, Value: []byte("x")})
		}()
		start := time.Now()
		got := r.fetch(inc)
		if waited := time.Since(start); waited > 5*time.Second || got.ErrorCode != 0 {
			t.Fatalf("round %d: returned after %v with %v", round, waited, kerr.ErrorForCode(got.ErrorCode))
		}
		found := false
		for _, tp := range got.Topics {
			for _, p := range tp.Partitions {
				if len(p.RecordBatches) > 0 {
					found = p.Partition == part
					offsets[p.Partition] = p.HighWatermark
				}
			}
		}
		if !found {
			t.Fatalf("round %d: the produce to partition %d did not come back: %+v", round, part, got.Topics)
		}
	}
}

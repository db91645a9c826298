package integration

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestAdminTopics: creation with configs and validate-only, the errors
// Kafka gives for bad requests, partition increases and deletion.
func TestAdminTopics(t *testing.T) {
	b := brokertest.Start(t)
	adm := brokertest.Admin(t, b.KafkaAddr())
	ctx := brokertest.Context(t, 30*time.Second)

	resp, err := adm.ValidateCreateTopics(ctx, 3, 1, nil, "checked")
	if err != nil || resp["checked"].Err != nil {
		t.Fatalf("validate only: %v %v", err, resp)
	}
	if topics, _ := adm.ListTopics(ctx); topics.Has("checked") {
		t.Fatal("validate-only created the topic")
	}

	// The broker's default replication factor: on a test cluster,
	// min.insync.replicas 2 refuses acks=all writes to one replica.
	created, err := adm.CreateTopic(ctx, 3, -1, map[string]*string{"retention.ms": kadm.StringPtr("3600000"), "cleanup.policy": kadm.StringPtr("delete")}, "orders")
	if err != nil || created.Err != nil {
		t.Fatal(err, created.Err)
	}
	brokertest.SyncMetadata(t)
	if created.ID == [16]byte{} {
		t.Fatal("no topic id")
	}

	bad := []struct {
		name       string
		partitions int32
		rf         int16
		configs    map[string]*string
		want       error
	}{
		{"orders", 1, 1, nil, kerr.TopicAlreadyExists},
		{"bad/name", 1, 1, nil, kerr.InvalidTopicException},
		{"zero", 0, 1, nil, kerr.InvalidPartitions},
		{"rf", 1, int16(brokertest.ClusterSize()) + 1, nil, kerr.InvalidReplicationFactor},
		{"cfg", 1, 1, map[string]*string{"retention.ms": kadm.StringPtr("soon")}, kerr.InvalidConfig},
		{"cfg2", 1, 1, map[string]*string{"no.such.config": kadm.StringPtr("1")}, kerr.InvalidConfig},
	}
	for _, tc := range bad {
		// kadm's CreateTopic returns the topic's error as its error.
		_, err := adm.CreateTopic(ctx, tc.partitions, tc.rf, tc.configs, tc.name)
		if !errors.Is(err, tc.want) {
			t.Errorf("create %s: got %v, want %v", tc.name, err, tc.want)
		}
	}

	if _, err := adm.UpdatePartitions(ctx, 6, "orders"); err != nil {
		t.Fatal(err)
	}
	brokertest.SyncMetadata(t)
	details, err := adm.ListTopics(ctx, "orders")
	if err != nil || len(details["orders"].Partitions) != 6 {
		t.Fatalf("after increase: %v %v", err, details)
	}
	if r, _ := adm.UpdatePartitions(ctx, 2, "orders"); r["orders"].Err == nil || !errors.Is(r["orders"].Err, kerr.InvalidPartitions) {
		t.Fatalf("shrink: %v", r["orders"].Err)
	}

	// Produce, delete, re-create: the new topic has a new id and no data.
	cl := brokertest.Client(t, b.KafkaAddr(), kgo.DefaultProduceTopic("orders"))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if dr, err := adm.DeleteTopics(ctx, "orders"); err != nil || dr["orders"].Err != nil {
		t.Fatalf("delete: %v %v", err, dr)
	}
	brokertest.SyncMetadata(t)
	if topics, _ := adm.ListTopics(ctx); topics.Has("orders") {
		t.Fatal("topic still listed after delete")
	}
	again, err := adm.CreateTopic(ctx, 1, -1, nil, "orders")
	if err != nil || again.Err != nil || again.ID == created.ID {
		t.Fatalf("re-create: %v %v, same id %v", err, again.Err, again.ID == created.ID)
	}
	brokertest.SyncMetadata(t)
	ends, err := adm.ListEndOffsets(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("orders", 0); o.Offset != 0 {
		t.Fatalf("re-created topic has end offset %d", o.Offset)
	}
	if dr, _ := adm.DeleteTopics(ctx, "missing"); !errors.Is(dr["missing"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("delete missing: %v", dr["missing"].Err)
	}
}

// TestAdminConfigs: DescribeConfigs sources and synonyms, incremental and
// full alters, broker configs.
func TestAdminConfigs(t *testing.T) {
	b := brokertest.Start(t)
	adm := brokertest.Admin(t, b.KafkaAddr())
	ctx := brokertest.Context(t, 30*time.Second)
	brokertest.CreateTopic(t, adm, "cfg", 1, map[string]*string{"retention.ms": kadm.StringPtr("1000")})

	find := func(name string) kadm.Config {
		t.Helper()
		rcs, err := adm.DescribeTopicConfigs(ctx, "cfg")
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On("cfg", nil)
		if err != nil || rc.Err != nil {
			t.Fatal(err, rc.Err)
		}
		for _, c := range rc.Configs {
			if c.Key == name {
				return c
			}
		}
		t.Fatalf("config %s not described", name)
		return kadm.Config{}
	}
	if c := find("retention.ms"); c.MaybeValue() != "1000" || c.Source != 1 {
		t.Fatalf("retention.ms: %q source %v", c.MaybeValue(), c.Source)
	}
	if c := find("segment.bytes"); c.MaybeValue() != "1073741824" || c.Source != 5 {
		t.Fatalf("segment.bytes: %q source %v", c.MaybeValue(), c.Source)
	}

	_, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "segment.ms", Value: kadm.StringPtr("60000")},
		{Op: kadm.DeleteConfig, Name: "retention.ms"},
	}, "cfg")
	if err != nil {
		t.Fatal(err)
	}
	brokertest.SyncMetadata(t)
	if c := find("segment.ms"); c.MaybeValue() != "60000" {
		t.Fatalf("segment.ms after alter: %q", c.MaybeValue())
	}
	if c := find("retention.ms"); c.MaybeValue() != "604800000" || c.Source != 5 {
		t.Fatalf("retention.ms after delete: %q source %v", c.MaybeValue(), c.Source)
	}
	res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "segment.ms", Value: kadm.StringPtr("-5")}}, "cfg")
	if err != nil || len(res) != 1 || !errors.Is(res[0].Err, kerr.InvalidConfig) {
		t.Fatalf("invalid alter: %v %v", err, res)
	}

	// A cluster-wide dynamic default reaches topics without an override.
	if _, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "log.retention.ms", Value: kadm.StringPtr("7200000")}}); err != nil {
		t.Fatal(err)
	}
	brokertest.SyncMetadata(t)
	c := find("retention.ms")
	if c.MaybeValue() != "7200000" || c.Source != 3 {
		t.Fatalf("retention.ms from cluster default: %q source %v", c.MaybeValue(), c.Source)
	}
	bcs, err := adm.DescribeBrokerConfigs(ctx, 1)
	if err != nil || len(bcs) != 1 || len(bcs[0].Configs) < 20 {
		t.Fatalf("describe broker: %v %v", err, bcs)
	}
}

// TestAdminOffsets: ListOffsets by timestamp, earliest, latest and max
// timestamp, and DeleteRecords.
func TestAdminOffsets(t *testing.T) {
	b := brokertest.Start(t)
	adm := brokertest.Admin(t, b.KafkaAddr())
	ctx := brokertest.Context(t, 30*time.Second)
	brokertest.CreateTopic(t, adm, "ts", 1, nil)
	cl := brokertest.Client(t, b.KafkaAddr(), kgo.DefaultProduceTopic("ts"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i := range 100 {
		r := &kgo.Record{Value: fmt.Appendf(nil, "v%d", i), Timestamp: base.Add(time.Duration(i) * time.Second)}
		if i == 40 {
			r.Timestamp = base.Add(30 * time.Minute) // the maximum, out of order
		}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	lookup := func(l kadm.ListedOffsets, err error) kadm.ListedOffset {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		o, ok := l.Lookup("ts", 0)
		if !ok || o.Err != nil {
			t.Fatalf("lookup: %v %v", ok, o.Err)
		}
		return o
	}
	if o := lookup(adm.ListOffsetsAfterMilli(ctx, base.Add(10*time.Second).UnixMilli(), "ts")); o.Offset != 10 {
		t.Fatalf("offset for +10s: %d", o.Offset)
	}
	if o := lookup(adm.ListOffsetsAfterMilli(ctx, base.Add(10*time.Second+time.Millisecond).UnixMilli(), "ts")); o.Offset != 11 {
		t.Fatalf("offset for +10.001s: %d", o.Offset)
	}
	if o := lookup(adm.ListOffsetsAfterMilli(ctx, base.Add(2*time.Hour).UnixMilli(), "ts")); o.Offset != 100 {
		t.Fatalf("offset after the last timestamp: %d, want the end offset", o.Offset)
	}
	if o := lookup(adm.ListMaxTimestampOffsets(ctx, "ts")); o.Offset != 40 {
		t.Fatalf("max timestamp offset: %d", o.Offset)
	}
	if o := lookup(adm.ListEndOffsets(ctx, "ts")); o.Offset != 100 {
		t.Fatalf("end offset: %d", o.Offset)
	}

	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "ts", Partition: 0, At: 25})
	dr, err := adm.DeleteRecords(ctx, offs)
	if err != nil || dr.Error() != nil {
		t.Fatal(err, dr.Error())
	}
	if o := lookup(adm.ListStartOffsets(ctx, "ts")); o.Offset != 25 {
		t.Fatalf("start offset after DeleteRecords: %d", o.Offset)
	}
	offs = kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "ts", Partition: 0, At: 500})
	dr, _ = adm.DeleteRecords(ctx, offs)
	if !errors.Is(dr.Error(), kerr.OffsetOutOfRange) {
		t.Fatalf("delete beyond end: %v", dr.Error())
	}

	// A consumer starting at the beginning now starts at 25.
	cons := brokertest.Client(t, b.KafkaAddr(), kgo.ConsumeTopics("ts"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := cons.PollRecords(ctx, 1)
	if recs := fs.Records(); len(recs) == 0 || recs[0].Offset != 25 {
		t.Fatalf("first record after DeleteRecords: %v %v", recs, fs.Errors())
	}
}

// TestAdminCluster: DescribeCluster, broker metadata and log dirs.
func TestAdminCluster(t *testing.T) {
	b := brokertest.Start(t)
	adm := brokertest.Admin(t, b.KafkaAddr())
	ctx := brokertest.Context(t, 30*time.Second)
	brokertest.CreateTopic(t, adm, "dirs", 2, nil)
	cl := brokertest.Client(t, b.KafkaAddr(), kgo.DefaultProduceTopic("dirs"), kgo.ProducerBatchCompression(kgo.NoCompression()))
	for range 10 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: make([]byte, 1000)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// The controller a broker names is itself (clients send their admin
	// requests there; it forwards them to the quorum).
	n := brokertest.ClusterSize()
	md, err := adm.BrokerMetadata(ctx)
	if err != nil || len(md.Brokers) != n || md.Cluster == "" || md.Controller < 1 || int(md.Controller) > n {
		t.Fatalf("metadata: %v %+v", err, md)
	}
	for i, br := range md.Brokers {
		if br.NodeID != int32(i+1) || br.Host != "127.0.0.1" {
			t.Fatalf("broker %d: node %d, advertised host %q", i, br.NodeID, br.Host)
		}
	}
	dirs, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	dirs.Each(func(d kadm.DescribedLogDir) {
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) { size += p.Size })
	})
	if size < 10000 {
		t.Fatalf("log dirs report %d bytes for 10 KB written", size)
	}
	if _, err := adm.DescribeBrokerConfigs(context.Background()); err != nil {
		t.Fatal(err)
	}
}

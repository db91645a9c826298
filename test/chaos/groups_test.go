package chaos

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupStateSurvivesKill: a group's committed offsets and its
// membership (member ids, generation, assignment) survive a SIGKILL of the
// server; its members carry on after the restart without rejoining.
func TestGroupStateSurvivesKill(t *testing.T) {
	const topic, group = "grp", "survivors"
	dataDir := filepath.Join(t.TempDir(), "data")
	srv := startServer(t, dataDir)
	adm := brokertest.Admin(t, srv.kafkaAddr)
	brokertest.CreateTopic(t, adm, topic, 6, nil)
	ctx := brokertest.Context(t, 60*time.Second)

	prod := brokertest.Client(t, srv.kafkaAddr, kgo.DefaultProduceTopic(topic), kgo.DisableIdempotentWrite())
	for i := range 600 {
		prod.Produce(ctx, &kgo.Record{Value: []byte{byte(i)}}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// A member consumes everything and commits synchronously.
	cons := brokertest.Client(t, srv.kafkaAddr, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit(),
		kgo.SessionTimeout(30*time.Second), kgo.RetryTimeout(30*time.Second))
	for n := 0; n < 600; {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of 600", n)
		}
		n += fs.NumRecords()
	}
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	before, err := adm.DescribeGroups(ctx, group)
	if err != nil || before[group].State != "Stable" || len(before[group].Members) != 1 {
		t.Fatalf("before kill: %v %+v", err, before[group])
	}
	memberID := before[group].Members[0].MemberID

	srv.kill()
	srv.start()

	after, err := adm.DescribeGroups(ctx, group)
	if err != nil || after[group].State != "Stable" || len(after[group].Members) != 1 || after[group].Members[0].MemberID != memberID {
		t.Fatalf("after restart: %v %+v (member was %s)", err, after[group], memberID)
	}
	offs, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	offs.Each(func(o kadm.OffsetResponse) { sum += o.At })
	if sum != 600 {
		t.Fatalf("committed offsets after restart sum to %d, want 600", sum)
	}
	// The member carries on: new records reach it with no rebalance.
	for i := range 60 {
		prod.Produce(ctx, &kgo.Record{Value: []byte{byte(i)}}, nil)
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for n := 0; n < 60; {
		pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		fs := cons.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			t.Fatalf("after restart consumed %d of 60 new records", n)
		}
		n += fs.NumRecords()
	}
	final, _ := adm.DescribeGroups(ctx, group)
	if len(final[group].Members) != 1 || final[group].Members[0].MemberID != memberID {
		t.Fatalf("member changed after restart: %+v", final[group])
	}
}

package integration

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/strata-db/strata/internal/broker"
	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRetentionDeletesOldSegments: a topic's segment.ms rolls segments and
// its retention.ms deletes the old ones in the background, advancing the
// log start offset; consumers then start at the new start.
func TestRetentionDeletesOldSegments(t *testing.T) {
	b := brokertest.Start(t, func(c *broker.Config) {
		c.Static = map[string]string{"log.retention.check.interval.ms": "100"}
	})
	adm := brokertest.Admin(t, b.KafkaAddr())
	ctx := brokertest.Context(t, 30*time.Second)
	brokertest.CreateTopic(t, adm, "old", 1, map[string]*string{"segment.ms": kadm.StringPtr("50"), "retention.ms": kadm.StringPtr("600000")})
	// The five hour-old records go in one batch, so in one segment: one
	// at a time, an append 50 ms after the first (acks=all waits for
	// followers on a cluster) would roll the segment between them.
	cl := brokertest.Client(t, b.KafkaAddr(), kgo.DefaultProduceTopic("old"), kgo.ProducerLinger(20*time.Millisecond))
	hourAgo := time.Now().Add(-time.Hour)
	var old []*kgo.Record
	for i := range 5 {
		old = append(old, &kgo.Record{Value: []byte{byte(i)}, Timestamp: hourAgo})
	}
	if err := cl.ProduceSync(ctx, old...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // past segment.ms: the next append rolls
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("new")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for {
		starts, err := adm.ListStartOffsets(ctx, "old")
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := starts.Lookup("old", 0); o.Offset == 5 {
			break
		} else if o.Offset != 0 {
			t.Fatalf("log start offset %d, want 0 then 5", o.Offset)
		}
		select {
		case <-ctx.Done():
			t.Fatal("retention never deleted the hour-old segment")
		case <-time.After(50 * time.Millisecond):
		}
	}
	cons := brokertest.Client(t, b.KafkaAddr(), kgo.ConsumeTopics("old"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	recs := cons.PollRecords(ctx, 10).Records()
	if len(recs) != 1 || recs[0].Offset != 5 || string(recs[0].Value) != "new" {
		t.Fatalf("after retention: %d records, first %+v", len(recs), recs)
	}
}

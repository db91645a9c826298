package integration

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker"
	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBrokerLimits: max.connections closes connections past the limit on
// accept, and queued.max.request.bytes makes eight producers of 900 KB
// records share 1 MiB of queued requests: every record is acknowledged, in
// order, none lost, nothing stuck.
func TestBrokerLimits(t *testing.T) {
	ctx := brokertest.Context(t, 2*time.Minute)

	t.Run("max.connections", func(t *testing.T) {
		b := brokertest.Start(t, func(c *broker.Config) { c.Static["max.connections"] = "12" })
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		refused := 0
		for range 16 {
			c, err := net.Dial("tcp", b.KafkaAddr())
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
			c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if _, err := c.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
				refused++ // closed at once
			}
		}
		if refused < 4 {
			t.Fatalf("%d of 16 connections refused under max.connections 12, want at least 4", refused)
		}
	})

	t.Run("queued.max.request.bytes", func(t *testing.T) {
		b := brokertest.Start(t, func(c *broker.Config) {
			c.Static["socket.request.max.bytes"] = "1048576"
			c.Static["queued.max.request.bytes"] = "1048576"
		})
		brokertest.CreateTopic(t, kadm.NewClient(brokertest.Client(t, b.KafkaAddr())), "big", 4, nil)
		value := bytes.Repeat([]byte("v"), 900_000)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for p := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl := brokertest.Client(t, b.KafkaAddr(), kgo.DefaultProduceTopic("big"), kgo.ProducerBatchMaxBytes(1000_000),
					kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
				for i := range 10 {
					r := &kgo.Record{Partition: int32(p % 4), Key: []byte{byte(p), byte(i)}, Value: value}
					if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		adm := kadm.NewClient(brokertest.Client(t, b.KafkaAddr()))
		ends, err := adm.ListEndOffsets(context.Background(), "big")
		if err != nil {
			t.Fatal(err)
		}
		total := int64(0)
		ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
		if total != 80 {
			t.Fatalf("%d records stored, want 80", total)
		}
	})
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

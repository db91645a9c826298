package integration

import (
	"context"
	crand "crypto/rand"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker"
	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// setQuotas changes a tenant's quotas through the admin API.
func setQuotas(t *testing.T, b *broker.Broker, tenant string, q map[string]any) {
	t.Helper()
	if st := brokertest.AdminCall(t, b.HTTPAddr(), "PATCH", "/v1/tenants/"+tenant+"/quotas", q, nil); st != http.StatusOK {
		t.Fatalf("set quotas %v of %s: HTTP %d", q, tenant, st)
	}
}

// throttleHook counts the throttles a client was told of.
type throttleHook struct{ n, total atomic.Int64 }

func (h *throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	h.n.Add(1)
	h.total.Add(int64(d))
}

const (
	quotaRate   = 200_000 // bytes/s
	quotaRun    = 5 * time.Second
	quotaRecord = 1000 // value bytes
)

// TestByteRateQuotas: a producer and a consumer going as fast as they can
// are each held within 10% of their tenant's byte rate (counting the
// record values acknowledged or consumed over five seconds), and the
// responses told them to back off. Another tenant on the same broker is
// not held back.
func TestByteRateQuotas(t *testing.T) {
	b, a, other := twoTenants(t)
	setQuotas(t, b, a.Tenant, map[string]any{"produceBytesRate": quotaRate, "fetchBytesRate": quotaRate})
	// Quotas hold per broker, as Kafka's: node 1, whose /metrics is
	// checked, leads the partitions of the tenants with quotas.
	brokertest.CreateTopicLedByNode1(t, brokertest.SASLClient(t, b.KafkaAddr(), a), "q", 1, nil)
	brokertest.CreateTopic(t, kadm.NewClient(brokertest.SASLClient(t, b.KafkaAddr(), other)), "q", 1, nil)

	t.Run("produce", func(t *testing.T) {
		var hook throttleHook
		cl := brokertest.SASLClient(t, b.KafkaAddr(), a, kgo.DefaultProduceTopic("q"), kgo.ProducerBatchCompression(kgo.NoCompression()),
			kgo.ProducerBatchMaxBytes(16<<10), kgo.ProducerLinger(0), kgo.MaxBufferedRecords(64), kgo.WithHooks(&hook))
		// On a cluster the first acks=all write to the new partition waits
		// for the followers' fetch in flight to end (up to 500 ms, as
		// Kafka's replica.fetch.wait.max.ms): not part of the run.
		produceFor(t, cl, 0, 1)
		got := produceFor(t, cl, quotaRun)
		rate := float64(got) / quotaRun.Seconds()
		t.Logf("produce: %.0f B/s acknowledged against a quota of %d B/s; %d throttles, %v in all", rate, quotaRate, hook.n.Load(), time.Duration(hook.total.Load()))
		if rate < 0.9*quotaRate || rate > 1.1*quotaRate {
			t.Fatalf("produce rate %.0f B/s, want %d +-10%%", rate, quotaRate)
		}
		if hook.n.Load() == 0 {
			t.Fatal("no response carried a throttle")
		}
		resp, err := http.Get("http://" + b.HTTPAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		metrics, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := `strata_tenant_throttle_seconds_total{quota="produce",tenant="` + a.Tenant + `"}`; !strings.Contains(string(metrics), want) {
			t.Fatalf("/metrics lacks %s", want)
		}
		// The other tenant is not throttled: it moves more in a second
		// than the quota allows in five.
		free := produceFor(t, brokertest.SASLClient(t, b.KafkaAddr(), other, kgo.DefaultProduceTopic("q"), kgo.ProducerBatchMaxBytes(16<<10)), time.Second)
		if free < 3*quotaRate {
			t.Fatalf("unthrottled tenant produced only %d B in 1 s", free)
		}
	})

	t.Run("three producers share the quota", func(t *testing.T) {
		// The quota is the tenant's, not a connection's: three producers,
		// each on its own connections, together get the quota. A fresh
		// tenant: the first one's idle time since its last subtest is
		// credit within the 11 s window, as in Kafka.
		c := brokertest.CreateKey(t, b, brokertest.CreateTenant(t, b, "tenant C"))
		setQuotas(t, b, c.Tenant, map[string]any{"produceBytesRate": quotaRate})
		brokertest.CreateTopicLedByNode1(t, brokertest.SASLClient(t, b.KafkaAddr(), c), "q", 3, nil)
		var wg sync.WaitGroup
		got := make([]int, 3)
		for i := range got {
			cl := brokertest.SASLClient(t, b.KafkaAddr(), c, kgo.DefaultProduceTopic("q"), kgo.ProducerBatchCompression(kgo.NoCompression()),
				kgo.ProducerBatchMaxBytes(16<<10), kgo.ProducerLinger(0), kgo.MaxBufferedRecords(64))
			wg.Add(1)
			go func() { defer wg.Done(); got[i] = produceFor(t, cl, quotaRun) }()
		}
		wg.Wait()
		rate := float64(got[0]+got[1]+got[2]) / quotaRun.Seconds()
		t.Logf("three producers: %.0f B/s together (%v B each) against a quota of %d B/s", rate, got, quotaRate)
		if rate < 0.9*quotaRate || rate > 1.1*quotaRate {
			t.Fatalf("three producers together at %.0f B/s, want %d +-10%%", rate, quotaRate)
		}
	})

	t.Run("fetch", func(t *testing.T) {
		// Enough data for twice the run, written by the unthrottled tenant
		// into its own topic would not do: the consumer must read tenant
		// A's; the produce quota is lifted for that.
		setQuotas(t, b, a.Tenant, map[string]any{"unset": []string{"produceBytesRate"}})
		// Small batches: a fetch returns at least one whole batch
		// whatever its byte limits (KIP-74), and batches grow to the
		// producer's limit while acks=all waits for followers.
		produceFor(t, brokertest.SASLClient(t, b.KafkaAddr(), a, kgo.DefaultProduceTopic("q"), kgo.ProducerBatchCompression(kgo.NoCompression()),
			kgo.ProducerBatchMaxBytes(16<<10)), 0, 2*quotaRate*int(quotaRun.Seconds())/quotaRecord)
		var hook throttleHook
		cl := brokertest.SASLClient(t, b.KafkaAddr(), a, kgo.ConsumeTopics("q"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxBytes(16<<10), kgo.FetchMaxPartitionBytes(16<<10), kgo.WithHooks(&hook))
		ctx, cancel := context.WithTimeout(context.Background(), quotaRun)
		defer cancel()
		got := 0
		for ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got += len(r.Value) })
		}
		rate := float64(got) / quotaRun.Seconds()
		t.Logf("fetch: %.0f B/s consumed against a quota of %d B/s; %d throttles, %v in all", rate, quotaRate, hook.n.Load(), time.Duration(hook.total.Load()))
		if rate < 0.9*quotaRate || rate > 1.1*quotaRate {
			t.Fatalf("fetch rate %.0f B/s, want %d +-10%%", rate, quotaRate)
		}
		if hook.n.Load() == 0 {
			t.Fatal("no response carried a throttle")
		}
	})
}

// produceFor produces records of quotaRecord bytes as fast as the client
// goes, for d or (with d 0) until n are acknowledged, and returns the value
// bytes acknowledged within d.
// The quota counts bytes as they travel, compressed: clients given to it
// must not compress (kgo.NoCompression).
func produceFor(t *testing.T, cl *kgo.Client, d time.Duration, n ...int) int {
	t.Helper()
	run := 60 * time.Second
	if d > 0 {
		run = d // records still buffered then fail with the context
	}
	ctx, cancel := context.WithTimeout(context.Background(), run)
	defer cancel()
	limit := -1
	if len(n) > 0 {
		limit = n[0]
	}
	start := time.Now()
	var mu sync.Mutex
	acked, records := 0, 0
	var failed error
	var wg sync.WaitGroup
	value := make([]byte, quotaRecord)
	crand.Read(value)
	for i := 0; limit < 0 || i < limit; i++ {
		if d > 0 && time.Since(start) >= d {
			break
		}
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Value: value}, func(r *kgo.Record, err error) {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if ctx.Err() == nil {
					failed = err
				}
				return
			}
			if d == 0 || time.Since(start) <= d {
				acked += len(r.Value)
				records++
			}
		})
	}
	wg.Wait()
	if failed != nil {
		t.Fatal(failed)
	}
	return acked
}

// TestBrokerCapacityScalesQuotas: a broker whose own produce limit is
// 300,000 B/s hosts two tenants with quotas of 300,000 B/s each; both
// producing flat out, each is held to about half of its quota (Kora's
// proportional scaling) and the broker to its limit.
func TestBrokerCapacityScalesQuotas(t *testing.T) {
	const capacity = 300_000
	b, a, c := twoTenants(t, func(cfg *broker.Config) {
		cfg.Static["quota.broker.produce.bytes.per.second"] = strconv.Itoa(capacity)
	})
	var clients []*kgo.Client
	for _, cred := range []brokertest.Credential{a, c} {
		setQuotas(t, b, cred.Tenant, map[string]any{"produceBytesRate": capacity})
		// The capacity is node 1's: it leads both tenants' partitions.
		brokertest.CreateTopicLedByNode1(t, brokertest.SASLClient(t, b.KafkaAddr(), cred), "cap", 1, nil)
		clients = append(clients, brokertest.SASLClient(t, b.KafkaAddr(), cred, kgo.DefaultProduceTopic("cap"),
			kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(16<<10), kgo.ProducerLinger(0), kgo.MaxBufferedRecords(64)))
	}
	got := make([]int, len(clients))
	var wg sync.WaitGroup
	for i, cl := range clients {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = produceFor(t, cl, quotaRun) }()
	}
	wg.Wait()
	total := 0
	for i, n := range got {
		rate := float64(n) / quotaRun.Seconds()
		t.Logf("tenant %d: %.0f B/s against a quota of %d B/s scaled by half", i, rate, capacity)
		if rate < 0.4*capacity || rate > 0.6*capacity {
			t.Errorf("tenant %d at %.0f B/s, want about %d", i, rate, capacity/2)
		}
		total += n
	}
	if rate := float64(total) / quotaRun.Seconds(); rate > 1.1*capacity {
		t.Errorf("the broker took %.0f B/s, over its limit of %d", rate, capacity)
	}
}

package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestMetering: what a tenant produces, fetches and stores shows in its
// usage (admin API) and in /metrics, without quotas, and none of it in
// another tenant's.
func TestMetering(t *testing.T) {
	b, credA, credB := twoTenants(t)
	ctx := brokertest.Context(t, 60*time.Second)
	cl := brokertest.SASLClient(t, b.KafkaAddr(), credA, kgo.DefaultProduceTopic("metered"),
		kgo.ConsumeTopics("metered"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.ProducerBatchCompression(kgo.NoCompression())) // bytes are metered as stored
	brokertest.CreateTopic(t, kadm.NewClient(cl), "metered", 2, nil)
	const n, size = 200, 1000
	value := []byte(strings.Repeat("m", size))
	for range n {
		cl.Produce(ctx, &kgo.Record{Value: value}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for got := 0; got < n; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		got += fs.NumRecords()
	}

	type usage struct {
		ProduceBytes, FetchBytes, Requests, StoredBytes int64
		Replicas                                        int `json:"partitionReplicas"`
		Partitions                                      int
	}
	var a, other usage
	brokertest.AdminCall(t, b.HTTPAddr(), "GET", "/v1/tenants/"+credA.Tenant+"/usage", nil, &a)
	brokertest.AdminCall(t, b.HTTPAddr(), "GET", "/v1/tenants/"+credB.Tenant+"/usage", nil, &other)
	t.Logf("tenant A: %+v", a)
	if a.ProduceBytes < n*size || a.FetchBytes < n*size || a.StoredBytes < n*size || a.Requests < 3 || a.Partitions != 2 || a.Replicas != 2 {
		t.Errorf("tenant A's usage %+v; want at least %d bytes produced, fetched and stored, 2 partitions", a, n*size)
	}
	if other.ProduceBytes != 0 || other.FetchBytes != 0 || other.StoredBytes != 0 || other.Partitions != 0 {
		t.Errorf("tenant B, idle, has usage %+v", other)
	}

	m := brokertest.Metrics(t, b.HTTPAddr())
	for _, series := range []string{
		fmt.Sprintf(`strata_tenant_bytes_total{direction="produce",tenant="%s"}`, credA.Tenant),
		fmt.Sprintf(`strata_tenant_bytes_total{direction="fetch",tenant="%s"}`, credA.Tenant),
		fmt.Sprintf(`strata_tenant_stored_bytes{tenant="%s"}`, credA.Tenant),
	} {
		if m[series] < n*size {
			t.Errorf("%s = %v, want at least %d", series, m[series], n*size)
		}
	}
}

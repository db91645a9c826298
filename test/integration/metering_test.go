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
	// Every figure is the node's: a bill sums the nodes (on a test
	// cluster each partition has a replica on every node, and its
	// leader meters its produce and fetch).
	var a, other usage
	for _, node := range brokertest.Nodes(b) {
		var na, nother usage
		brokertest.AdminCall(t, node.HTTPAddr(), "GET", "/v1/tenants/"+credA.Tenant+"/usage", nil, &na)
		brokertest.AdminCall(t, node.HTTPAddr(), "GET", "/v1/tenants/"+credB.Tenant+"/usage", nil, &nother)
		if na.Partitions != 2 || nother.Partitions != 0 {
			t.Errorf("partitions, cluster-wide, at node %s: %d of A's and %d of B's; want 2 and 0", node.HTTPAddr(), na.Partitions, nother.Partitions)
		}
		a.ProduceBytes, a.FetchBytes, a.Requests, a.StoredBytes = a.ProduceBytes+na.ProduceBytes, a.FetchBytes+na.FetchBytes, a.Requests+na.Requests, a.StoredBytes+na.StoredBytes
		a.Replicas, a.Partitions = a.Replicas+na.Replicas, na.Partitions
		other.ProduceBytes, other.FetchBytes, other.StoredBytes = other.ProduceBytes+nother.ProduceBytes, other.FetchBytes+nother.FetchBytes, other.StoredBytes+nother.StoredBytes
	}
	t.Logf("tenant A, summed over the nodes: %+v", a)
	if a.ProduceBytes < n*size || a.FetchBytes < n*size || a.StoredBytes < n*size || a.Requests < 3 || a.Replicas != 2*brokertest.ClusterSize() {
		t.Errorf("tenant A's usage %+v; want at least %d bytes produced, fetched and stored, 2 partitions of %d replicas", a, n*size, brokertest.ClusterSize())
	}
	if other.ProduceBytes != 0 || other.FetchBytes != 0 || other.StoredBytes != 0 {
		t.Errorf("tenant B, idle, has usage %+v", other)
	}

	m := map[string]float64{}
	for _, node := range brokertest.Nodes(b) {
		for series, v := range brokertest.Metrics(t, node.HTTPAddr()) {
			m[series] += v
		}
	}
	for _, series := range []string{
		fmt.Sprintf(`strata_tenant_bytes_total{direction="produce",tenant="%s"}`, credA.Tenant),
		fmt.Sprintf(`strata_tenant_bytes_total{direction="fetch",tenant="%s"}`, credA.Tenant),
		fmt.Sprintf(`strata_tenant_stored_bytes{tenant="%s"}`, credA.Tenant),
	} {
		if m[series] < n*size {
			t.Errorf("%s = %v summed over the nodes, want at least %d", series, m[series], n*size)
		}
	}
}

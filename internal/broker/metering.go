package broker

// Metering: what each tenant did on this node, in /metrics and in the
// admin API (GET /v1/tenants/{id}/usage). Counters come from the quota
// manager, which meters every tenant whether or not it has quotas;
// storage and partitions from this node's logs and the metadata image.
// Every figure is this node's: a bill sums the nodes (partitions count
// each replica hosted here).

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/tenant"
)

// TenantUsage is one tenant's usage on this node, as the admin API shows
// it.
type TenantUsage struct {
	Tenant         meta.TenantID      `json:"tenant"`
	ProduceBytes   int64              `json:"produceBytes"`
	FetchBytes     int64              `json:"fetchBytes"`
	Requests       int64              `json:"requests"`
	RequestSeconds float64            `json:"requestSeconds"`
	Throttle       map[string]float64 `json:"throttleSeconds"` // by quota
	Connections    int64              `json:"connections"`
	Refused        int64              `json:"refusedConnections"`
	StoredBytes    int64              `json:"storedBytes"`       // in the logs on this node
	Replicas       int                `json:"partitionReplicas"` // hosted on this node
	Partitions     int                `json:"partitions"`        // of the tenant's topics, cluster-wide
}

// usage returns every tenant's usage on this node: the metered ones and
// those with partitions here.
func (b *Broker) usage(q *tenant.QuotaManager) map[meta.TenantID]*TenantUsage {
	out := map[meta.TenantID]*TenantUsage{}
	get := func(id meta.TenantID) *TenantUsage {
		u := out[id]
		if u == nil {
			u = &TenantUsage{Tenant: id, Throttle: map[string]float64{}}
			out[id] = u
		}
		return u
	}
	for _, s := range q.Stats() {
		u := get(s.Tenant)
		u.ProduceBytes, u.FetchBytes, u.Requests, u.RequestSeconds = s.ProduceBytes, s.FetchBytes, s.Requests, s.RequestTime.Seconds()
		u.Connections, u.Refused = s.Connections, s.RefusedConnections
		for k, d := range s.Throttled {
			u.Throttle[k] = d.Seconds()
		}
	}
	im := b.meta.Image()
	for _, p := range b.replicas.Partitions() {
		if t, ok := im.TopicByID(p.Key().Topic); ok && t.Tenant != meta.SystemTenant {
			u := get(t.Tenant)
			u.StoredBytes += p.Size()
			u.Replicas++
		}
	}
	for id, u := range out {
		for _, t := range im.Topics(id) {
			u.Partitions += len(t.Partitions)
		}
	}
	return out
}

// meterCollector exports usage per tenant.
type meterCollector struct {
	b *Broker
	q *tenant.QuotaManager

	bytes, requests, requestTime, throttle, conns, refused, stored, replicas *prometheus.Desc
}

func newMeterCollector(b *Broker, q *tenant.QuotaManager) *meterCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append([]string{"tenant"}, labels...), nil)
	}
	return &meterCollector{
		b: b, q: q,
		bytes:       desc("strata_tenant_bytes_total", "Record batch bytes of a tenant on this node, by direction (produce: appended, fetch: returned to consumers).", "direction"),
		requests:    desc("strata_tenant_requests_total", "Kafka requests of a tenant handled on this node."),
		requestTime: desc("strata_tenant_request_seconds_total", "Handling time of a tenant's requests on this node, waits excluded."),
		throttle:    desc("strata_tenant_throttle_seconds_total", "Throttle time handed to a tenant's connections, by quota (produce, fetch, request, mutation).", "quota"),
		conns:       desc("strata_tenant_connections", "Open connections of a tenant on this node."),
		refused:     desc("strata_tenant_connections_refused_total", "Connections of a tenant closed for its connection count or rate quota."),
		stored:      desc("strata_tenant_stored_bytes", "Bytes in the logs of a tenant's partitions on this node."),
		replicas:    desc("strata_tenant_partition_replicas", "Replicas of a tenant's partitions hosted on this node."),
	}
}

func (c *meterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.bytes, c.requests, c.requestTime, c.throttle, c.conns, c.refused, c.stored, c.replicas} {
		ch <- d
	}
}

func (c *meterCollector) Collect(ch chan<- prometheus.Metric) {
	for id, u := range c.b.usage(c.q) {
		t := string(id)
		counter := func(d *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, append([]string{t}, labels...)...)
		}
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, t)
		}
		counter(c.bytes, float64(u.ProduceBytes), "produce")
		counter(c.bytes, float64(u.FetchBytes), "fetch")
		counter(c.requests, float64(u.Requests))
		counter(c.requestTime, u.RequestSeconds)
		for quota, s := range u.Throttle {
			counter(c.throttle, s, quota)
		}
		gauge(c.conns, float64(u.Connections))
		counter(c.refused, float64(u.Refused))
		gauge(c.stored, float64(u.StoredBytes))
		gauge(c.replicas, float64(u.Replicas))
	}
}

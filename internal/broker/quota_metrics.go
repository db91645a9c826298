package broker

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/strata-db/strata/internal/tenant"
)

// quotaCollector exports what the tenants' quotas did on this node, per
// tenant, for the tenants whose quotas were used (tenant.QuotaStats).
type quotaCollector struct {
	q                               *tenant.QuotaManager
	bytes, throttle, conns, refused *prometheus.Desc
}

func newQuotaCollector(q *tenant.QuotaManager) *quotaCollector {
	return &quotaCollector{
		q: q,
		bytes: prometheus.NewDesc("strata_tenant_quota_bytes_total",
			"Record batch bytes counted against a tenant's byte rate quota, by direction (produce, fetch).", []string{"tenant", "direction"}, nil),
		throttle: prometheus.NewDesc("strata_tenant_throttle_seconds_total",
			"Throttle time handed to a tenant's connections, by quota (produce, fetch, request, mutation).", []string{"tenant", "quota"}, nil),
		conns: prometheus.NewDesc("strata_tenant_connections",
			"Open connections of a tenant counted against its connection quota.", []string{"tenant"}, nil),
		refused: prometheus.NewDesc("strata_tenant_connections_refused_total",
			"Connections of a tenant closed for its connection count or rate quota.", []string{"tenant"}, nil),
	}
}

func (c *quotaCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.bytes
	ch <- c.throttle
	ch <- c.conns
	ch <- c.refused
}

func (c *quotaCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.q.Stats() {
		t := string(s.Tenant)
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(s.ProduceBytes), t, "produce")
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(s.FetchBytes), t, "fetch")
		for quota, d := range s.Throttled {
			ch <- prometheus.MustNewConstMetric(c.throttle, prometheus.CounterValue, d.Seconds(), t, quota)
		}
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(s.Connections), t)
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(s.RefusedConnections), t)
	}
}

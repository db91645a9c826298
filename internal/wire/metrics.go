package wire

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type metrics struct {
	requests    *prometheus.CounterVec
	failures    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	connections prometheus.Gauge
	refused     prometheus.Counter
	bytesIn     prometheus.Counter
	bytesOut    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_requests_total", Help: "Kafka requests handled, by API.",
		}, []string{"api"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_request_failures_total", Help: "Requests whose handler failed and closed the connection, by API.",
		}, []string{"api"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "strata_request_duration_seconds",
			Help:    "Time from a request's decoding to its response being ready, by API.",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 18),
		}, []string{"api"}),
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "strata_connections", Help: "Open Kafka connections."}),
		refused:     prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_connections_refused_total", Help: "Connections closed on accept: max.connections reached."}),
		bytesIn:     prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_network_received_bytes_total", Help: "Request bytes received."}),
		bytesOut:    prometheus.NewCounter(prometheus.CounterOpts{Name: "strata_network_sent_bytes_total", Help: "Response bytes sent."}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.failures, m.latency, m.connections, m.refused, m.bytesIn, m.bytesOut} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) observe(key int16, d time.Duration, err error) {
	name := kmsg.NameForKey(key)
	m.requests.WithLabelValues(name).Inc()
	m.latency.WithLabelValues(name).Observe(d.Seconds())
	if err != nil && !errors.Is(err, ErrCloseConnection) {
		m.failures.WithLabelValues(name).Inc()
	}
}

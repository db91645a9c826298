package api

import (
	"github.com/prometheus/client_golang/prometheus"
)

// fetchMetrics counts what this node serves to fetchers, so that an
// operator sees where consumers read: from leaders, or from followers in
// their zone (KIP-392), and how often a leader sent a consumer elsewhere.
type fetchMetrics struct {
	consumerBytes   *prometheus.CounterVec // by replica: leader or follower
	consumerBatches *prometheus.CounterVec
	redirects       prometheus.Counter
	replicaBytes    prometheus.Counter
}

func newFetchMetrics(reg prometheus.Registerer) *fetchMetrics {
	m := &fetchMetrics{
		consumerBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_fetch_consumer_bytes_total",
			Help: "Record bytes this node returned to consumers, by the role of its replica (leader or follower).",
		}, []string{"replica"}),
		consumerBatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "strata_fetch_consumer_partition_reads_total",
			Help: "Partition reads that returned records to consumers, by the role of this node's replica (leader or follower).",
		}, []string{"replica"}),
		redirects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_fetch_preferred_replica_total",
			Help: "Consumer partition fetches answered with a preferred read replica in the consumer's rack (KIP-392).",
		}),
		replicaBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "strata_fetch_follower_bytes_total",
			Help: "Record bytes this node returned to follower replicas.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.consumerBytes, m.consumerBatches, m.redirects, m.replicaBytes)
	}
	return m
}

// consumerRead counts one consumer fetch's reads.
func (m *fetchMetrics) consumerRead(parts []*fetchPart, reads []partRead) {
	var leaderBytes, followerBytes, leaderReads, followerReads, redirects int
	for i, rd := range reads {
		switch n := len(rd.f.Records); {
		case rd.preferred >= 0:
			redirects++
		case n == 0:
		case parts[i].leader:
			leaderBytes += n
			leaderReads++
		default:
			followerBytes += n
			followerReads++
		}
	}
	if leaderReads > 0 {
		m.consumerBytes.WithLabelValues("leader").Add(float64(leaderBytes))
		m.consumerBatches.WithLabelValues("leader").Add(float64(leaderReads))
	}
	if followerReads > 0 {
		m.consumerBytes.WithLabelValues("follower").Add(float64(followerBytes))
		m.consumerBatches.WithLabelValues("follower").Add(float64(followerReads))
	}
	if redirects > 0 {
		m.redirects.Add(float64(redirects))
	}
}

package broker

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/strata-db/strata/internal/replica"
)

// httpServer serves /healthz, /metrics, /debug/pprof and the admin API
// (admin_http.go).
type httpServer struct {
	srv  *http.Server
	addr net.Addr
}

// startHTTP serves on addr, HTTPS only with tc.
func startHTTP(addr string, tc *tls.Config, b *Broker) (*httpServer, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !b.Ready() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /quorum", b.serveQuorum)
	b.registerAdmin(mux)
	mux.Handle("GET /metrics", promhttp.HandlerFor(b.reg, promhttp.HandlerOpts{}))
	// Profiles for operators (the HTTP listener is loopback by default).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("broker: http listener: %w", err)
	}
	s := &httpServer{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, addr: ln.Addr()}
	if tc != nil {
		// A plain HTTP request then gets 400 from net/http ("Client sent
		// an HTTP request to an HTTPS server"); failed handshakes are
		// logged.
		ln = tls.NewListener(ln, tc)
		s.srv.ErrorLog = slog.NewLogLogger(b.log.With("listener", "http").Handler(), slog.LevelInfo)
	}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.log.Error("http listener stopped", "err", err)
		}
	}()
	return s, nil
}

// quorumStatus is the body of GET /quorum: this node's view of the
// metadata quorum.
type quorumStatus struct {
	NodeID           int32          `json:"nodeId"`
	Roles            string         `json:"roles"`
	ClusterID        string         `json:"clusterId"`
	ActiveController int32          `json:"activeController"` // -1: none known
	MetadataIndex    uint64         `json:"metadataIndex"`
	Brokers          []brokerStatus `json:"brokers"`
}

type brokerStatus struct {
	ID                   int32  `json:"id"`
	Addr                 string `json:"addr"`
	Zone                 string `json:"zone,omitempty"`
	Cell                 string `json:"cell,omitempty"`
	Epoch                int64  `json:"epoch"`
	Fenced               bool   `json:"fenced"`
	InControlledShutdown bool   `json:"inControlledShutdown,omitempty"`
}

func (b *Broker) serveQuorum(w http.ResponseWriter, _ *http.Request) {
	if !b.Ready() {
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	im := b.meta.Image()
	st := quorumStatus{
		NodeID: b.cfg.NodeID, Roles: b.cfg.Roles.String(), ClusterID: im.ClusterID,
		ActiveController: b.meta.ActiveController(), MetadataIndex: im.Index, Brokers: []brokerStatus{},
	}
	for _, br := range im.Brokers() {
		st.Brokers = append(st.Brokers, brokerStatus{
			ID: br.ID, Addr: net.JoinHostPort(br.Host, strconv.Itoa(int(br.Port))), Zone: br.Rack, Cell: br.Cell,
			Epoch: br.Epoch, Fenced: br.Fenced, InControlledShutdown: br.InControlledShutdown,
		})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(st)
}

func (s *httpServer) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return s.srv.Shutdown(ctx)
}

// partitionCollector reports per-node partition figures at scrape time, so
// the hot paths carry no metric updates.
type partitionCollector struct {
	replicas *replica.Manager
	count    *prometheus.Desc
	bytes    *prometheus.Desc
}

func newPartitionCollector(r *replica.Manager) *partitionCollector {
	return &partitionCollector{
		replicas: r,
		count:    prometheus.NewDesc("strata_partitions", "Partitions hosted on this node.", nil, nil),
		bytes:    prometheus.NewDesc("strata_log_size_bytes", "Bytes in the logs of the partitions hosted on this node.", nil, nil),
	}
}

func (c *partitionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.count
	ch <- c.bytes
}

func (c *partitionCollector) Collect(ch chan<- prometheus.Metric) {
	parts := c.replicas.Partitions()
	var size int64
	for _, p := range parts {
		size += p.Size()
	}
	ch <- prometheus.MustNewConstMetric(c.count, prometheus.GaugeValue, float64(len(parts)))
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(size))
}

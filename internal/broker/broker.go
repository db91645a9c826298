// Package broker assembles a Strata node: the metadata store, the logs and
// partitions, the Kafka listener with its handlers, and the HTTP endpoints.
// Nothing imports it but the command line.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/strata-db/strata/internal/broker/api"
	"github.com/strata-db/strata/internal/config"
	"github.com/strata-db/strata/internal/coord"
	"github.com/strata-db/strata/internal/log"
	"github.com/strata-db/strata/internal/meta"
	"github.com/strata-db/strata/internal/replica"
	"github.com/strata-db/strata/internal/tenant"
	"github.com/strata-db/strata/internal/wire"
)

// Config is a node's settings.
type Config struct {
	NodeID    int32
	DataDir   string
	Listen    string // Kafka listener, host:port
	Advertise string // address put in Metadata; defaults to Listen
	HTTP      string // admin, /metrics and /healthz, host:port
	// Static holds Kafka broker configs from the config file, e.g.
	// "log.retention.ms"; they sit below dynamic configs.
	Static map[string]string
	Logger *slog.Logger
	// ShutdownTimeout bounds how long in-flight requests get to finish.
	ShutdownTimeout time.Duration

	// Roles this node plays (--roles).
	Roles Roles
	// Controllers is the metadata quorum (--controllers); empty for a
	// single-node cluster.
	Controllers []meta.Voter
	// ControllerListen is where the node's metadata-log member listens
	// (--controller-listen). Required on controllers of a multi-node
	// cluster; a broker-only node defaults to the Kafka listener's host
	// with a port picked by the system.
	ControllerListen string
	// Zone is the Kafka rack; Cell the cell the broker belongs to.
	Zone, Cell string
	// InternalListen is the inter-broker listener (--internal-listen):
	// other brokers send their replica fetches, transaction markers and
	// checks there, without authentication, so it belongs on the cluster's
	// private network. Empty: they use the Kafka listener, which a
	// multi-node cluster can do only without authentication or TLS.
	InternalListen string
	// AdminToken, when set, is the operator credential the admin API
	// requires (Authorization: Bearer TOKEN); /healthz, /metrics and
	// /quorum stay open for monitoring.
	AdminToken string
	// Auth is the Kafka listener's authentication: AuthNone (every
	// connection in the default tenant), AuthSASL (API keys of tenants)
	// or AuthMTLS (the API key a client certificate names; needs
	// TLSClientCA).
	Auth string
	// TLSCert and TLSKey are PEM files of the Kafka listener's certificate
	// chain and key; set, the listener speaks TLS only. TLSClientCA is a
	// PEM file of the CAs that must sign client certificates; set, every
	// client must present one.
	TLSCert, TLSKey, TLSClientCA string
	// PeerTLSCert, PeerTLSKey and PeerTLSCA (all three or none) are PEM
	// files of this node's certificate chain and key and of the CA that
	// signs every node's certificate. Set, the inter-broker and controller
	// listeners accept only TLS connections with a client certificate the
	// CA signed, and every connection this node opens to another
	// (replication, transaction requests, raft, controller requests)
	// presents this node's certificate and checks the peer's against the
	// CA (peer.TLS). Unset, those links are plaintext.
	PeerTLSCert, PeerTLSKey, PeerTLSCA string
	// HTTPTLSCert and HTTPTLSKey are PEM files of the HTTP listener's
	// certificate chain and key; set, it speaks HTTPS only.
	HTTPTLSCert, HTTPTLSKey string
	// StartTimeout bounds how long Start waits for the metadata quorum and
	// for this broker's registration; 0: 30s for a single node, 2 minutes
	// otherwise (the other nodes may be starting too).
	StartTimeout time.Duration
}

// Roles says which parts of a node run.
type Roles struct {
	Broker     bool // Kafka listener, partitions, coordinators
	Controller bool // a voter of the metadata quorum
}

// ParseRoles parses --roles: a comma-separated list of broker and
// controller.
func ParseRoles(s string) (Roles, error) {
	var r Roles
	for _, part := range strings.Split(s, ",") {
		switch strings.TrimSpace(part) {
		case "broker":
			r.Broker = true
		case "controller":
			r.Controller = true
		default:
			return Roles{}, fmt.Errorf("roles: %q is neither broker nor controller", part)
		}
	}
	return r, nil
}

func (r Roles) String() string {
	var parts []string
	if r.Broker {
		parts = append(parts, "broker")
	}
	if r.Controller {
		parts = append(parts, "controller")
	}
	return strings.Join(parts, ",")
}

// Listener authentication modes (--auth).
const (
	AuthNone = "none"
	AuthSASL = "sasl"
	AuthMTLS = "mtls"
)

// authenticated reports whether connections have a tenant's API key (and
// are held to its ACLs) rather than the default tenant.
func (c *Config) authenticated() bool { return c.Auth == AuthSASL || c.Auth == AuthMTLS }

// DefaultConfig is a single-node cluster on loopback.
func DefaultConfig() Config {
	return Config{
		NodeID:          1,
		DataDir:         "./strata-data",
		Listen:          "127.0.0.1:9092",
		HTTP:            "127.0.0.1:9644",
		ShutdownTimeout: 5 * time.Second,
		Roles:           Roles{Broker: true, Controller: true},
		Auth:            AuthNone,
	}
}

// Validate checks the settings, including every static broker config.
func (c *Config) Validate() error {
	if c.NodeID < 0 {
		return fmt.Errorf("broker: node id %d is negative", c.NodeID)
	}
	if c.DataDir == "" {
		return errors.New("broker: data directory is empty")
	}
	switch c.Auth {
	case "", AuthNone, AuthSASL, AuthMTLS:
	default:
		return fmt.Errorf("broker: --auth %q is none of %s, %s and %s", c.Auth, AuthNone, AuthSASL, AuthMTLS)
	}
	switch {
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return errors.New("broker: --tls-cert and --tls-key go together")
	case c.TLSClientCA != "" && c.TLSCert == "":
		return errors.New("broker: --tls-client-ca needs --tls-cert and --tls-key")
	case c.Auth == AuthMTLS && c.TLSClientCA == "":
		return errors.New("broker: --auth mtls needs --tls-client-ca")
	case (c.HTTPTLSCert == "") != (c.HTTPTLSKey == ""):
		return errors.New("broker: --http-tls-cert and --http-tls-key go together")
	}
	if err := c.validatePeerTLS(); err != nil {
		return err
	}
	for _, addr := range []string{c.Listen, c.Advertise, c.HTTP} {
		if addr == "" {
			continue
		}
		if _, _, err := splitHostPort(addr); err != nil {
			return fmt.Errorf("broker: %w", err)
		}
	}
	for k, v := range c.Static {
		if err := config.ValidateBroker(k, v); err != nil {
			return fmt.Errorf("broker: static config: %w", err)
		}
	}
	return c.validateQuorum()
}

// validateQuorum checks the roles against the controller list.
func (c *Config) validateQuorum() error {
	if !c.Roles.Broker && !c.Roles.Controller {
		return errors.New("broker: --roles names no role")
	}
	if len(c.Controllers) == 0 {
		if !c.Roles.Broker || !c.Roles.Controller {
			return fmt.Errorf("broker: --roles %s needs --controllers (a node without it is a single-node cluster, both broker and controller)", c.Roles)
		}
		if c.ControllerListen != "" {
			return errors.New("broker: --controller-listen needs --controllers")
		}
		if c.peerTLS() {
			return errors.New("broker: --peer-tls-* secures the links between the nodes of a multi-node cluster and needs --controllers")
		}
		return nil
	}
	seen := map[int32]bool{}
	voter := false
	for _, v := range c.Controllers {
		if seen[v.ID] {
			return fmt.Errorf("broker: --controllers lists node id %d twice", v.ID)
		}
		seen[v.ID] = true
		voter = voter || v.ID == c.NodeID
	}
	switch {
	case c.Roles.Controller && !voter:
		return fmt.Errorf("broker: node %d has the controller role but is not in --controllers %s", c.NodeID, meta.FormatVoters(c.Controllers))
	case !c.Roles.Controller && voter:
		return fmt.Errorf("broker: node %d is in --controllers but does not have the controller role", c.NodeID)
	case c.Roles.Controller && c.ControllerListen == "":
		return fmt.Errorf("broker: node %d is a controller and needs --controller-listen", c.NodeID)
	case c.Roles.Broker && c.InternalListen == "" && (c.authenticated() || c.TLSCert != ""):
		return fmt.Errorf("broker: with --auth %s or TLS, the brokers of a multi-node cluster need --internal-listen HOST:PORT to reach each other", c.Auth)
	case c.Roles.Broker && c.InternalListen == "" && c.peerTLS():
		return errors.New("broker: with --peer-tls-*, the brokers of a multi-node cluster need --internal-listen HOST:PORT, the listener peer TLS secures")
	}
	if c.ControllerListen != "" {
		_, port, err := splitHostPort(c.ControllerListen)
		if err != nil {
			return fmt.Errorf("broker: --controller-listen: %w", err)
		}
		// Peers dial the address in --controllers: a voter listening on
		// another port would never hear from them.
		for _, v := range c.Controllers {
			if _, vport, _ := splitHostPort(v.Addr); v.ID == c.NodeID && vport != port {
				return fmt.Errorf("broker: --controller-listen %s is not on the port of node %d's entry %s in --controllers", c.ControllerListen, c.NodeID, v.Addr)
			}
		}
	}
	return nil
}

// Broker is a running node.
type Broker struct {
	cfg   Config
	log   *slog.Logger
	tls   nodeTLS
	reg   *prometheus.Registry
	ready atomic.Bool

	kafkaLn             net.Listener
	kafkaAddr, httpAddr net.Addr     // bound addresses, known once Start returns
	internalLn          net.Listener // the inter-broker listener, if any
	internalWire        *wire.Server
	lock                *os.File
	meta                *meta.Store
	session             *meta.BrokerSession // nil on a controller-only node
	sessionStop         context.CancelFunc
	sessionDone         chan struct{}
	logs                *log.Manager
	replicas            *replica.Manager
	groups              *coord.Coordinator
	txns                *coord.TxnCoordinator
	tenants             atomic.Pointer[tenant.Service]      // set once the metadata store is open
	peers               *peers                              // requests to other brokers
	quotas              atomic.Pointer[tenant.QuotaManager] // quotas and metering; nil until Kafka is served
	wire                *wire.Server
	httpSrv             *httpServer
	// coordLoaded signals watchTenancy that a coordinator partition loaded.
	coordLoaded chan struct{}

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start brings the node up and returns once it serves Kafka requests.
func Start(cfg Config) (*Broker, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 5 * time.Second
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	tlsCfg, err := loadTLS(cfg)
	if err != nil {
		return nil, err
	}
	b := &Broker{cfg: cfg, log: cfg.Logger, tls: tlsCfg, reg: prometheus.NewRegistry(), coordLoaded: make(chan struct{}, 1)}
	b.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := b.start(); err != nil {
		b.stop()
		return nil, err
	}
	return b, nil
}

func (b *Broker) start() error {
	if err := os.MkdirAll(b.cfg.DataDir, 0o755); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if err := b.lockDataDir(); err != nil {
		return err
	}
	var err error
	if b.cfg.Roles.Broker {
		// Bind first so that a port of 0 resolves before the broker
		// registers its address; connections are accepted only once the
		// node is ready.
		if b.kafkaLn, err = net.Listen("tcp", b.cfg.Listen); err != nil {
			return fmt.Errorf("broker: kafka listener: %w", err)
		}
		b.kafkaAddr = b.kafkaLn.Addr()
		if b.cfg.Advertise == "" {
			b.cfg.Advertise = b.kafkaAddr.String()
		}
		if b.cfg.InternalListen != "" {
			if b.internalLn, err = net.Listen("tcp", b.cfg.InternalListen); err != nil {
				return fmt.Errorf("broker: internal listener: %w", err)
			}
		}
	}
	if b.httpSrv, err = startHTTP(b.cfg.HTTP, b.tls.http, b); err != nil {
		return err
	}
	b.httpAddr = b.httpSrv.addr
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	if err := b.startMeta(ctx); err != nil {
		return err
	}
	b.tenants.Store(tenant.NewService(b.meta))
	if !b.cfg.Roles.Broker {
		b.ready.Store(true)
		b.log.Info("serving as controller only", "http", b.httpAddr.String(), "node", b.cfg.NodeID)
		return nil
	}
	if err := b.startStorage(ctx); err != nil {
		return err
	}
	if err := b.startGroups(ctx); err != nil {
		return err
	}
	b.peers = newPeers(b.cfg.NodeID, b.tls.peerDialer())
	if err := b.startTxns(ctx); err != nil {
		return err
	}
	if err := b.startKafka(); err != nil {
		return err
	}
	b.wg.Add(1)
	go func() { defer b.wg.Done(); b.watchTenancy(ctx) }()
	return nil
}

func (b *Broker) lockDataDir() error {
	f, err := os.OpenFile(filepath.Join(b.cfg.DataDir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("broker: data directory %s is in use by another process: %w", b.cfg.DataDir, err)
	}
	b.lock = f
	return nil
}

func (b *Broker) startMeta(ctx context.Context) error {
	cfg := meta.Config{
		NodeID: b.cfg.NodeID, Dir: filepath.Join(b.cfg.DataDir, "meta"), Logger: b.log,
		Voters: b.cfg.Controllers, Listen: b.cfg.ControllerListen,
		SessionTimeout: b.brokerDuration("broker.session.timeout.ms"),
	}
	if b.tls.peer != nil {
		cfg.ListenTLS, cfg.DialTLS = b.tls.peer.Listener, b.tls.peer.Dialer
	}
	if b.brokerValue("auto.leader.rebalance.enable") == "true" {
		cfg.LeaderRebalance = meta.LeaderRebalance{
			Interval:         time.Duration(b.brokerInt("leader.imbalance.check.interval.seconds")) * time.Second,
			ImbalancePercent: int(b.brokerInt("leader.imbalance.per.broker.percentage")),
		}
	}
	timeout := b.cfg.StartTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
		if len(b.cfg.Controllers) > 0 {
			timeout = 2 * time.Minute
		}
	}
	if len(cfg.Voters) > 0 && !b.cfg.Roles.Controller {
		// A follower of the log needs a raft address the controller can
		// reach; by default the Kafka listener's host, any port.
		host, _, _ := splitHostPort(b.cfg.Advertise)
		if cfg.Listen == "" {
			lhost, _, _ := splitHostPort(b.cfg.Listen)
			cfg.Listen = net.JoinHostPort(lhost, "0")
		}
		cfg.Advertise = net.JoinHostPort(host, "0") // port filled in by meta from the bound listener
	}
	var err error
	if b.meta, err = meta.Open(cfg); err != nil {
		return err
	}
	readyCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := b.meta.WaitReady(readyCtx); err != nil {
		return err
	}
	if !b.cfg.Roles.Broker {
		return nil
	}
	host, port, _ := splitHostPort(b.cfg.Advertise)
	b.session, err = b.meta.RegisterBroker(readyCtx, meta.SessionConfig{
		Host: host, Port: port, Rack: b.cfg.Zone, Cell: b.cfg.Cell, InternalAddr: b.internalAddr(host),
		HeartbeatInterval: b.brokerDuration("broker.heartbeat.interval.ms"),
	})
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if err := b.session.WaitUnfenced(readyCtx); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	sctx, stop := context.WithCancel(ctx)
	b.sessionStop, b.sessionDone = stop, make(chan struct{})
	go func() { defer close(b.sessionDone); b.session.Run(sctx) }()
	return nil
}

// Fatal receives an error when the node must stop: its broker registration
// was taken over by another process. Nil on a controller-only node.
func (b *Broker) Fatal() <-chan error {
	if b.session == nil {
		return nil
	}
	return b.session.Fatal()
}

// controlledShutdown stops heartbeating and tells the active controller
// this broker is going.
func (b *Broker) controlledShutdown() error {
	if b.session == nil {
		return nil
	}
	b.sessionStop()
	<-b.sessionDone
	ctx, cancel := context.WithTimeout(context.Background(), b.cfg.ShutdownTimeout)
	defer cancel()
	return b.session.Shutdown(ctx)
}

func (b *Broker) startStorage(ctx context.Context) error {
	var err error
	b.logs, err = log.NewManager(log.ManagerConfig{
		Dir:                    filepath.Join(b.cfg.DataDir, "logs"),
		RetentionCheckInterval: b.brokerDuration("log.retention.check.interval.ms"),
		Logger:                 b.log,
		Cleaner: log.CleanerConfig{
			DedupeBufferBytes:   b.brokerInt("log.cleaner.dedupe.buffer.size"),
			IOMaxBytesPerSecond: b.brokerFloat("log.cleaner.io.max.bytes.per.second"),
		},
		CleanerBackoff: max(b.brokerDuration("log.cleaner.backoff.ms"), time.Millisecond),
		DisableCleaner: b.brokerValue("log.cleaner.enable") != "true",
	})
	if err != nil {
		return err
	}
	b.replicas = replica.NewManager(replica.Config{
		NodeID: b.cfg.NodeID, Logs: b.logs, Meta: b.meta, Static: b.static(), Logger: b.log,
		Controller: b.meta, BrokerEpoch: b.session.Epoch,
		ReplicaLagTime: b.brokerDuration("replica.lag.time.max.ms"),
		PeerTLS:        b.tls.peerDialer(),
	})
	b.replicas.Reconcile()
	b.reg.MustRegister(newPartitionCollector(b.replicas))
	b.wg.Add(2)
	go func() { defer b.wg.Done(); b.logs.Run(ctx) }()
	go func() { defer b.wg.Done(); b.replicas.Run(ctx) }()
	return nil
}

func (b *Broker) startKafka() error {
	var authz api.Authorizer
	if b.cfg.authenticated() {
		authz = tenant.NewAuthorizer(b.meta.Image)
	}
	quotas := tenant.NewQuotaManager(tenant.QuotaConfig{
		Lookup: tenant.ImageLookup(b.meta.Image), StorageBytes: b.tenantStorage,
		ProduceCapacity: float64(b.brokerInt("quota.broker.produce.bytes.per.second")),
		FetchCapacity:   float64(b.brokerInt("quota.broker.fetch.bytes.per.second")),
		Rates: tenant.RateConfig{
			Samples:      int(b.brokerInt("quota.window.num")),
			SampleLength: time.Duration(b.brokerInt("quota.window.size.seconds")) * time.Second,
		},
	})
	b.quotas.Store(quotas)
	b.reg.MustRegister(newMeterCollector(b, quotas))
	h := api.New(api.Config{
		NodeID: b.cfg.NodeID, Meta: b.meta, Replicas: b.replicas, Groups: b.groups, Static: b.static(), Authorizer: authz,
		Quotas:       quotas,
		Transactions: b.txns, Txns: txnVerifier{b}, Markers: markerWriter{b},
		DataDir: b.cfg.DataDir, Logger: b.log,
		FetchSessionSlots: int(b.brokerInt("max.incremental.fetch.session.cache.slots")),
		Registerer:        b.reg,
	})
	wc := wire.DefaultConfig()
	wc.MaxRequestBytes = int32(b.brokerInt("socket.request.max.bytes"))
	if q := b.brokerInt("queued.max.request.bytes"); q > 0 {
		wc.MaxQueuedBytes = max(q, int64(wc.MaxRequestBytes))
	}
	if m := b.brokerInt("max.connections"); m < math.MaxInt32 {
		wc.MaxConnections = int(m)
	}
	wc.IdleTimeout = b.brokerDuration("connections.max.idle.ms")
	wc.DefaultTenant = string(meta.DefaultTenant)
	if b.cfg.Auth == AuthSASL {
		auth, err := tenant.NewAuthenticator(b.meta.Image, strings.Split(b.brokerValue("sasl.enabled.mechanisms"), ","))
		if err != nil {
			return fmt.Errorf("broker: %w", err)
		}
		wc.Auth = wireAuth{auth}
		wc.MaxReauth = b.brokerDuration("connections.max.reauth.ms")
	}
	if b.cfg.TLSCert != "" {
		tc, err := newReloadingTLS(b.cfg.TLSCert, b.cfg.TLSKey, b.cfg.TLSClientCA, b.log)
		if err != nil {
			return fmt.Errorf("broker: %w", err)
		}
		wc.TLS = tc
	}
	if b.cfg.Auth == AuthMTLS {
		wc.CertAuth = certAuth{b.meta.Image}
	}
	wc.Quotas = wireQuotas{quotas}
	wc.Logger = b.log
	wc.Registerer = b.reg
	var err error
	if b.wire, err = wire.NewServer(wc, h.Mux()); err != nil {
		return err
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		if err := b.wire.Serve(b.kafkaLn); err != nil {
			b.log.Error("kafka listener stopped", "err", err)
		}
	}()
	if b.internalLn != nil {
		// The same APIs without authentication: connections are the
		// cluster's own (no tenant's, so cluster APIs pass) and name a
		// request's tenant in a tagged field (api/interbroker.go). With
		// peer TLS only nodes holding a certificate of the peer CA get in;
		// without it, whoever reaches the listener.
		ic := wire.DefaultConfig()
		ic.MaxRequestBytes, ic.IdleTimeout, ic.DefaultTenant = wc.MaxRequestBytes, wc.IdleTimeout, wc.DefaultTenant
		ic.Logger = b.log.With("listener", "internal")
		if b.tls.peer != nil {
			ic.TLS = b.tls.peer.Listener
		}
		if b.internalWire, err = wire.NewServer(ic, h.Mux()); err != nil {
			return err
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			if err := b.internalWire.Serve(b.internalLn); err != nil {
				b.log.Error("internal listener stopped", "err", err)
			}
		}()
	}
	b.ready.Store(true)
	b.log.Info("serving Kafka", "listen", b.kafkaAddr.String(), "advertise", b.cfg.Advertise, "http", b.httpAddr.String(), "node", b.cfg.NodeID)
	return nil
}

// internalAddr is the inter-broker listener's address for others: its
// bound address, with the advertised host if it listens on every
// interface; "" without one.
func (b *Broker) internalAddr(advertisedHost string) string {
	if b.internalLn == nil {
		return ""
	}
	a := b.internalLn.Addr().(*net.TCPAddr)
	if a.IP.IsUnspecified() {
		return net.JoinHostPort(advertisedHost, strconv.Itoa(a.Port))
	}
	return a.String()
}

// KafkaAddr is the bound Kafka listener address.
func (b *Broker) KafkaAddr() string { return b.kafkaAddr.String() }

// InternalAddr is the bound address of the inter-broker listener, "" if
// the node has none.
func (b *Broker) InternalAddr() string { return b.internalAddr("") }

// HTTPAddr is the bound HTTP address.
func (b *Broker) HTTPAddr() string { return b.httpAddr.String() }

// Ready reports whether the node serves Kafka requests.
func (b *Broker) Ready() bool { return b.ready.Load() }

// MetadataIndex is the index of the last metadata log entry this node has
// applied.
func (b *Broker) MetadataIndex() uint64 { return b.meta.Image().Index }

// WaitMetadata blocks until this node has applied the metadata log up to
// index and brought its partitions in line with it, or ctx ends. A change
// is acknowledged once the node that handled it has applied it; the
// others follow shortly after, and tests of a cluster wait here for that.
func (b *Broker) WaitMetadata(ctx context.Context, index uint64) error {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for b.meta.Image().Index < index {
		select {
		case <-ctx.Done():
			return fmt.Errorf("broker: node %d at metadata index %d, waiting for %d: %w", b.cfg.NodeID, b.meta.Image().Index, index, ctx.Err())
		case <-t.C:
		}
	}
	if b.replicas != nil {
		b.replicas.WaitReconciled(ctx, index)
	}
	return ctx.Err()
}

// Close shuts down: stop reading requests, answer those in flight, then
// flush and close every log and the metadata store.
func (b *Broker) Close() error {
	b.ready.Store(false)
	return b.stop()
}

func (b *Broker) stop() error {
	var errs []error
	if b.sessionStop != nil {
		// First, while the node still serves: phase B moves leaderships
		// away on this signal.
		if err := b.controlledShutdown(); err != nil {
			b.log.Warn("controlled shutdown", "err", err)
		}
	}
	if b.wire == nil && b.kafkaLn != nil {
		b.kafkaLn.Close()
	}
	if b.internalWire == nil && b.internalLn != nil {
		b.internalLn.Close()
	}
	if b.internalWire != nil {
		ctx, cancel := context.WithTimeout(context.Background(), b.cfg.ShutdownTimeout)
		if err := b.internalWire.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("broker: drain internal connections: %w", err))
		}
		cancel()
	}
	if b.wire != nil {
		ctx, cancel := context.WithTimeout(context.Background(), b.cfg.ShutdownTimeout)
		if err := b.wire.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("broker: drain connections: %w", err))
		}
		cancel()
	}
	if b.cancel != nil {
		b.cancel()
	}
	b.wg.Wait()
	if b.txns != nil {
		b.txns.Close() // before the logs close: completions write markers
	}
	if b.peers != nil {
		b.peers.pool.Close()
	}
	if b.groups != nil {
		b.groups.Close()
	}
	if b.logs != nil {
		errs = append(errs, b.logs.Close())
	}
	if b.meta != nil {
		errs = append(errs, b.meta.Close())
	}
	if b.httpSrv != nil {
		errs = append(errs, b.httpSrv.close())
	}
	if b.lock != nil {
		errs = append(errs, b.lock.Close())
	}
	return errors.Join(errs...)
}

// static is the static layer of broker configs: the file's values plus the
// read-only ones this process decides.
func (b *Broker) static() map[string]string {
	out := map[string]string{}
	for k, v := range b.cfg.Static {
		out[k] = v
	}
	id := strconv.Itoa(int(b.cfg.NodeID))
	out["node.id"], out["broker.id"] = id, id
	out["log.dirs"] = b.cfg.DataDir
	if b.kafkaAddr != nil {
		scheme := listenerScheme(b.cfg)
		out["listeners"] = scheme + b.kafkaAddr.String()
		out["advertised.listeners"] = scheme + b.cfg.Advertise
	}
	if b.cfg.Zone != "" {
		out["broker.rack"] = b.cfg.Zone
	}
	return out
}

func (b *Broker) brokerValue(name string) string {
	layers := config.Layers{Static: b.static()}
	if b.meta != nil {
		im := b.meta.Image()
		layers.Broker = im.BrokerConfigs(b.cfg.NodeID)
		layers.ClusterDefault = im.BrokerConfigs(meta.ClusterConfigKey)
	}
	e, ok := config.ResolveBroker(name, layers)
	if !ok || e.Value == nil {
		panic(fmt.Sprintf("broker: config %q has no value", name))
	}
	return *e.Value
}

func (b *Broker) brokerInt(name string) int64 {
	v, err := strconv.ParseInt(b.brokerValue(name), 10, 64)
	if err != nil {
		panic(fmt.Sprintf("broker: config %q: %v", name, err))
	}
	return v
}

func (b *Broker) brokerFloat(name string) float64 {
	v, err := strconv.ParseFloat(b.brokerValue(name), 64)
	if err != nil {
		panic(fmt.Sprintf("broker: config %q: %v", name, err))
	}
	return v
}

func (b *Broker) brokerDuration(name string) time.Duration {
	return time.Duration(b.brokerInt(name)) * time.Millisecond
}

func splitHostPort(addr string) (string, int32, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: %w", addr, err)
	}
	port, err := strconv.ParseUint(ps, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: bad port", addr)
	}
	return host, int32(port), nil
}

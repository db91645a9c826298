// Package broker assembles a Strata node: the metadata store, the logs and
// partitions, the Kafka listener with its handlers, and the HTTP endpoints.
// Nothing imports it but the command line.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
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
}

// DefaultConfig is a single-node cluster on loopback.
func DefaultConfig() Config {
	return Config{
		NodeID:          1,
		DataDir:         "./strata-data",
		Listen:          "127.0.0.1:9092",
		HTTP:            "127.0.0.1:9644",
		ShutdownTimeout: 5 * time.Second,
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
	return nil
}

// Broker is a running node.
type Broker struct {
	cfg   Config
	log   *slog.Logger
	reg   *prometheus.Registry
	ready atomic.Bool

	kafkaLn             net.Listener
	kafkaAddr, httpAddr net.Addr // bound addresses, known once Start returns
	lock                *os.File
	meta                *meta.Store
	logs                *log.Manager
	replicas            *replica.Manager
	groups              *coord.Coordinator
	txns                *coord.TxnCoordinator
	wire                *wire.Server
	httpSrv             *httpServer

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
	b := &Broker{cfg: cfg, log: cfg.Logger, reg: prometheus.NewRegistry()}
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
	// Bind first so that a port of 0 resolves before the broker registers
	// its address; connections are accepted only once the node is ready.
	var err error
	if b.kafkaLn, err = net.Listen("tcp", b.cfg.Listen); err != nil {
		return fmt.Errorf("broker: kafka listener: %w", err)
	}
	b.kafkaAddr = b.kafkaLn.Addr()
	if b.cfg.Advertise == "" {
		b.cfg.Advertise = b.kafkaAddr.String()
	}
	if b.httpSrv, err = startHTTP(b.cfg.HTTP, b); err != nil {
		return err
	}
	b.httpAddr = b.httpSrv.addr
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	if err := b.startMeta(ctx); err != nil {
		return err
	}
	if err := b.startStorage(ctx); err != nil {
		return err
	}
	if err := b.startGroups(ctx); err != nil {
		return err
	}
	if err := b.startTxns(ctx); err != nil {
		return err
	}
	return b.startKafka()
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
	var err error
	b.meta, err = meta.Open(meta.Config{NodeID: b.cfg.NodeID, Dir: filepath.Join(b.cfg.DataDir, "meta"), Logger: b.log})
	if err != nil {
		return err
	}
	readyCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := b.meta.WaitReady(readyCtx); err != nil {
		return err
	}
	host, port, _ := splitHostPort(b.cfg.Advertise)
	want := meta.Broker{ID: b.cfg.NodeID, Host: host, Port: port}
	if have, ok := b.meta.Image().Broker(b.cfg.NodeID); !ok || *have != want {
		errs, err := b.meta.Propose(readyCtx, meta.Record{RegisterBroker: &want})
		if err == nil {
			err = errs[0]
		}
		if err != nil {
			return fmt.Errorf("broker: register: %w", err)
		}
	}
	return nil
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
	})
	b.replicas.Reconcile()
	b.reg.MustRegister(newPartitionCollector(b.replicas))
	b.wg.Add(2)
	go func() { defer b.wg.Done(); b.logs.Run(ctx) }()
	go func() { defer b.wg.Done(); b.replicas.Run(ctx) }()
	return nil
}

func (b *Broker) startKafka() error {
	h := api.New(api.Config{
		NodeID: b.cfg.NodeID, Meta: b.meta, Replicas: b.replicas, Groups: b.groups, Static: b.static(),
		Transactions: b.txns, Txns: api.NewTxnVerifier(b.txns),
		DataDir: b.cfg.DataDir, Logger: b.log,
		FetchSessionSlots: int(b.brokerInt("max.incremental.fetch.session.cache.slots")),
	})
	wc := wire.DefaultConfig()
	wc.MaxRequestBytes = int32(b.brokerInt("socket.request.max.bytes"))
	wc.IdleTimeout = b.brokerDuration("connections.max.idle.ms")
	wc.DefaultTenant = string(meta.DefaultTenant)
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
	b.ready.Store(true)
	b.log.Info("serving Kafka", "listen", b.kafkaAddr.String(), "advertise", b.cfg.Advertise, "http", b.httpAddr.String(), "node", b.cfg.NodeID)
	return nil
}

// KafkaAddr is the bound Kafka listener address.
func (b *Broker) KafkaAddr() string { return b.kafkaAddr.String() }

// HTTPAddr is the bound HTTP address.
func (b *Broker) HTTPAddr() string { return b.httpAddr.String() }

// Ready reports whether the node serves Kafka requests.
func (b *Broker) Ready() bool { return b.ready.Load() }

// Close shuts down: stop reading requests, answer those in flight, then
// flush and close every log and the metadata store.
func (b *Broker) Close() error {
	b.ready.Store(false)
	return b.stop()
}

func (b *Broker) stop() error {
	var errs []error
	if b.wire == nil && b.kafkaLn != nil {
		b.kafkaLn.Close()
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
	out["listeners"] = "PLAINTEXT://" + b.kafkaAddr.String()
	out["advertised.listeners"] = "PLAINTEXT://" + b.cfg.Advertise
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

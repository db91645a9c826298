package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/strata-db/strata/internal/broker"
	"github.com/strata-db/strata/internal/meta"
	"gopkg.in/yaml.v3"
)

// fileConfig is the YAML form of the server settings (--config). Keys match
// the flag names; broker_config holds static Kafka broker configs such as
// log.retention.ms.
type fileConfig struct {
	NodeID           *int32         `yaml:"node-id"`
	Data             string         `yaml:"data"`
	Listen           string         `yaml:"listen"`
	Advertise        string         `yaml:"advertise"`
	HTTP             string         `yaml:"http"`
	LogLevel         string         `yaml:"log-level"`
	Roles            string         `yaml:"roles"`
	ControllerListen string         `yaml:"controller-listen"`
	InternalListen   string         `yaml:"internal-listen"`
	Controllers      string         `yaml:"controllers"`
	Zone             string         `yaml:"zone"`
	Cell             string         `yaml:"cell"`
	Auth             string         `yaml:"auth"`
	TLSCert          string         `yaml:"tls-cert"`
	TLSKey           string         `yaml:"tls-key"`
	TLSClientCA      string         `yaml:"tls-client-ca"`
	PeerTLSCert      string         `yaml:"peer-tls-cert"`
	PeerTLSKey       string         `yaml:"peer-tls-key"`
	PeerTLSCA        string         `yaml:"peer-tls-ca"`
	HTTPTLSCert      string         `yaml:"http-tls-cert"`
	HTTPTLSKey       string         `yaml:"http-tls-key"`
	BrokerConfig     map[string]any `yaml:"broker-config"`
}

// quorumFlags are the cluster settings as given, parsed into the config
// once the file and the flags are merged.
type quorumFlags struct {
	roles, controllers string
}

func (q quorumFlags) apply(cfg *broker.Config) error {
	roles, err := broker.ParseRoles(q.roles)
	if err != nil {
		return err
	}
	cfg.Roles = roles
	cfg.Controllers = nil
	if q.controllers != "" {
		if cfg.Controllers, err = meta.ParseVoters(q.controllers); err != nil {
			return err
		}
	}
	return nil
}

func serverCommand() *cobra.Command {
	cfg := broker.DefaultConfig()
	var configFile, logLevel, adminTokenFile string
	q := quorumFlags{roles: "broker,controller"}
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run a Strata node (with no flags: a single-node cluster on 127.0.0.1:9092)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configFile != "" {
				if err := applyConfigFile(cmd, configFile, &cfg, &logLevel, &q); err != nil {
					return err
				}
			}
			if err := q.apply(&cfg); err != nil {
				return err
			}
			if adminTokenFile != "" {
				t, err := readToken(adminTokenFile)
				if err != nil {
					return err
				}
				cfg.AdminToken = t
			}
			logger, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			cfg.Logger = logger
			return runServer(cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "YAML file with the same settings; flags win")
	f.StringVar(&cfg.DataDir, "data", cfg.DataDir, "data directory")
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "Kafka listener HOST:PORT")
	f.StringVar(&cfg.Advertise, "advertise", "", "address put in Metadata, HOST:PORT (default: the listener)")
	f.StringVar(&cfg.HTTP, "http", cfg.HTTP, "HTTP address for /healthz, /metrics and the admin API")
	f.Int32Var(&cfg.NodeID, "node-id", cfg.NodeID, "this node's id")
	f.StringVar(&q.roles, "roles", q.roles, "what this node runs: broker, controller (a voter of the metadata quorum), or both")
	f.StringVar(&cfg.ControllerListen, "controller-listen", "", "HOST:PORT where this node's metadata-log member listens (multi-node clusters)")
	f.StringVar(&q.controllers, "controllers", "", "the metadata quorum's voters, ID@HOST:PORT,... by their controller addresses (default: a single-node cluster)")
	f.StringVar(&cfg.InternalListen, "internal-listen", "", "HOST:PORT where other brokers reach this one (replication, transaction markers): without --peer-tls-* unauthenticated, for the cluster's private network; needed by multi-node clusters with --auth, TLS or --peer-tls-* (default: the Kafka listener)")
	f.StringVar(&cfg.Zone, "zone", "", "this broker's zone (the Kafka rack)")
	f.StringVar(&cfg.Cell, "cell", "", "this broker's cell")
	f.StringVar(&cfg.Auth, "auth", cfg.Auth, "Kafka listener authentication: none (every connection in the default tenant), sasl (PLAIN and SCRAM with tenants' API keys) or mtls (the API key named by the client certificate's subject CN; needs --tls-client-ca)")
	f.StringVar(&adminTokenFile, "admin-token-file", "", "file holding the operator token the admin API requires (Authorization: Bearer TOKEN); without it the admin API is open to whoever reaches --http")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "PEM certificate chain of the Kafka listener; with --tls-key the listener speaks TLS only")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "PEM private key of --tls-cert")
	f.StringVar(&cfg.TLSClientCA, "tls-client-ca", "", "PEM CA certificates; clients must present a certificate they signed")
	f.StringVar(&cfg.PeerTLSCert, "peer-tls-cert", "", "PEM certificate chain of this node for mutual TLS with the other nodes (with --peer-tls-key and --peer-tls-ca): the inter-broker and controller listeners then take TLS only")
	f.StringVar(&cfg.PeerTLSKey, "peer-tls-key", "", "PEM private key of --peer-tls-cert")
	f.StringVar(&cfg.PeerTLSCA, "peer-tls-ca", "", "PEM CA certificates that sign every node's --peer-tls-cert; peers must present a certificate they signed")
	f.StringVar(&cfg.HTTPTLSCert, "http-tls-cert", "", "PEM certificate chain of the HTTP listener; with --http-tls-key it speaks HTTPS only")
	f.StringVar(&cfg.HTTPTLSKey, "http-tls-key", "", "PEM private key of --http-tls-cert")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// applyConfigFile reads the YAML file into cfg for every setting whose flag
// was not given on the command line.
func applyConfigFile(cmd *cobra.Command, path string, cfg *broker.Config, logLevel *string, q *quorumFlags) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	var fc fileConfig
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	set := func(flag string, dst *string, v string) {
		if v != "" && !cmd.Flags().Changed(flag) {
			*dst = v
		}
	}
	set("data", &cfg.DataDir, fc.Data)
	set("listen", &cfg.Listen, fc.Listen)
	set("advertise", &cfg.Advertise, fc.Advertise)
	set("http", &cfg.HTTP, fc.HTTP)
	set("log-level", logLevel, fc.LogLevel)
	set("roles", &q.roles, fc.Roles)
	set("controller-listen", &cfg.ControllerListen, fc.ControllerListen)
	set("internal-listen", &cfg.InternalListen, fc.InternalListen)
	set("controllers", &q.controllers, fc.Controllers)
	set("zone", &cfg.Zone, fc.Zone)
	set("cell", &cfg.Cell, fc.Cell)
	set("auth", &cfg.Auth, fc.Auth)
	set("tls-cert", &cfg.TLSCert, fc.TLSCert)
	set("tls-key", &cfg.TLSKey, fc.TLSKey)
	set("tls-client-ca", &cfg.TLSClientCA, fc.TLSClientCA)
	set("peer-tls-cert", &cfg.PeerTLSCert, fc.PeerTLSCert)
	set("peer-tls-key", &cfg.PeerTLSKey, fc.PeerTLSKey)
	set("peer-tls-ca", &cfg.PeerTLSCA, fc.PeerTLSCA)
	set("http-tls-cert", &cfg.HTTPTLSCert, fc.HTTPTLSCert)
	set("http-tls-key", &cfg.HTTPTLSKey, fc.HTTPTLSKey)
	if fc.NodeID != nil && !cmd.Flags().Changed("node-id") {
		cfg.NodeID = *fc.NodeID
	}
	if len(fc.BrokerConfig) > 0 {
		cfg.Static = map[string]string{}
		for k, v := range fc.BrokerConfig {
			cfg.Static[k] = fmt.Sprint(v)
		}
	}
	return nil
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

// runServer starts the node and runs it until SIGTERM or SIGINT, then shuts
// it down cleanly: in-flight requests answered, logs flushed and closed.
func runServer(cfg broker.Config) error {
	if os.Getenv("GOGC") == "" {
		// The live heap is small (tens of MiB) while fetch and produce
		// buffers churn at the data rate: at Go's default the collector
		// runs hundreds of times a second under load. Let the heap grow to
		// 5x the live data between collections; GOGC still overrides.
		debug.SetGCPercent(400)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	b, err := broker.Start(cfg)
	if err != nil {
		return err
	}
	select {
	case sig := <-sigs:
		cfg.Logger.Info("shutting down", "signal", sig.String())
	case err := <-b.Fatal():
		b.Close()
		return err
	}
	if err := b.Close(); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	cfg.Logger.Info("stopped")
	return nil
}

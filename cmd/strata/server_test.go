package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-db/strata/internal/broker"
	"github.com/strata-db/strata/internal/broker/brokertest"
)

func TestConfigFileAndFlags(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "strata.yaml")
	os.WriteFile(file, []byte(`
data: /from/file
listen: 10.0.0.1:9092
http: 10.0.0.1:9644
node-id: 7
broker-config:
  log.retention.ms: 3600000
  auto.create.topics.enable: false
`), 0o644)

	cmd := serverCommand()
	if err := cmd.Flags().Parse([]string{"--config", file, "--listen", "127.0.0.1:19092"}); err != nil {
		t.Fatal(err)
	}
	cfg := broker.DefaultConfig()
	// Mirror what RunE does, with the values the flags parsed into.
	cfg.Listen = "127.0.0.1:19092"
	level := "info"
	if err := applyConfigFile(cmd, file, &cfg, &level, &quorumFlags{roles: "broker,controller"}); err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:19092" {
		t.Errorf("flag lost to file: listen %s", cfg.Listen)
	}
	if cfg.DataDir != "/from/file" || cfg.HTTP != "10.0.0.1:9644" || cfg.NodeID != 7 {
		t.Errorf("file values not applied: %+v", cfg)
	}
	if cfg.Static["log.retention.ms"] != "3600000" || cfg.Static["auto.create.topics.enable"] != "false" {
		t.Errorf("broker configs: %v", cfg.Static)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
}

func TestConfigFileRejectsUnknownKeys(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(file, []byte("datadir: /x\n"), 0o644)
	cmd := serverCommand()
	cfg := broker.DefaultConfig()
	level := "info"
	err := applyConfigFile(cmd, file, &cfg, &level, &quorumFlags{roles: "broker,controller"})
	if err == nil || !strings.Contains(err.Error(), "datadir") {
		t.Fatalf("unknown key accepted: %v", err)
	}
}

func TestInvalidBrokerConfigRejected(t *testing.T) {
	cfg := broker.DefaultConfig()
	cfg.Static = map[string]string{"log.retention.ms": "soon"}
	if err := cfg.Validate(); err == nil {
		t.Fatal("invalid static broker config accepted")
	}
}

func TestClusterSettingsFromFileAndFlags(t *testing.T) {
	file := filepath.Join(t.TempDir(), "strata.yaml")
	os.WriteFile(file, []byte(`
node-id: 2
roles: controller
controller-listen: 127.0.0.1:9302
controllers: 1@127.0.0.1:9301,2@127.0.0.1:9302,3@127.0.0.1:9303
zone: from-file
cell: c1
`), 0o644)
	cmd := serverCommand()
	if err := cmd.Flags().Parse([]string{"--config", file, "--zone", "b", "--roles", "broker,controller"}); err != nil {
		t.Fatal(err)
	}
	cfg := broker.DefaultConfig()
	cfg.Zone = "b"
	q := quorumFlags{roles: "broker,controller"}
	level := "info"
	if err := applyConfigFile(cmd, file, &cfg, &level, &q); err != nil {
		t.Fatal(err)
	}
	if err := q.apply(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Zone != "b" || cfg.Cell != "c1" || cfg.NodeID != 2 || cfg.ControllerListen != "127.0.0.1:9302" {
		t.Errorf("merged settings: %+v", cfg)
	}
	if !cfg.Roles.Broker || !cfg.Roles.Controller || len(cfg.Controllers) != 3 || cfg.Controllers[2].Addr != "127.0.0.1:9303" {
		t.Errorf("roles %v, controllers %v", cfg.Roles, cfg.Controllers)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("validate: %v", err)
	}
}

func TestTLSSettingsValidated(t *testing.T) {
	for _, tc := range []struct {
		auth, cert, key, clientCA string
		ok                        bool
	}{
		{"sasl", "c.pem", "k.pem", "", true},
		{"mtls", "c.pem", "k.pem", "ca.pem", true},
		{"none", "c.pem", "", "", false},
		{"none", "", "k.pem", "", false},
		{"sasl", "", "", "ca.pem", false},
		{"mtls", "c.pem", "k.pem", "", false},
		{"mtls", "", "", "", false},
	} {
		cfg := broker.DefaultConfig()
		cfg.Auth, cfg.TLSCert, cfg.TLSKey, cfg.TLSClientCA = tc.auth, tc.cert, tc.key, tc.clientCA
		if err := cfg.Validate(); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc, err)
		}
	}
}

// TestPeerAndHTTPTLSStartupErrors: `strata server` refuses, before it
// binds or writes anything, peer TLS flags that do not come as three, peer
// TLS without a cluster or without an inter-broker listener, a lone HTTP
// TLS flag, and files that cannot be read or hold no usable PEM.
func TestPeerAndHTTPTLSStartupErrors(t *testing.T) {
	ca := brokertest.NewCA(t, "peer CA")
	node := ca.Issue(t, "node-1")
	other := ca.Issue(t, "node-2")
	ctrl := brokertest.FreeAddr(t)
	cluster := []string{"--node-id", "1", "--controllers", "1@" + ctrl, "--controller-listen", ctrl,
		"--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--internal-listen", "127.0.0.1:0"}
	peer := func(cert, key, caFile string) []string {
		return []string{"--peer-tls-cert", cert, "--peer-tls-key", key, "--peer-tls-ca", caFile}
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"cert alone", []string{"--peer-tls-cert", node.CertFile}, "missing: --peer-tls-key, --peer-tls-ca"},
		{"no CA", []string{"--peer-tls-cert", node.CertFile, "--peer-tls-key", node.KeyFile}, "missing: --peer-tls-ca"},
		{"CA alone", []string{"--peer-tls-ca", ca.File}, "missing: --peer-tls-cert, --peer-tls-key"},
		{"a single node", peer(node.CertFile, node.KeyFile, ca.File), "needs --controllers"},
		{"no inter-broker listener", append(cluster[:len(cluster)-2:len(cluster)-2], peer(node.CertFile, node.KeyFile, ca.File)...), "need --internal-listen"},
		{"unreadable cert", append(cluster, peer("/nonexistent/node.pem", node.KeyFile, ca.File)...), "--peer-tls-cert: open /nonexistent/node.pem"},
		{"unreadable key", append(cluster, peer(node.CertFile, "/nonexistent/key.pem", ca.File)...), "--peer-tls-key: open /nonexistent/key.pem"},
		{"unreadable CA", append(cluster, peer(node.CertFile, node.KeyFile, "/nonexistent/ca.pem")...), "--peer-tls-ca: open /nonexistent/ca.pem"},
		{"a CA file without a certificate", append(cluster, peer(node.CertFile, node.KeyFile, node.KeyFile)...), "no PEM certificate in " + node.KeyFile},
		{"a key of another certificate", append(cluster, peer(node.CertFile, other.KeyFile, ca.File)...), "private key does not match public key"},
		{"HTTP cert alone", []string{"--http-tls-cert", node.CertFile}, "--http-tls-cert and --http-tls-key go together"},
		{"unreadable HTTP key", []string{"--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--http-tls-cert", node.CertFile, "--http-tls-key", "/nonexistent/key.pem"}, "--http-tls-key: open /nonexistent/key.pem"},
	} {
		data := filepath.Join(t.TempDir(), "data")
		out, err := strata(t, append([]string{"server", "--data", data, "--log-level", "error"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q\n%s", tc.name, err, tc.want, out)
			continue
		}
		t.Logf("%s: %v", tc.name, err)
		if _, statErr := os.Stat(data); !os.IsNotExist(statErr) {
			t.Errorf("%s: the data directory was created before the error", tc.name)
		}
	}
}

func TestPeerAndHTTPTLSFromFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "strata.yaml")
	os.WriteFile(file, []byte(`
peer-tls-cert: /etc/strata/node.pem
peer-tls-key: /etc/strata/node-key.pem
peer-tls-ca: /etc/strata/peer-ca.pem
http-tls-cert: /etc/strata/http.pem
http-tls-key: /etc/strata/http-key.pem
`), 0o644)
	cmd := serverCommand()
	if err := cmd.Flags().Parse([]string{"--config", file, "--peer-tls-ca", "/flag/ca.pem"}); err != nil {
		t.Fatal(err)
	}
	cfg := broker.DefaultConfig()
	cfg.PeerTLSCA = "/flag/ca.pem"
	level := "info"
	if err := applyConfigFile(cmd, file, &cfg, &level, &quorumFlags{roles: "broker,controller"}); err != nil {
		t.Fatal(err)
	}
	if cfg.PeerTLSCert != "/etc/strata/node.pem" || cfg.PeerTLSKey != "/etc/strata/node-key.pem" || cfg.PeerTLSCA != "/flag/ca.pem" ||
		cfg.HTTPTLSCert != "/etc/strata/http.pem" || cfg.HTTPTLSKey != "/etc/strata/http-key.pem" {
		t.Errorf("merged TLS settings: %+v", cfg)
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-db/strata/internal/broker"
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

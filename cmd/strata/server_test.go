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

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-db/strata/internal/broker"
	"github.com/strata-db/strata/internal/broker/brokertest"
)

// strata runs the command line in-process and returns its output.
func strata(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := rootCommand()
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func mustStrata(t *testing.T, args ...string) string {
	t.Helper()
	out, err := strata(t, args...)
	if err != nil {
		t.Fatalf("strata %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// TestAdminCommands: tenant create/list/describe/rename/delete and key
// create/list/revoke against a node with --auth sasl; the client
// configuration works with kcat as it is.
func TestAdminCommands(t *testing.T) {
	b := brokertest.Start(t, brokertest.WithSASL)
	h := b.HTTPAddr()
	var tn struct{ ID, Name string }
	if err := json.Unmarshal([]byte(mustStrata(t, "admin", "--http", h, "tenant", "create", "shop", "--json")), &tn); err != nil || !strings.HasPrefix(tn.ID, "lc-") || tn.Name != "shop" {
		t.Fatalf("tenant create: %+v %v", tn, err)
	}
	if out := mustStrata(t, "admin", "--http", h, "tenant", "list"); !strings.Contains(out, tn.ID) || !strings.Contains(out, "lc-default") {
		t.Fatalf("tenant list:\n%s", out)
	}
	var key struct{ Key, Secret, Tenant string }
	if err := json.Unmarshal([]byte(mustStrata(t, "admin", "--http", h, "key", "create", "--tenant", tn.ID, "--json")), &key); err != nil || key.Key == "" || key.Secret == "" || key.Tenant != tn.ID {
		t.Fatalf("key create: %+v %v", key, err)
	}
	file := filepath.Join(t.TempDir(), "client.properties")
	props := mustStrata(t, "admin", "--http", h, "key", "create", "--tenant", tn.ID, "--client-config", file)
	written, _ := os.ReadFile(file)
	if string(written) != props || !strings.Contains(props, "bootstrap.servers="+b.KafkaAddr()+"\n") ||
		!strings.Contains(props, "security.protocol=SASL_PLAINTEXT\n") || !strings.Contains(props, "sasl.mechanisms=SCRAM-SHA-256\n") {
		t.Fatalf("client config:\n%s", props)
	}
	if out := mustStrata(t, "admin", "--http", h, "tenant", "describe", tn.ID); !strings.Contains(out, key.Key) || strings.Contains(out, key.Secret) {
		t.Fatalf("tenant describe (must list keys, never secrets):\n%s", out)
	}
	if out := mustStrata(t, "admin", "--http", h, "tenant", "rename", tn.ID, "store"); !strings.Contains(out, "store") {
		t.Fatalf("tenant rename: %s", out)
	}

	if kcat, err := exec.LookPath("kcat"); err == nil {
		produce := exec.Command(kcat, "-F", file, "-P", "-t", "kcat-topic")
		produce.Stdin = strings.NewReader("hello\n")
		if out, err := produce.CombinedOutput(); err != nil {
			t.Fatalf("kcat produce: %v\n%s", err, out)
		}
		out, err := exec.Command(kcat, "-F", file, "-C", "-t", "kcat-topic", "-e", "-o", "beginning").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "hello") {
			t.Fatalf("kcat consume: %v\n%s", err, out)
		}
	} else {
		t.Log("kcat not installed; client configuration not tried with it")
	}

	if out := mustStrata(t, "admin", "--http", h, "key", "list", "--tenant", tn.ID); strings.Count(out, "\n") != 2 {
		t.Fatalf("key list:\n%s", out)
	}
	mustStrata(t, "admin", "--http", h, "key", "revoke", key.Key)
	if out, err := strata(t, "admin", "--http", h, "key", "revoke", key.Key); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("revoke twice: %v %s", err, out)
	}
	mustStrata(t, "admin", "--http", h, "tenant", "delete", tn.ID)
	if _, err := strata(t, "admin", "--http", h, "tenant", "describe", tn.ID); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("describe deleted tenant: %v", err)
	}
	if _, err := strata(t, "admin", "--http", h, "key", "create"); err == nil {
		t.Fatal("key create without --tenant accepted")
	}
	if _, err := strata(t, "admin", "--http", "127.0.0.1:1", "tenant", "list"); err == nil {
		t.Fatal("unreachable admin API gave no error")
	}
}

// TestKcatTLS: kcat (librdkafka) over SASL_SSL with the configuration
// `key create --tls-ca` prints, and over SSL with a client certificate
// naming an API key under --auth mtls.
func TestKcatTLS(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed")
	}
	ca := brokertest.NewCA(t, "test CA")
	b := brokertest.Start(t, brokertest.WithSASL, brokertest.WithTLS(t, ca, nil))
	file := filepath.Join(t.TempDir(), "client.properties")
	props := mustStrata(t, "admin", "--http", b.HTTPAddr(), "key", "create", "--tenant", brokertest.CreateTenant(t, b, "shop"),
		"--tls-ca", ca.File, "--client-config", file)
	if !strings.Contains(props, "security.protocol=SASL_SSL\nssl.ca.location="+ca.File+"\n") {
		t.Fatalf("client config:\n%s", props)
	}
	kcatRoundTrip(t, kcat, file)

	clientCA := brokertest.NewCA(t, "client CA")
	m := brokertest.Start(t, brokertest.WithTLS(t, ca, clientCA), func(cfg *broker.Config) { cfg.Auth = broker.AuthMTLS })
	cert := clientCA.Issue(t, brokertest.CreateKey(t, m, brokertest.CreateTenant(t, m, "shop")).Key)
	file = filepath.Join(t.TempDir(), "mtls.properties")
	props = fmt.Sprintf("bootstrap.servers=%s\nsecurity.protocol=SSL\nssl.ca.location=%s\nssl.certificate.location=%s\nssl.key.location=%s\n",
		m.KafkaAddr(), ca.File, cert.CertFile, cert.KeyFile)
	if err := os.WriteFile(file, []byte(props), 0o600); err != nil {
		t.Fatal(err)
	}
	kcatRoundTrip(t, kcat, file)
}

// kcatRoundTrip produces a record with kcat and consumes it back.
func kcatRoundTrip(t *testing.T, kcat, file string) {
	t.Helper()
	produce := exec.Command(kcat, "-F", file, "-P", "-t", "kcat-topic")
	produce.Stdin = strings.NewReader("hello\n")
	if out, err := produce.CombinedOutput(); err != nil {
		t.Fatalf("kcat produce: %v\n%s", err, out)
	}
	out, err := exec.Command(kcat, "-F", file, "-C", "-t", "kcat-topic", "-e", "-o", "beginning").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "hello") {
		t.Fatalf("kcat consume: %v\n%s", err, out)
	}
}

package main

import (
	"bytes"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	m := brokertest.Start(t, brokertest.WithTLS(t, ca, clientCA), brokertest.WithMTLS)
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

// TestAdminQuotaCommands: quota set merges, --unset clears, describe shows
// the values and "unlimited", negatives and unknown tenants fail clearly.
func TestAdminQuotaCommands(t *testing.T) {
	b := brokertest.Start(t)
	h := b.HTTPAddr()
	tn := brokertest.CreateTenant(t, b, "q")
	mustStrata(t, "admin", "--http", h, "quota", "set", "--tenant", tn, "--produce-bytes-rate", "1000", "--fetch-bytes-rate", "2000",
		"--request-percentage", "50", "--connections", "3", "--connection-rate", "4", "--partitions", "5",
		"--partition-creation-rate", "6", "--storage-bytes", "7")
	mustStrata(t, "admin", "--http", h, "quota", "set", "--tenant", tn, "--connections", "30", "--unset", "storage-bytes")
	var q map[string]int64
	if err := json.Unmarshal([]byte(mustStrata(t, "admin", "--http", h, "quota", "describe", "--tenant", tn, "--json")), &q); err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"produceBytesRate": 1000, "fetchBytesRate": 2000, "requestPercentage": 50, "connections": 30,
		"connectionRate": 4, "partitions": 5, "partitionCreationRate": 6}
	if len(q) != len(want) {
		t.Fatalf("describe: %v, want %v", q, want)
	}
	for k, v := range want {
		if q[k] != v {
			t.Fatalf("describe: %v, want %v", q, want)
		}
	}
	if out := mustStrata(t, "admin", "--http", h, "quota", "describe", "--tenant", tn); !strings.Contains(out, "storage-bytes") ||
		!strings.Contains(out, "unlimited") || !strings.Contains(out, "30") {
		t.Fatalf("describe:\n%s", out)
	}
	for _, args := range [][]string{
		{"quota", "set", "--tenant", tn, "--fetch-bytes-rate", "-5"},
		{"quota", "set", "--tenant", tn, "--unset", "bogus"},
		{"quota", "set", "--tenant", tn},
		{"quota", "set", "--tenant", "lc-nope", "--connections", "1"},
		{"quota", "describe", "--tenant", "lc-nope"},
	} {
		if out, err := strata(t, append([]string{"admin", "--http", h}, args...)...); err == nil {
			t.Fatalf("%v accepted: %s", args, out)
		} else {
			t.Logf("%v: %v", args, err)
		}
	}
	if out := mustStrata(t, "admin", "--http", h, "tenant", "describe", tn); !strings.Contains(out, "quotas:") || !strings.Contains(out, "connections: 30") {
		t.Fatalf("tenant describe lacks the quotas:\n%s", out)
	}
	// The API itself refuses negatives with 400.
	if st := brokertest.AdminCall(t, h, "PUT", "/v1/tenants/"+tn+"/quotas", map[string]int64{"partitions": -1}, nil); st != 400 {
		t.Fatalf("negative over HTTP: %d", st)
	}
}

// TestQuotaWithKcat: librdkafka (kcat) producing 1,000,000 bytes under a
// 200,000 B/s produce quota set with the CLI takes about five seconds.
func TestQuotaWithKcat(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat not installed")
	}
	b := brokertest.Start(t, brokertest.WithSASL)
	h := b.HTTPAddr()
	tn := strings.Fields(mustStrata(t, "admin", "--http", h, "tenant", "create", "q"))[0]
	file := filepath.Join(t.TempDir(), "client.properties")
	mustStrata(t, "admin", "--http", h, "key", "create", "--tenant", tn, "--client-config", file)
	mustStrata(t, "admin", "--http", h, "quota", "set", "--tenant", tn, "--produce-bytes-rate", "200000")
	// 1,000 lines of 999 random base64 characters: incompressible enough,
	// and sent uncompressed anyway.
	raw := make([]byte, 750*1000)
	crand.Read(raw)
	enc := base64.StdEncoding.EncodeToString(raw)
	var in strings.Builder
	for i := 0; i+999 <= len(enc); i += 999 {
		in.WriteString(enc[i:i+999] + "\n")
	}
	cmd := exec.Command(kcat, "-F", file, "-P", "-t", "quota", "-X", "compression.codec=none", "-X", "batch.size=16384")
	cmd.Stdin = strings.NewReader(in.String())
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	took := time.Since(start)
	t.Logf("kcat produced %d bytes in %v under a 200,000 B/s quota", in.Len(), took)
	if want := time.Duration(float64(in.Len()) / 200000 * float64(time.Second)); took < want*9/10 || took > want*12/10+time.Second {
		t.Fatalf("took %v, want about %v", took, want)
	}
}

// TestAdminToken: with an operator token the admin API refuses requests
// without it (401, a clear error from the CLI) and serves the CLI that has
// it from STRATA_ADMIN_TOKEN or --token-file; monitoring stays open.
func TestAdminToken(t *testing.T) {
	b := brokertest.Start(t, func(c *broker.Config) { c.AdminToken = "op-secret" })
	h := b.HTTPAddr()
	if out, err := strata(t, "admin", "--http", h, "tenant", "list"); err == nil || !strings.Contains(err.Error()+out, "operator token") {
		t.Fatalf("no token: %v\n%s", err, out)
	}
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := strata(t, "admin", "--http", h, "--token-file", file, "tenant", "list"); err == nil {
		t.Fatal("a wrong token was accepted")
	}
	if err := os.WriteFile(file, []byte("op-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mustStrata(t, "admin", "--http", h, "--token-file", file, "tenant", "create", "t1")
	t.Setenv("STRATA_ADMIN_TOKEN", "op-secret")
	if out := mustStrata(t, "admin", "--http", h, "tenant", "list"); !strings.Contains(out, "t1") {
		t.Fatalf("tenant list:\n%s", out)
	}
	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := http.Get("http://" + h + path)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s with an admin token set: %v %v", path, err, resp)
		}
		resp.Body.Close()
	}
}

package brokertest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/strata-db/strata/internal/broker"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// WithSASL makes the Kafka listener require SASL (--auth sasl); mutate
// functions that follow may set more.
func WithSASL(cfg *broker.Config) { cfg.Auth = broker.AuthSASL }

// WithMTLS makes the Kafka listener take the API key from the client
// certificate's subject CN (--auth mtls); it needs WithTLS with a client
// CA.
func WithMTLS(cfg *broker.Config) { cfg.Auth = broker.AuthMTLS }

// Credential is an API key and its secret.
type Credential struct {
	Tenant, Key, Secret string
}

// AdminCall sends a JSON request to a node's admin API and decodes the
// answer into out (if not nil); it returns the HTTP status. A change
// (not GET) that succeeded has reached every node of a test cluster when
// it returns (SyncMetadata).
func AdminCall(t testing.TB, httpAddr, method, path string, body, out any) int {
	t.Helper()
	var rd bytes.Buffer
	if body != nil {
		json.NewEncoder(&rd).Encode(body)
	}
	req, err := http.NewRequest(method, "http://"+httpAddr+path, &rd)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("admin %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("admin %s %s: decode: %v", method, path, err)
		}
	}
	if method != http.MethodGet && resp.StatusCode/100 == 2 {
		SyncMetadata(t)
	}
	return resp.StatusCode
}

// CreateTenant creates a tenant through the admin API and returns its id.
func CreateTenant(t testing.TB, b *broker.Broker, name string) string {
	t.Helper()
	return CreateTenantAt(t, b.HTTPAddr(), name)
}

// CreateTenantAt is CreateTenant through the admin API at httpAddr (a node
// in another process).
func CreateTenantAt(t testing.TB, httpAddr, name string) string {
	t.Helper()
	var out struct {
		ID string `json:"id"`
	}
	if st := AdminCall(t, httpAddr, "POST", "/v1/tenants", map[string]string{"name": name}, &out); st != http.StatusCreated {
		t.Fatalf("create tenant %q: HTTP %d", name, st)
	}
	return out.ID
}

// CreateKey creates an admin API key of a tenant through the admin API.
func CreateKey(t testing.TB, b *broker.Broker, tenant string) Credential {
	t.Helper()
	return CreateKeyWithRole(t, b, tenant, "")
}

// CreateKeyWithRole creates an API key of a tenant with a role ("admin",
// "member"; empty for the default) through the admin API.
func CreateKeyWithRole(t testing.TB, b *broker.Broker, tenant, role string) Credential {
	t.Helper()
	return CreateKeyAt(t, b.HTTPAddr(), tenant, role)
}

// CreateKeyAt is CreateKeyWithRole through the admin API at httpAddr.
func CreateKeyAt(t testing.TB, httpAddr, tenant, role string) Credential {
	t.Helper()
	var out struct {
		Key    string `json:"key"`
		Secret string `json:"secret"`
	}
	var body any
	if role != "" {
		body = map[string]string{"role": role}
	}
	if st := AdminCall(t, httpAddr, "POST", "/v1/tenants/"+tenant+"/keys", body, &out); st != http.StatusCreated {
		t.Fatalf("create key of %s: HTTP %d", tenant, st)
	}
	return Credential{Tenant: tenant, Key: out.Key, Secret: out.Secret}
}

// Mechanism returns franz-go's SASL mechanism for a name.
func Mechanism(name string, c Credential) sasl.Mechanism {
	switch name {
	case "PLAIN":
		return plain.Auth{User: c.Key, Pass: c.Secret}.AsMechanism()
	case "SCRAM-SHA-256":
		return scram.Auth{User: c.Key, Pass: c.Secret}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		return scram.Auth{User: c.Key, Pass: c.Secret}.AsSha512Mechanism()
	}
	panic(fmt.Sprintf("brokertest: unknown mechanism %q", name))
}

// SASLClient returns a franz-go client that authenticates with c over
// SCRAM-SHA-256, closed when the test ends.
func SASLClient(t testing.TB, addr string, c Credential, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return Client(t, addr, append([]kgo.Opt{kgo.SASL(Mechanism("SCRAM-SHA-256", c))}, opts...)...)
}

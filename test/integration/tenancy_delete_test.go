package integration

import (
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-db/strata/internal/broker"
	"github.com/strata-db/strata/internal/broker/brokertest"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTenantDelete: deleting a tenant removes its topics and their logs on
// disk and its keys; the other tenant keeps everything; the admin API
// answers 404 for the deleted tenant.
func TestTenantDelete(t *testing.T) {
	var dataDir string
	b, credA, credB := twoTenants(t, func(c *broker.Config) { dataDir = c.DataDir })
	ctx := brokertest.Context(t, 60*time.Second)
	ids := map[string]string{}
	for _, cred := range []brokertest.Credential{credA, credB} {
		cl := brokertest.SASLClient(t, b.KafkaAddr(), cred, kgo.DefaultProduceTopic("orders"))
		brokertest.CreateTopic(t, kadm.NewClient(cl), "orders", 2, nil)
		if err := cl.ProduceSync(ctx, kgo.StringRecord("x")).FirstErr(); err != nil {
			t.Fatal(err)
		}
		td, err := kadm.NewClient(cl).ListTopics(ctx, "orders")
		if err != nil {
			t.Fatal(err)
		}
		id := td["orders"].ID
		ids[cred.Tenant] = base64.RawURLEncoding.EncodeToString(id[:]) // as the log directories name it
	}
	logDirs := func(tenant string) int {
		n := 0
		entries, _ := os.ReadDir(filepath.Join(dataDir, "logs"))
		for _, e := range entries {
			if strings.Contains(e.Name(), ids[tenant]) {
				n++
			}
		}
		return n
	}
	if logDirs(credA.Tenant) != 2 || logDirs(credB.Tenant) != 2 {
		t.Fatalf("log directories before: %d and %d (ids %v)", logDirs(credA.Tenant), logDirs(credB.Tenant), ids)
	}

	if st := brokertest.AdminCall(t, b.HTTPAddr(), "DELETE", "/v1/tenants/"+credA.Tenant, nil, nil); st != http.StatusNoContent {
		t.Fatalf("delete: HTTP %d", st)
	}
	for _, tc := range []struct{ method, path string }{
		{"GET", "/v1/tenants/" + credA.Tenant}, {"DELETE", "/v1/tenants/" + credA.Tenant},
		{"POST", "/v1/tenants/" + credA.Tenant + "/keys"}, {"DELETE", "/v1/keys/" + credA.Key},
	} {
		if st := brokertest.AdminCall(t, b.HTTPAddr(), tc.method, tc.path, nil, nil); st != http.StatusNotFound {
			t.Errorf("%s %s after delete: HTTP %d", tc.method, tc.path, st)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for logDirs(credA.Tenant) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d log directories of the deleted tenant remain", logDirs(credA.Tenant))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if logDirs(credB.Tenant) != 2 {
		t.Fatal("the other tenant's logs went too")
	}
	cl := brokertest.SASLClient(t, b.KafkaAddr(), credA, kgo.RequestRetries(0))
	if _, err := kadm.NewClient(cl).ListTopics(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("key of a deleted tenant: %v", err)
	}
	clB := brokertest.SASLClient(t, b.KafkaAddr(), credB)
	if td, err := kadm.NewClient(clB).ListTopics(ctx); err != nil || len(td) != 1 {
		t.Fatalf("other tenant's topics: %v %v", td, err)
	}
}

// TestAdminAPIErrors: bad bodies and names are 400, unknown ids 404, and
// the default tenant cannot be deleted.
func TestAdminAPIErrors(t *testing.T) {
	b := brokertest.Start(t)
	h := b.HTTPAddr()
	for _, tc := range []struct {
		method, path string
		body         any
		want         int
	}{
		{"POST", "/v1/tenants", map[string]string{"name": ""}, http.StatusBadRequest},
		{"POST", "/v1/tenants", map[string]string{"nom": "x"}, http.StatusBadRequest},
		{"POST", "/v1/tenants", map[string]string{"name": strings.Repeat("x", 201)}, http.StatusBadRequest},
		{"GET", "/v1/tenants/lc-nope", nil, http.StatusNotFound},
		{"PATCH", "/v1/tenants/lc-nope", map[string]string{"name": "x"}, http.StatusNotFound},
		{"DELETE", "/v1/tenants/lc-nope", nil, http.StatusNotFound},
		{"DELETE", "/v1/tenants/lc-default", nil, http.StatusBadRequest},
		{"POST", "/v1/tenants/lc-nope/keys", nil, http.StatusNotFound},
		{"GET", "/v1/tenants/lc-nope/keys", nil, http.StatusNotFound},
		{"DELETE", "/v1/keys/NOPE", nil, http.StatusNotFound},
	} {
		if st := brokertest.AdminCall(t, h, tc.method, tc.path, tc.body, nil); st != tc.want {
			t.Errorf("%s %s %v: HTTP %d, want %d", tc.method, tc.path, tc.body, st, tc.want)
		}
	}
	id := brokertest.CreateTenant(t, b, "before")
	var got struct{ Name string }
	if st := brokertest.AdminCall(t, h, "PATCH", "/v1/tenants/"+id, map[string]string{"name": "after"}, &got); st != http.StatusOK || got.Name != "after" {
		t.Fatalf("rename: HTTP %d, %+v", st, got)
	}
	for _, tc := range []struct {
		body any
		want int
	}{
		{map[string]string{"role": "root"}, http.StatusBadRequest},
		{map[string]string{"rol": "member"}, http.StatusBadRequest},
		{map[string]string{"role": "member"}, http.StatusCreated},
		{map[string]string{"role": "admin"}, http.StatusCreated},
	} {
		if st := brokertest.AdminCall(t, h, "POST", "/v1/tenants/"+id+"/keys", tc.body, nil); st != tc.want {
			t.Errorf("create key %v: HTTP %d, want %d", tc.body, st, tc.want)
		}
	}
	var keys struct{ Keys []struct{ Role string } }
	brokertest.AdminCall(t, h, "GET", "/v1/tenants/"+id+"/keys", nil, &keys)
	roles := map[string]int{}
	for _, k := range keys.Keys {
		roles[k.Role]++
	}
	if len(keys.Keys) != 2 || roles["member"] != 1 || roles["admin"] != 1 {
		t.Fatalf("keys: %+v", keys)
	}
}

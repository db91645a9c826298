package main

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/strata-db/strata/internal/broker"
	"github.com/strata-db/strata/internal/broker/brokertest"
)

// TestAdminHTTPS: with --http-tls-cert the HTTP listener speaks HTTPS
// only. The CLI reaches it as https://HOST:PORT, verifying it with --ca or
// $STRATA_ADMIN_CA; without the CA, verification fails; a plain HTTP
// request is answered 400 and nothing else.
func TestAdminHTTPS(t *testing.T) {
	ca := brokertest.NewCA(t, "HTTP CA")
	cert := ca.Issue(t, "strata-http")
	b := brokertest.Start(t, brokertest.WithSASL, func(c *broker.Config) { c.HTTPTLSCert, c.HTTPTLSKey = cert.CertFile, cert.KeyFile })
	url := "https://" + b.HTTPAddr()

	var tn struct{ ID, Name string }
	out := mustStrata(t, "admin", "--http", url, "--ca", ca.File, "tenant", "create", "secure-shop", "--json")
	if err := json.Unmarshal([]byte(out), &tn); err != nil || !strings.HasPrefix(tn.ID, "lc-") || tn.Name != "secure-shop" {
		t.Fatalf("tenant create over HTTPS: %+v %v\n%s", tn, err, out)
	}
	// key create asks /quorum for the bootstrap list, over HTTPS too.
	props := mustStrata(t, "admin", "--http", url+"/", "--ca", ca.File, "key", "create", "--tenant", tn.ID)
	if !strings.Contains(props, "bootstrap.servers="+b.KafkaAddr()+"\n") {
		t.Fatalf("key create over HTTPS:\n%s", props)
	}
	t.Setenv("STRATA_ADMIN_CA", ca.File)
	if out := mustStrata(t, "admin", "--http", url, "tenant", "list"); !strings.Contains(out, tn.ID) {
		t.Fatalf("tenant list with $STRATA_ADMIN_CA:\n%s", out)
	}
	// $STRATA_ADMIN_CA does not get in the way of a plain HTTP node.
	plain := brokertest.Start(t)
	mustStrata(t, "admin", "--http", plain.HTTPAddr(), "tenant", "list")
	mustStrata(t, "admin", "--http", "http://"+plain.HTTPAddr(), "tenant", "list")
	t.Setenv("STRATA_ADMIN_CA", "")

	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no CA", []string{"--http", url}, "certificate signed by unknown authority"},
		{"another CA", []string{"--http", url, "--ca", brokertest.NewCA(t, "other CA").File}, "certificate signed by unknown authority"},
		{"an unreadable CA", []string{"--http", url, "--ca", "/nonexistent/ca.pem"}, "--ca"},
		{"a CA file without a certificate", []string{"--http", url, "--ca", cert.KeyFile}, "no PEM certificate"},
		{"plain HTTP to the HTTPS node", []string{"--http", b.HTTPAddr()}, "HTTP 400"},
		{"--ca with plain HTTP", []string{"--http", plain.HTTPAddr(), "--ca", ca.File}, "--ca is for an https://"},
		{"another scheme", []string{"--http", "ftp://" + b.HTTPAddr()}, "neither HOST:PORT"},
	} {
		out, err := strata(t, append(append([]string{"admin"}, c.args...), "tenant", "list")...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q\n%s", c.name, err, c.want, out)
		}
	}

	// Plain HTTP gets net/http's refusal, never an answer of the API.
	resp, err := http.Get("http://" + b.HTTPAddr() + "/healthz")
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTPS") {
			t.Fatalf("plain HTTP /healthz: %d %q", resp.StatusCode, body)
		}
	}
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}}}
	for _, path := range []string{"/healthz", "/metrics"} {
		resp, err := https.Get(url + path)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s over HTTPS: %v %v", path, err, resp)
		}
		resp.Body.Close()
	}
	old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}}}
	if resp, err := old.Get(url + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("TLS 1.1 accepted")
	}
}

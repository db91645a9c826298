package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// adminClient calls the admin HTTP API of a node.
type adminClient struct {
	base  string
	token string // the operator token (STRATA_ADMIN_TOKEN or --token-file)
	http  *http.Client
}

// do sends a JSON request and decodes a JSON answer into out (if not nil).
// A non-2xx answer becomes an error with the server's message.
func (c *adminClient) do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(raw, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s (HTTP %d)", e.Error, resp.StatusCode)
		}
		return fmt.Errorf("admin API: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("admin API: bad answer: %w", err)
		}
	}
	return nil
}

// adminTenant and adminKey mirror the admin API's JSON.
type adminTenant struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	CreatedMs int64      `json:"createdMs,omitempty"`
	Topics    *int       `json:"topics,omitempty"`
	Keys      []adminKey `json:"keys,omitempty"`
	// Quotas by API name (admin_quota.go); only those set.
	Quotas map[string]int64 `json:"quotas,omitempty"`
}

type adminKey struct {
	Key       string `json:"key"`
	Secret    string `json:"secret,omitempty"`
	Tenant    string `json:"tenant"`
	Role      string `json:"role,omitempty"`
	CreatedMs int64  `json:"createdMs,omitempty"`
}

func adminCommand() *cobra.Command {
	var addr, tokenFile, caFile string
	c := &adminClient{http: &http.Client{Timeout: time.Minute}}
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Manage a Strata cluster through a node's admin HTTP API",
		PersistentPreRunE: func(cc *cobra.Command, _ []string) error {
			base, err := adminBase(addr)
			if err != nil {
				return err
			}
			c.base = base
			if !cc.Flags().Changed("ca") {
				caFile = os.Getenv("STRATA_ADMIN_CA")
			}
			switch {
			case strings.HasPrefix(base, "https://"):
				if c.http.Transport, err = adminTransport(caFile); err != nil {
					return err
				}
			case cc.Flags().Changed("ca"):
				return fmt.Errorf("admin: --ca is for an https:// --http address, not %s", addr)
			}
			c.token = os.Getenv("STRATA_ADMIN_TOKEN")
			if tokenFile != "" {
				t, err := readToken(tokenFile)
				if err != nil {
					return err
				}
				c.token = t
			}
			return nil
		},
	}
	cmd.PersistentFlags().StringVar(&addr, "http", "127.0.0.1:9644", "a node's HTTP address: HOST:PORT or http://HOST:PORT, or https://HOST:PORT for a node with --http-tls-cert")
	cmd.PersistentFlags().StringVar(&caFile, "ca", "", "PEM CA certificates to verify an https:// node with (default: $STRATA_ADMIN_CA, else the system's CAs)")
	cmd.PersistentFlags().StringVar(&tokenFile, "token-file", "", "file holding the operator token the node's --admin-token-file names (default: $STRATA_ADMIN_TOKEN)")
	cmd.AddCommand(tenantCommand(c), keyCommand(c, &addr), quotaCommand(c))
	return cmd
}

// adminBase is the URL prefix of the admin API at addr: HOST:PORT and
// http://HOST:PORT are plain HTTP, https://HOST:PORT is HTTPS.
func adminBase(addr string) (string, error) {
	base := addr
	if !strings.Contains(addr, "://") {
		base = "http://" + addr
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return "", fmt.Errorf("admin: --http %q is neither HOST:PORT, http://HOST:PORT nor https://HOST:PORT", addr)
	}
	return u.Scheme + "://" + u.Host, nil
}

// adminHostPort is the HOST:PORT of an --http address.
func adminHostPort(addr string) string {
	if _, rest, ok := strings.Cut(addr, "://"); ok {
		return strings.TrimSuffix(rest, "/")
	}
	return addr
}

// adminTransport is the HTTPS transport of the CLI: TLS 1.2 or later,
// the server verified against caFile's CAs, or the system's without one.
func adminTransport(caFile string) (*http.Transport, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("admin: --ca: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("admin: --ca: no PEM certificate in %s", caFile)
		}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = tc
	return t, nil
}

// printJSON writes v indented.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func tenantCommand(c *adminClient) *cobra.Command {
	cmd := &cobra.Command{Use: "tenant", Short: "Create, list, describe, rename and delete tenants (logical clusters)"}
	var asJSON bool
	jsonFlag := func(cc *cobra.Command) *cobra.Command {
		cc.Flags().BoolVar(&asJSON, "json", false, "print JSON")
		return cc
	}
	printTenant := func(cc *cobra.Command, t adminTenant) error {
		if asJSON {
			return printJSON(cc.OutOrStdout(), t)
		}
		fmt.Fprintf(cc.OutOrStdout(), "%s\t%s\n", t.ID, t.Name)
		return nil
	}
	cmd.AddCommand(jsonFlag(&cobra.Command{
		Use: "create NAME", Short: "Create a tenant; prints its id", Args: cobra.ExactArgs(1),
		RunE: func(cc *cobra.Command, args []string) error {
			var t adminTenant
			if err := c.do("POST", "/v1/tenants", map[string]string{"name": args[0]}, &t); err != nil {
				return err
			}
			return printTenant(cc, t)
		},
	}))
	cmd.AddCommand(jsonFlag(&cobra.Command{
		Use: "list", Short: "List tenants", Args: cobra.NoArgs,
		RunE: func(cc *cobra.Command, _ []string) error {
			var out struct {
				Tenants []adminTenant `json:"tenants"`
			}
			if err := c.do("GET", "/v1/tenants", nil, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cc.OutOrStdout(), out)
			}
			tw := tabwriter.NewWriter(cc.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME")
			for _, t := range out.Tenants {
				fmt.Fprintf(tw, "%s\t%s\n", t.ID, t.Name)
			}
			return tw.Flush()
		},
	}))
	cmd.AddCommand(jsonFlag(&cobra.Command{
		Use: "describe ID", Short: "Describe a tenant and its API keys", Args: cobra.ExactArgs(1),
		RunE: func(cc *cobra.Command, args []string) error {
			var t adminTenant
			if err := c.do("GET", "/v1/tenants/"+url.PathEscape(args[0]), nil, &t); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cc.OutOrStdout(), t)
			}
			w := cc.OutOrStdout()
			fmt.Fprintf(w, "id:      %s\nname:    %s\n", t.ID, t.Name)
			if t.Topics != nil {
				fmt.Fprintf(w, "topics:  %d\n", *t.Topics)
			}
			fmt.Fprintf(w, "keys:    %d\n", len(t.Keys))
			for _, k := range t.Keys {
				fmt.Fprintf(w, "  %s\n", k.Key)
			}
			if len(t.Quotas) > 0 {
				fmt.Fprintln(w, "quotas:")
				for _, f := range quotaFlags {
					if v, ok := t.Quotas[f.api]; ok {
						fmt.Fprintf(w, "  %s: %d\n", f.flag, v)
					}
				}
			}
			return nil
		},
	}))
	cmd.AddCommand(jsonFlag(&cobra.Command{
		Use: "rename ID NAME", Short: "Change a tenant's display name", Args: cobra.ExactArgs(2),
		RunE: func(cc *cobra.Command, args []string) error {
			var t adminTenant
			if err := c.do("PATCH", "/v1/tenants/"+url.PathEscape(args[0]), map[string]string{"name": args[1]}, &t); err != nil {
				return err
			}
			return printTenant(cc, t)
		},
	}))
	cmd.AddCommand(jsonFlag(&cobra.Command{
		Use: "usage ID", Short: "What a tenant used on the node asked (bytes, requests, throttling, storage, partitions): a bill sums the nodes", Args: cobra.ExactArgs(1),
		RunE: func(cc *cobra.Command, args []string) error {
			var u map[string]any
			if err := c.do("GET", "/v1/tenants/"+url.PathEscape(args[0])+"/usage", nil, &u); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cc.OutOrStdout(), u)
			}
			tw := tabwriter.NewWriter(cc.OutOrStdout(), 0, 4, 2, ' ', 0)
			for _, k := range []string{"tenant", "produceBytes", "fetchBytes", "requests", "requestSeconds", "throttleSeconds",
				"connections", "refusedConnections", "storedBytes", "partitionReplicas", "partitions"} {
				fmt.Fprintf(tw, "%s:\t%v\n", k, u[k])
			}
			return tw.Flush()
		},
	}))
	cmd.AddCommand(&cobra.Command{
		Use: "delete ID", Short: "Delete a tenant with its topics, their data, and its keys", Args: cobra.ExactArgs(1),
		RunE: func(cc *cobra.Command, args []string) error {
			if err := c.do("DELETE", "/v1/tenants/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cc.OutOrStdout(), "deleted tenant %s\n", args[0])
			return nil
		},
	})
	return cmd
}

func keyCommand(c *adminClient, httpAddr *string) *cobra.Command {
	cmd := &cobra.Command{Use: "key", Short: "Create, list and revoke API keys (SASL PLAIN and SCRAM credentials)"}
	var tenantID, bootstrap, configFile, role, tlsCA string
	var asJSON bool
	create := &cobra.Command{
		Use:   "create --tenant ID",
		Short: "Create an API key; prints a client configuration (or, with --json, the key and secret). The secret is shown only once.",
		Args:  cobra.NoArgs,
		RunE: func(cc *cobra.Command, _ []string) error {
			var k adminKey
			if err := c.do("POST", "/v1/tenants/"+url.PathEscape(tenantID)+"/keys", map[string]string{"role": role}, &k); err != nil {
				return err
			}
			if bootstrap == "" {
				bootstrap = c.bootstrap(*httpAddr)
			}
			props := clientConfig(bootstrap, tlsCA, k)
			if configFile != "" {
				if err := os.WriteFile(configFile, []byte(props), 0o600); err != nil {
					return err
				}
			}
			if asJSON {
				return printJSON(cc.OutOrStdout(), k)
			}
			_, err := io.WriteString(cc.OutOrStdout(), props)
			return err
		},
	}
	create.Flags().StringVar(&tenantID, "tenant", "", "the tenant's id")
	create.MarkFlagRequired("tenant")
	create.Flags().BoolVar(&asJSON, "json", false, "print the key as JSON instead of a client configuration")
	create.Flags().StringVar(&role, "role", "admin", "admin (may do everything in the tenant) or member (may do what the tenant's ACLs allow)")
	create.Flags().StringVar(&configFile, "client-config", "", "also write the client configuration (librdkafka properties, for kcat -F) to this file")
	create.Flags().StringVar(&bootstrap, "bootstrap", "", "bootstrap.servers for the client configuration (default: the cluster's brokers)")
	create.Flags().StringVar(&tlsCA, "tls-ca", "", "for a listener with TLS: the CA file that signed its certificate (the client configuration then uses SASL_SSL)")
	list := &cobra.Command{
		Use: "list --tenant ID", Short: "List a tenant's API keys", Args: cobra.NoArgs,
		RunE: func(cc *cobra.Command, _ []string) error {
			var out struct {
				Keys []adminKey `json:"keys"`
			}
			if err := c.do("GET", "/v1/tenants/"+url.PathEscape(tenantID)+"/keys", nil, &out); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cc.OutOrStdout(), out)
			}
			for _, k := range out.Keys {
				fmt.Fprintln(cc.OutOrStdout(), k.Key)
			}
			return nil
		},
	}
	list.Flags().StringVar(&tenantID, "tenant", "", "the tenant's id")
	list.MarkFlagRequired("tenant")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	revoke := &cobra.Command{
		Use: "revoke KEY", Short: "Revoke an API key; its live sessions are closed at once", Args: cobra.ExactArgs(1),
		RunE: func(cc *cobra.Command, args []string) error {
			if err := c.do("DELETE", "/v1/keys/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cc.OutOrStdout(), "revoked key %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

// clientConfig is a librdkafka properties file for an API key, which kcat
// reads with -F; with tlsCA (a CA file) for a listener with TLS.
func clientConfig(bootstrap, tlsCA string, k adminKey) string {
	security := "security.protocol=SASL_PLAINTEXT\n"
	if tlsCA != "" {
		security = "security.protocol=SASL_SSL\nssl.ca.location=" + tlsCA + "\n"
	}
	return fmt.Sprintf(`# Strata API key %s of tenant %s. The secret is shown only once.
bootstrap.servers=%s
%ssasl.mechanisms=SCRAM-SHA-256
sasl.username=%s
sasl.password=%s
`, k.Key, k.Tenant, bootstrap, security, k.Key, k.Secret)
}

// bootstrap returns the Kafka addresses of the cluster's live brokers as
// the node's /quorum reports them, or the HTTP host with port 9092 if that
// fails.
func (c *adminClient) bootstrap(httpAddr string) string {
	var q struct {
		Brokers []struct {
			Addr   string `json:"addr"`
			Fenced bool   `json:"fenced"`
		} `json:"brokers"`
	}
	if err := c.do("GET", "/quorum", nil, &q); err == nil {
		var addrs []string
		for _, b := range q.Brokers {
			if !b.Fenced {
				addrs = append(addrs, b.Addr)
			}
		}
		if len(addrs) > 0 {
			return strings.Join(addrs, ",")
		}
	}
	host, _, err := net.SplitHostPort(adminHostPort(httpAddr))
	if err != nil {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(9092))
}

// readToken reads an operator token: the file's content, surrounding
// whitespace removed.
func readToken(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("admin token: %w", err)
	}
	t := strings.TrimSpace(string(raw))
	if t == "" {
		return "", fmt.Errorf("admin token: %s is empty", path)
	}
	return t, nil
}

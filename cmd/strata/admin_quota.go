package main

import (
	"fmt"
	"net/url"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// quotaFlags maps each `strata admin quota set` flag to its admin API
// name. Outside tooling relies on these flag names.
var quotaFlags = []struct{ flag, api, usage string }{
	{"produce-bytes-rate", "produceBytesRate", "bytes/s of record batches produced, per broker"},
	{"fetch-bytes-rate", "fetchBytesRate", "bytes/s of record batches fetched, per broker"},
	{"request-percentage", "requestPercentage", "percent of one request handler's time, per broker"},
	{"connections", "connections", "open connections, per broker"},
	{"connection-rate", "connectionRate", "new connections per second, per broker"},
	{"partitions", "partitions", "partitions of all the tenant's topics"},
	{"partition-creation-rate", "partitionCreationRate", "partitions created or deleted per second"},
	{"storage-bytes", "storageBytes", "bytes of the tenant's partition logs"},
}

func quotaCommand(c *adminClient) *cobra.Command {
	cmd := &cobra.Command{Use: "quota", Short: "Set and describe tenant quotas"}
	var tenantID string
	var asJSON bool
	values := make([]int64, len(quotaFlags))
	var unset []string
	set := &cobra.Command{
		Use:   "set --tenant ID [--produce-bytes-rate N] [--fetch-bytes-rate N] ... [--unset NAME]",
		Short: "Change a tenant's quotas: those given are set, those named by --unset become unlimited, the others stay",
		Args:  cobra.NoArgs,
		RunE: func(cc *cobra.Command, _ []string) error {
			body := map[string]any{}
			for i, f := range quotaFlags {
				if !cc.Flags().Changed(f.flag) {
					continue
				}
				if values[i] < 0 {
					return fmt.Errorf("--%s %d: quotas must not be negative (use --unset %s for unlimited)", f.flag, values[i], f.flag)
				}
				body[f.api] = values[i]
			}
			var names []string
			for _, u := range unset {
				api := ""
				for _, f := range quotaFlags {
					if f.flag == u || f.api == u {
						api = f.api
					}
				}
				if api == "" {
					return fmt.Errorf("--unset %s: no such quota", u)
				}
				names = append(names, api)
			}
			if len(body) == 0 && len(names) == 0 {
				return fmt.Errorf("no quota given")
			}
			if len(names) > 0 {
				body["unset"] = names
			}
			var out map[string]int64
			if err := c.do("PATCH", "/v1/tenants/"+url.PathEscape(tenantID)+"/quotas", body, &out); err != nil {
				return err
			}
			return printQuotas(cc, out, asJSON)
		},
	}
	for i, f := range quotaFlags {
		set.Flags().Int64Var(&values[i], f.flag, 0, f.usage)
	}
	set.Flags().StringSliceVar(&unset, "unset", nil, "quotas to make unlimited, by flag name (repeatable)")
	describe := &cobra.Command{
		Use: "describe --tenant ID", Short: "Show a tenant's quotas", Args: cobra.NoArgs,
		RunE: func(cc *cobra.Command, _ []string) error {
			var out map[string]int64
			if err := c.do("GET", "/v1/tenants/"+url.PathEscape(tenantID)+"/quotas", nil, &out); err != nil {
				return err
			}
			return printQuotas(cc, out, asJSON)
		},
	}
	for _, sub := range []*cobra.Command{set, describe} {
		sub.Flags().StringVar(&tenantID, "tenant", "", "the tenant's id")
		sub.MarkFlagRequired("tenant")
		sub.Flags().BoolVar(&asJSON, "json", false, "print JSON (unlimited quotas are absent)")
	}
	cmd.AddCommand(set, describe)
	return cmd
}

func printQuotas(cc *cobra.Command, q map[string]int64, asJSON bool) error {
	if asJSON {
		return printJSON(cc.OutOrStdout(), q)
	}
	tw := tabwriter.NewWriter(cc.OutOrStdout(), 0, 4, 2, ' ', 0)
	for _, f := range quotaFlags {
		v, ok := q[f.api]
		if ok {
			fmt.Fprintf(tw, "%s\t%d\n", f.flag, v)
		} else {
			fmt.Fprintf(tw, "%s\tunlimited\n", f.flag)
		}
	}
	return tw.Flush()
}

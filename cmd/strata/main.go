// Command strata runs a Strata node and its tools.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := rootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "strata:", err)
		os.Exit(1)
	}
}

func rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "strata",
		Short:         "Strata: a multi-tenant engine for the Kafka protocol",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(serverCommand())
	root.AddCommand(benchCommand())
	root.AddCommand(devCommand())
	root.AddCommand(adminCommand())
	return root
}

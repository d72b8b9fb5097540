package main

import (
	"fmt"
	"os"

	"github.com/hako-dev/hako/internal/runtimecli"
	"github.com/spf13/cobra"
)

// cliMain is the docker-like command line.
func cliMain(args []string) int {
	root := &cobra.Command{
		Use:           "hako",
		Short:         "hako (箱) is a container engine: docker's model in one small, fast binary",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("hako version {{.Version}}\n")
	root.AddCommand(&cobra.Command{
		Use:                "runtime VERB [ARG...]",
		Short:              "the runc-compatible OCI runtime (create, start, run, exec, kill, delete, ...)",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			os.Exit(runtimecli.Main("hako runtime", args))
			return nil
		},
	})
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, args []string) {
			fmt.Printf("hako version %s\n", version)
		},
	})
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "hako: %v\n", err)
		return 125
	}
	return 0
}

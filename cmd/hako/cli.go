//go:build !runtime_only

package main

import (
	"os"

	"github.com/hako-dev/hako/internal/cli"
	"github.com/hako-dev/hako/internal/runtimecli"
	"github.com/spf13/cobra"
)

// cliMain is the docker-like command line, plus the faces main wires in:
// the OCI runtime and the daemon.
func cliMain(args []string) int {
	cli.Version = version
	runtimeCmd := &cobra.Command{
		Use:                "runtime VERB [ARG...]",
		Short:              "the runc-compatible OCI runtime (create, start, run, exec, kill, delete, ...)",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			os.Exit(runtimecli.Main("hako runtime", args))
			return nil
		},
	}
	return cli.Main(args, runtimeCmd, newDaemonCommand(), newMonitorCommand())
}

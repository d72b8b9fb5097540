//go:build !runtime_only

package main

import (
	"log/slog"
	"os"

	"github.com/hako-dev/hako/internal/daemon/monitor"
	"github.com/spf13/cobra"
)

// newMonitorCommand is "hako monitor", the container monitor the daemon
// starts (hidden: it is not for people to run).
func newMonitorCommand() *cobra.Command {
	var dir, runtimeRoot string
	cmd := &cobra.Command{
		Use:    "monitor",
		Short:  "supervise the daemon's containers (started by the daemon)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			return monitor.Serve(dir, runtimeRoot, log)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "the monitor's directory (RUNROOT/monitor)")
	cmd.Flags().StringVar(&runtimeRoot, "runtime-root", "", "the OCI runtime's state directory")
	cmd.MarkFlagRequired("dir")
	cmd.MarkFlagRequired("runtime-root")
	return cmd
}

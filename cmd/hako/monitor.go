//go:build !runtime_only

package main

import (
	"log/slog"
	"os"
	goruntime "runtime"

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
			keepMainThread()
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

// keepMainThread locks the main goroutine of a long-running face (the
// daemon, the monitor) to the main thread, so that no other goroutine
// ever runs there. Goroutines that lock a thread to enter a container's
// namespaces (exec, network set-up, a pod's network namespace) end
// locked, and their thread is destroyed with them; the main thread is
// not destroyed but kept, wedged, in those namespaces for the life of the
// process, pinning a container's network namespace and making
// /proc/self/ns lie about the process's own.
func keepMainThread() { goruntime.LockOSThread() }

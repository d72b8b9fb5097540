package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"
)

func newInfo(c *CLI) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "info",
		Short: "show system-wide information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			info, err := cl.Info(ctx)
			if err != nil {
				return err
			}
			switch {
			case format == "json" || format == "{{json .}}":
				enc := json.NewEncoder(c.Out)
				return enc.Encode(info)
			case format != "":
				t, err := parseFormat(format)
				if err != nil {
					return err
				}
				if err := t.Execute(c.Out, info); err != nil {
					return err
				}
				fmt.Fprintln(c.Out)
				return nil
			}
			o := c.Out
			fmt.Fprintf(o, "Server:\n")
			fmt.Fprintf(o, " Containers: %d\n  Running: %d\n  Paused: %d\n  Stopped: %d\n", info.Containers, info.ContainersRunning, info.ContainersPaused, info.ContainersStopped)
			fmt.Fprintf(o, " Images: %d\n", info.Images)
			fmt.Fprintf(o, " Server Version: %s\n", info.ServerVersion)
			fmt.Fprintf(o, " Storage Driver: %s\n", info.Driver)
			for _, kv := range info.DriverStatus {
				fmt.Fprintf(o, "  %s: %s\n", kv[0], kv[1])
			}
			fmt.Fprintf(o, " Logging Driver: %s\n", info.LoggingDriver)
			fmt.Fprintf(o, " Cgroup Driver: %s\n Cgroup Version: %s\n", info.CgroupDriver, info.CgroupVersion)
			fmt.Fprintf(o, " Default Runtime: %s\n", info.DefaultRuntime)
			fmt.Fprintf(o, " Live Restore Enabled: %v\n", info.LiveRestoreEnabled)
			fmt.Fprintf(o, " Security Options: %s\n", strings.Join(info.SecurityOptions, ", "))
			fmt.Fprintf(o, " Kernel Version: %s\n Operating System: %s\n OSType: %s\n Architecture: %s\n", info.KernelVersion, info.OperatingSystem, info.OSType, info.Architecture)
			fmt.Fprintf(o, " CPUs: %d\n Total Memory: %s\n", info.NCPU, units.BytesSize(float64(info.MemTotal)))
			fmt.Fprintf(o, " Name: %s\n ID: %s\n Hako Root Dir: %s\n", info.Name, info.ID, info.DockerRootDir)
			for _, w := range info.Warnings {
				fmt.Fprintf(c.Err, "WARNING: %s\n", w)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format the output with a Go template, or 'json'")
	return cmd
}

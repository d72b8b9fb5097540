package cli

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func newUpdate(c *CLI) *cobra.Command {
	var u container.UpdateConfig
	var pidsLimit int64
	var restart string
	cmd := &cobra.Command{
		Use:   "update [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "update the resources and restart policy of one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			changed := false
			cmd.LocalNonPersistentFlags().VisitAll(func(f *pflag.Flag) { changed = changed || f.Changed })
			if !changed {
				return &StatusError{Status: 1, Err: errors.New("you must provide one or more flags when using this command")}
			}
			if cmd.Flags().Changed("pids-limit") {
				u.PidsLimit = &pidsLimit
			}
			if cmd.Flags().Changed("restart") {
				p, err := parseRestartPolicy(restart)
				if err != nil {
					return &StatusError{Status: 1, Err: fmt.Errorf("--restart: %w", err)}
				}
				u.RestartPolicy = p
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			var mu sync.Mutex
			var warnings []string
			err = eachName(ctx, c, args, func(ctx context.Context, name string) error {
				r, err := cl.ContainerUpdate(ctx, name, u)
				mu.Lock()
				warnings = append(warnings, r.Warnings...)
				mu.Unlock()
				return err
			}, nil)
			for _, w := range warnings {
				fmt.Fprintln(c.Err, w)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.Int64VarP(&u.CPUShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	f.Var(&cpusValue{p: &u.NanoCPUs}, "cpus", "number of CPUs")
	f.Int64Var(&u.CPUPeriod, "cpu-period", 0, "limit CPU CFS (Completely Fair Scheduler) period")
	f.Int64Var(&u.CPUQuota, "cpu-quota", 0, "limit CPU CFS (Completely Fair Scheduler) quota")
	f.StringVar(&u.CpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	f.StringVar(&u.CpusetMems, "cpuset-mems", "", "memory nodes in which to allow execution (0-3, 0,1)")
	f.VarP(&bytesValue{p: &u.Memory}, "memory", "m", "memory limit")
	f.Var(&bytesValue{p: &u.MemorySwap, minusOne: true}, "memory-swap", "swap limit equal to memory plus swap: -1 for unlimited swap")
	f.Var(&bytesValue{p: &u.MemoryReservation}, "memory-reservation", "memory soft limit")
	f.Int64Var(&pidsLimit, "pids-limit", 0, "tune the container's pids limit (-1 for unlimited)")
	f.Uint16Var(&u.BlkioWeight, "blkio-weight", 0, "block IO (relative weight), between 10 and 1000, or 0 to disable")
	f.StringVar(&restart, "restart", "", "restart policy to apply when a container exits (no, always, unless-stopped, on-failure[:N])")
	return cmd
}

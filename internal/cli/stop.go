package cli

import (
	"context"

	"github.com/spf13/cobra"
)

func newStop(c *CLI) *cobra.Command {
	return newStopLike(c, "stop", "stop one or more running containers", func(ctx context.Context, c *CLI, name string, timeout *int, signal string) error {
		cl, err := c.client(ctx)
		if err != nil {
			return err
		}
		return cl.ContainerStop(ctx, name, timeout, signal)
	})
}

func newRestart(c *CLI) *cobra.Command {
	return newStopLike(c, "restart", "restart one or more containers", func(ctx context.Context, c *CLI, name string, timeout *int, signal string) error {
		cl, err := c.client(ctx)
		if err != nil {
			return err
		}
		return cl.ContainerRestart(ctx, name, timeout, signal)
	})
}

// newStopLike is stop and restart: the same flags (-t/--timeout, its old
// name --time, -s/--signal) and output (each name).
func newStopLike(c *CLI, verb, short string, op func(ctx context.Context, c *CLI, name string, timeout *int, signal string) error) *cobra.Command {
	var t int
	var signal string
	cmd := &cobra.Command{
		Use:   verb + " [OPTIONS] CONTAINER [CONTAINER...]",
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			var timeout *int
			if cmd.Flags().Changed("timeout") || cmd.Flags().Changed("time") {
				timeout = &t
			}
			if _, err := c.client(ctx); err != nil {
				return err
			}
			return eachName(ctx, c, args, func(ctx context.Context, name string) error {
				return op(ctx, c, name, timeout, signal)
			}, nil)
		},
	}
	f := cmd.Flags()
	f.IntVarP(&t, "timeout", "t", 0, "seconds to wait before killing the container (default: the container's stop timeout, 10)")
	f.IntVar(&t, "time", 0, "seconds to wait before killing the container")
	f.MarkDeprecated("time", "use --timeout instead")
	f.StringVarP(&signal, "signal", "s", "", "signal to send to the container (default: its stop signal, SIGTERM)")
	return cmd
}

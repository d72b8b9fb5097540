package cli

import (
	"context"

	"github.com/spf13/cobra"
)

func newKill(c *CLI) *cobra.Command {
	var signal string
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "kill one or more running containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			return eachName(ctx, c, args, func(ctx context.Context, name string) error {
				return cl.ContainerKill(ctx, name, signal)
			}, nil)
		},
	}
	cmd.Flags().StringVarP(&signal, "signal", "s", "", "signal to send to the container (default SIGKILL)")
	return cmd
}

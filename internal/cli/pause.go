package cli

import "github.com/spf13/cobra"

func newPause(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "pause CONTAINER [CONTAINER...]",
		Short: "pause all processes within one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			return eachName(ctx, c, args, cl.ContainerPause, nil)
		},
	}
}

func newUnpause(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "unpause CONTAINER [CONTAINER...]",
		Short: "unpause all processes within one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			return eachName(ctx, c, args, cl.ContainerUnpause, nil)
		},
	}
}

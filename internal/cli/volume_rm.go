package cli

import (
	"context"

	"github.com/spf13/cobra"
)

func newVolumeRm(c *CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "remove one or more volumes (not those containers use)",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			return eachName(ctx, c, args, func(ctx context.Context, name string) error {
				return cl.VolumeRemove(ctx, name, force)
			}, nil)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "no error for volumes that do not exist")
	return cmd
}

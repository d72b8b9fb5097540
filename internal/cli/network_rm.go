package cli

import (
	"errors"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/spf13/cobra"
)

func newNetworkRm(c *CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "remove one or more networks",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			return eachName(ctx, c, args, cl.NetworkRemove, func(err error) bool {
				return force && errors.Is(err, errdefs.ErrNotFound)
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not error if the network does not exist")
	return cmd
}

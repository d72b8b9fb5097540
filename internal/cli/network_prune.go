package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newNetworkPrune(c *CLI) *cobra.Command {
	var force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "remove all unused networks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			fl, err := parseFilterFlags(filters)
			if err != nil {
				return err
			}
			if !force {
				if !confirm(cmd, c, "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ") {
					return nil
				}
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			rep, err := cl.NetworksPrune(ctx, fl)
			if err != nil {
				return daemonError(c, err)
			}
			if len(rep.NetworksDeleted) > 0 {
				fmt.Fprintln(c.Out, "Deleted Networks:")
				for _, n := range rep.NetworksDeleted {
					fmt.Fprintln(c.Out, n)
				}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	f.StringArrayVar(&filters, "filter", nil, `filter values (e.g. "until=24h", "label=KEY=VALUE")`)
	return cmd
}

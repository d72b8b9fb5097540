package cli

import (
	"github.com/moby/moby/api/types/network"
	"github.com/spf13/cobra"
)

func newNetworkDisconnect(c *CLI) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "disconnect [OPTIONS] NETWORK CONTAINER",
		Short: "disconnect a container from a network",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			if err := cl.NetworkDisconnect(ctx, args[0], network.DisconnectRequest{Container: args[1], Force: force}); err != nil {
				return daemonError(c, err)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "force the container to disconnect from a network")
	return cmd
}

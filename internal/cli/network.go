package cli

import "github.com/spf13/cobra"

// newNetwork is `hako network VERB`, docker's network management
// command; each verb is in its own network_VERB.go.
func newNetwork(c *CLI) *cobra.Command {
	cmd := &cobra.Command{Use: "network", Short: "manage networks", Args: cobra.NoArgs}
	cmd.AddCommand(newNetworkCreate(c), newNetworkLs(c), newNetworkInspect(c), newNetworkRm(c), newNetworkConnect(c), newNetworkDisconnect(c), newNetworkPrune(c))
	return cmd
}

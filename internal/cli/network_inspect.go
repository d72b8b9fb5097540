package cli

import (
	"context"
	"encoding/json"

	"github.com/hako-dev/hako/internal/client"
	"github.com/spf13/cobra"
)

func newNetworkInspect(c *CLI) *cobra.Command {
	var format string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "show networks' details as JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return inspectEach(cmd, c, format, args, func(ctx context.Context, cl *client.Client, name string) (any, json.RawMessage, error) {
				return cl.NetworkInspect(ctx, name)
			})
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format the output: json, or a Go template ({{.IPAM.Config}}, {{json .Containers}}, ...)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "verbose output for diagnostics (no more than without)")
	return cmd
}

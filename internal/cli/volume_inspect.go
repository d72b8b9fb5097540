package cli

import (
	"context"
	"encoding/json"

	"github.com/hako-dev/hako/internal/client"
	"github.com/spf13/cobra"
)

func newVolumeInspect(c *CLI) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] VOLUME [VOLUME...]",
		Short: "show volumes' details as JSON",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return inspectEach(cmd, c, format, args, func(ctx context.Context, cl *client.Client, name string) (any, json.RawMessage, error) {
				return cl.VolumeInspect(ctx, name)
			})
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format the output: json, or a Go template ({{.Mountpoint}}, {{json .Labels}}, ...)")
	return cmd
}

package cli

import (
	"errors"
	"fmt"

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
			ctx := ctxOf(cmd)
			ins, err := newInspector(format)
			if err != nil {
				return &StatusError{Status: 64, Err: err}
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			failed := false
			for _, name := range args {
				n, raw, err := cl.NetworkInspect(ctx, name)
				if err == nil {
					err = ins.add(n, raw)
				}
				if err != nil {
					failed = true
					var ae *client.Error
					if errors.As(err, &ae) {
						fmt.Fprintf(c.Err, "Error response from daemon: %s\n", ae.Msg)
					} else {
						fmt.Fprintf(c.Err, "Error: %v\n", err)
					}
				}
			}
			if err := ins.flush(c.Out); err != nil {
				return err
			}
			if failed {
				return &StatusError{Status: 1}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format the output: json, or a Go template ({{.IPAM.Config}}, {{json .Containers}}, ...)")
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "verbose output for diagnostics (no more than without)")
	return cmd
}

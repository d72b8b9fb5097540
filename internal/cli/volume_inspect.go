package cli

import (
	"errors"
	"fmt"

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
				v, raw, err := cl.VolumeInspect(ctx, name)
				if err == nil {
					err = ins.add(v, raw)
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
	cmd.Flags().StringVarP(&format, "format", "f", "", "format the output: json, or a Go template ({{.Mountpoint}}, {{json .Labels}}, ...)")
	return cmd
}

package cli

import (
	"errors"
	"fmt"

	"github.com/moby/moby/api/types/volume"
	"github.com/spf13/cobra"
)

func newVolumeCreate(c *CLI) *cobra.Command {
	var driver, name string
	var labels, opts []string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "create a volume",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			if len(args) == 1 {
				if name != "" {
					return &StatusError{Status: 1, Err: errors.New("conflicting options: cannot specify a volume-name through both --name and as a positional arg")}
				}
				name = args[0]
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			req := volume.CreateRequest{Name: name, Driver: driver}
			if len(labels) > 0 {
				req.Labels = kvMap(labels)
			}
			if len(opts) > 0 {
				req.DriverOpts = kvMap(opts)
			}
			v, err := cl.VolumeCreate(ctx, req)
			if err != nil {
				return daemonError(c, err)
			}
			fmt.Fprintln(c.Out, v.Name)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&driver, "driver", "d", "local", "the volume's driver")
	f.StringArrayVar(&labels, "label", nil, "set metadata for the volume (KEY=VALUE)")
	f.StringArrayVarP(&opts, "opt", "o", nil, "set driver options: type, device, o (as mount(8) takes them)")
	f.StringVar(&name, "name", "", "the volume's name")
	f.MarkHidden("name")
	return cmd
}

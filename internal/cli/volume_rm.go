package cli

import (
	"fmt"

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
			failed := false
			for _, name := range args {
				if err := cl.VolumeRemove(ctx, name, force); err != nil {
					printError(c, err)
					failed = true
					continue
				}
				fmt.Fprintln(c.Out, name)
			}
			if failed {
				return &StatusError{Status: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "no error for volumes that do not exist")
	return cmd
}

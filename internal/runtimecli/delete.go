package runtimecli

import (
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/spf13/cobra"
)

func newDelete(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "delete [flags] ID",
		Aliases: []string{"rm"},
		Short:   "delete a stopped container (with --force, any container)",
		Args:    exactArgs(1, "a container ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.load(args[0])
			if err != nil {
				if force && errdefs.IsNotFound(err) {
					return nil
				}
				return err
			}
			return c.Delete(force)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill the container first if it runs")
	return cmd
}

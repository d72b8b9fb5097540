package runtimecli

import "github.com/spf13/cobra"

func newPause(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "pause ID",
		Short: "freeze every process of a container",
		Args:  exactArgs(1, "a container ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.load(args[0])
			if err != nil {
				return err
			}
			return c.Pause()
		},
	}
}

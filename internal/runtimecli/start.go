package runtimecli

import "github.com/spf13/cobra"

func newStart(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "start ID",
		Short: "start the process of a created container",
		Args:  exactArgs(1, "a container ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.load(args[0])
			if err != nil {
				return err
			}
			return c.Start()
		},
	}
}

package runtimecli

import "github.com/spf13/cobra"

func newResume(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "resume ID",
		Short: "thaw a paused container",
		Args:  exactArgs(1, "a container ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.load(args[0])
			if err != nil {
				return err
			}
			return c.Resume()
		},
	}
}

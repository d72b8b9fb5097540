package runtimecli

import (
	"encoding/json"
	"os"

	"github.com/spf13/cobra"
)

func newState(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "state ID",
		Short: "print a container's state as JSON",
		Args:  exactArgs(1, "a container ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.load(args[0])
			if err != nil {
				return err
			}
			b, err := json.MarshalIndent(c.State(), "", "  ")
			if err != nil {
				return err
			}
			_, err = os.Stdout.Write(append(b, '\n'))
			return err
		},
	}
}

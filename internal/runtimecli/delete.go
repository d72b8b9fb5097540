package runtimecli

import (
	"github.com/hako-dev/hako/internal/errdefs"
)

func newDelete(g *globals) *command {
	var force bool
	cmd := &command{
		name:    "delete",
		aliases: []string{"rm"},
		usage:   "[flags] ID",
		short:   "delete a stopped container (with --force, any container)",
		flags:   newFlagSet(),
		args:    exactArgs("delete", 1, "a container ID"),
		run: func(args []string) error {
			err := g.runtime().Delete(args[0], force)
			if force && errdefs.IsNotFound(err) {
				return nil
			}
			return err
		},
	}
	cmd.flags.BoolVarP(&force, "force", "f", false, "kill the container first if it runs")
	return cmd
}

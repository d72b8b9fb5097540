package runtimecli

import (
	"encoding/json"
	"os"
)

func newState(g *globals) *command {
	return &command{
		name:  "state",
		usage: "ID",
		short: "print a container's state as JSON",
		args:  exactArgs("state", 1, "a container ID"),
		run: func(args []string) error {
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

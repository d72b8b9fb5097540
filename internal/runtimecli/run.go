package runtimecli

import (
	"github.com/hako-dev/hako/internal/runtime"
)

func newRun(g *globals) *command {
	var f createFlags
	var detach, keep bool
	cmd := &command{
		name:  "run",
		usage: "[flags] ID",
		short: "create and start a container; in the foreground, wait for it and return its exit status",
		flags: newFlagSet(),
		args:  exactArgs("run", 1, "a container ID"),
		run: func(args []string) error {
			o := &runtime.RunOptions{CreateOptions: f.options(), Detach: detach, Keep: keep}
			code, err := g.runtime().Run(args[0], o)
			if err != nil {
				if code > 0 {
					return &exitError{code: code, err: err}
				}
				return err
			}
			if code != 0 {
				return &exitError{code: code}
			}
			return nil
		},
	}
	f.register(cmd.flags)
	cmd.flags.BoolVarP(&detach, "detach", "d", false, "return once the container runs")
	cmd.flags.BoolVar(&keep, "keep", false, "keep the container's state after it exits")
	return cmd
}

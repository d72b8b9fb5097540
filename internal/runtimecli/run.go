package runtimecli

import (
	"github.com/hako-dev/hako/internal/runtime"
	"github.com/spf13/cobra"
)

func newRun(g *globals) *cobra.Command {
	var f createFlags
	var detach, keep bool
	cmd := &cobra.Command{
		Use:   "run [flags] ID",
		Short: "create and start a container; in the foreground, wait for it and return its exit status",
		Args:  exactArgs(1, "a container ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
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
	f.register(cmd)
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "return once the container runs")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the container's state after it exits")
	return cmd
}

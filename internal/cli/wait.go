package cli

import (
	"errors"
	"fmt"

	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
)

func newWait(c *CLI) *cobra.Command {
	cmd := &cobra.Command{
		Use:                   "wait CONTAINER [CONTAINER...]",
		Short:                 "block until one or more containers stop, then print their exit codes",
		Args:                  needArgs(1, -1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			var failed bool
			for _, name := range args {
				results, errc := cl.ContainerWait(ctx, name, container.WaitConditionNotRunning)
				select {
				case r := <-results:
					if r.Error != nil && r.Error.Message != "" {
						fmt.Fprintf(c.Err, "Error response from daemon: %s\n", r.Error.Message)
						failed = true
						continue
					}
					fmt.Fprintln(c.Out, r.StatusCode)
				case err := <-errc:
					fmt.Fprintf(c.Err, "Error response from daemon: %v\n", err)
					failed = true
				}
			}
			if failed {
				return &StatusError{Status: 1, Err: errors.New("failed to wait for one or more containers")}
			}
			return nil
		},
	}
	cmd.SetFlagErrorFunc(badFlag)
	return cmd
}

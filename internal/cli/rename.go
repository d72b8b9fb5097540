package cli

import (
	"errors"
	"strings"

	"github.com/spf13/cobra"
)

func newRename(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "rename CONTAINER NEW_NAME",
		Short: "rename a container",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			old, name := strings.TrimSpace(args[0]), strings.TrimSpace(args[1])
			if old == "" || name == "" {
				return &StatusError{Status: 1, Err: errors.New("neither the old nor the new name may be empty")}
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			if err := cl.ContainerRename(ctx, old, name); err != nil {
				return daemonError(c, err)
			}
			return nil
		},
	}
}

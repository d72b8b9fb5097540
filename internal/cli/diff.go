package cli

import (
	"fmt"
	"io"

	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
)

func newDiff(c *CLI) *cobra.Command {
	return &cobra.Command{
		Use:   "diff CONTAINER",
		Short: "inspect changes to files or directories on a container's filesystem",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			changes, err := cl.ContainerDiff(ctx, args[0])
			if err != nil {
				return daemonError(c, err)
			}
			writeChanges(c.Out, changes)
			return nil
		},
	}
}

// writeChanges prints one change a line, as docker does: "A /tmp/new",
// "C /etc", "D /etc/motd".
func writeChanges(w io.Writer, changes []container.FilesystemChange) {
	for _, ch := range changes {
		fmt.Fprintf(w, "%s %s\n", ch.Kind, ch.Path)
	}
}

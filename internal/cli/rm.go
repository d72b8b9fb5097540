package cli

import (
	"context"
	"errors"
	"strings"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/spf13/cobra"
)

func newRm(c *CLI) *cobra.Command {
	var force, volumes, link bool
	cmd := &cobra.Command{
		Use:   "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "remove one or more containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			if link {
				return &StatusError{Status: 1, Err: errors.New("--link: hako has no container links to remove")}
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			return eachName(ctx, c, args, func(ctx context.Context, name string) error {
				name = strings.Trim(name, "/")
				if name == "" {
					return errors.New("container name cannot be empty")
				}
				return cl.ContainerRemove(ctx, name, force, volumes)
			}, func(err error) bool {
				// rm -f of a container that is not there is no failure.
				return force && errors.Is(err, errdefs.ErrNotFound)
			})
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&force, "force", "f", false, "force the removal of a running container (uses SIGKILL)")
	f.BoolVarP(&volumes, "volumes", "v", false, "remove anonymous volumes associated with the container")
	f.BoolVarP(&link, "link", "l", false, "remove the specified link (not supported)")
	return cmd
}

package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hako-dev/hako/internal/client"
	"github.com/spf13/cobra"
)

func newCommit(c *CLI) *cobra.Command {
	var o client.CommitOptions
	var noPause bool
	cmd := &cobra.Command{
		Use:   "commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
		Short: "create a new image from a container's changes",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			if len(args) == 2 {
				repo, tag, err := splitRepoTag(args[1])
				if err != nil {
					return &StatusError{Status: 1, Err: err}
				}
				o.Repo, o.Tag = repo, tag
			}
			if noPause {
				o.Pause = false
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			id, err := cl.ContainerCommit(ctx, args[0], o)
			if err != nil {
				return daemonError(c, err)
			}
			fmt.Fprintln(c.Out, id)
			return nil
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.StringVarP(&o.Author, "author", "a", "", `author (e.g., "Jane Doe <jane@example.com>")`)
	f.StringVarP(&o.Comment, "message", "m", "", "commit message")
	f.StringArrayVarP(&o.Changes, "change", "c", nil, "apply a Dockerfile instruction to the created image (repeatable)")
	f.BoolVarP(&o.Pause, "pause", "p", true, "pause the container during commit")
	f.BoolVar(&noPause, "no-pause", false, "do not pause the container during commit")
	return cmd
}

// splitRepoTag splits REPOSITORY[:TAG]; a digest is refused, as an image
// made here cannot have one chosen for it.
func splitRepoTag(ref string) (repo, tag string, err error) {
	if strings.Contains(ref, "@") {
		return "", "", fmt.Errorf("invalid reference %q: a commit cannot be named by digest", ref)
	}
	repo = ref
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		repo, tag = ref[:i], ref[i+1:]
	}
	if repo == "" {
		return "", "", errors.New("invalid reference format: repository name must have at least one component")
	}
	return repo, tag, nil
}

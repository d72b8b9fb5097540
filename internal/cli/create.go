package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/distribution/reference"
	"github.com/hako-dev/hako/internal/client"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/spf13/cobra"
)

func newCreate(c *CLI) *cobra.Command {
	var o *containerOptions
	cmd := &cobra.Command{
		Use:                   "create [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short:                 "create a new container",
		Args:                  needArgs(1, -1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			deprecationWarnings(cmd.Flags(), c.Err)
			cc, err := o.parse(cmd.Flags(), args[0], args[1:])
			if err != nil {
				return &StatusError{Status: 125, Err: err}
			}
			ctx := ctxOf(cmd)
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			id, err := createContainer(ctx, c, cl, o, cc)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.Out, id)
			return nil
		},
	}
	o = addContainerFlags(cmd.Flags())
	cmd.SetFlagErrorFunc(badFlag)
	return cmd
}

// createContainer creates the container, pulling its image first with
// --pull=always, or when it is missing with --pull=missing (the
// default), as docker run does; pull progress goes to stderr.
func createContainer(ctx context.Context, c *CLI, cl *client.Client, o *containerOptions, cc *containerConfig) (string, error) {
	cid, err := newCIDFile(o.cidfile)
	if err != nil {
		return "", err
	}
	defer cid.close()

	image := cc.Config.Image
	if o.pull == "always" {
		if err := pullQuietly(ctx, c, cl, image, o); err != nil {
			return "", err
		}
	}
	if cc.Config.Tty {
		h, w := ttySize(c.Out)
		cc.HostConfig.ConsoleSize = [2]uint{h, w}
	}
	resp, err := cl.ContainerCreate(ctx, o.name, cc.Config, cc.HostConfig, cc.Networking, o.platform)
	if err != nil && imageMissing(err) && (o.pull == "missing" || o.pull == "") {
		named, perr := reference.ParseNormalizedNamed(image)
		if perr != nil {
			return "", err
		}
		if !o.quiet {
			fmt.Fprintf(c.Err, "Unable to find image '%s' locally\n", reference.FamiliarString(reference.TagNameOnly(named)))
		}
		if err := pullQuietly(ctx, c, cl, image, o); err != nil {
			return "", err
		}
		resp, err = cl.ContainerCreate(ctx, o.name, cc.Config, cc.HostConfig, cc.Networking, o.platform)
	}
	if err != nil {
		return "", err
	}
	for _, w := range resp.Warnings {
		fmt.Fprintln(c.Err, "WARNING:", w)
	}
	return resp.ID, cid.write(resp.ID)
}

// imageMissing tells a create that failed for want of its image from one
// that failed for want of something else (a --volumes-from container, a
// volume plugin), which no pull can fix.
func imageMissing(err error) bool {
	var ae *client.Error
	if errors.As(err, &ae) && !strings.HasPrefix(ae.Msg, "No such image") {
		return false
	}
	return errdefs.IsNotFound(err)
}

// pullQuietly pulls image with progress on stderr (stdout is the
// container's), or none with -q.
func pullQuietly(ctx context.Context, c *CLI, cl *client.Client, image string, o *containerOptions) error {
	var w io.Writer = c.Err
	if o.quiet {
		w = io.Discard
	}
	pp := newProgressPrinter(w)
	return cl.ImagePull(ctx, image, o.platform, registryAuthFor(image), pp.print)
}

// cidFile is --cidfile: created before the container (so an existing
// file stops the run early) and removed again if no ID was written.
type cidFile struct {
	path    string
	f       *os.File
	written bool
}

func newCIDFile(path string) (*cidFile, error) {
	if path == "" {
		return &cidFile{}, nil
	}
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("container ID file found, make sure the other container isn't running or delete %s", path)
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("failed to create the container ID file: %w", err)
	}
	return &cidFile{path: path, f: f}, nil
}

func (c *cidFile) write(id string) error {
	if c.f == nil {
		return nil
	}
	if _, err := c.f.WriteString(id); err != nil {
		return fmt.Errorf("failed to write the container ID (%s) to file: %w", id, err)
	}
	c.written = true
	return nil
}

func (c *cidFile) close() {
	if c.f == nil {
		return
	}
	c.f.Close()
	if !c.written {
		os.Remove(c.path)
	}
}

// needArgs checks the count of positional arguments (max < 0: no
// limit) with docker's message and exit status.
func needArgs(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) >= min && (max < 0 || len(args) <= max) {
			return nil
		}
		what := "exactly"
		switch {
		case max < 0:
			what = "at least"
		case min != max:
			what = fmt.Sprintf("at least %d and at most", min)
			min = max
		}
		s := "s"
		if min == 1 {
			s = ""
		}
		return &StatusError{Status: 1, Err: fmt.Errorf("%q requires %s %d argument%s.\nSee '%s --help'.\n\nUsage:  %s\n\n%s", cmd.CommandPath(), what, min, s, cmd.CommandPath(), cmd.UseLine(), cmd.Short)}
	}
}

// badFlag reports a bad flag as docker does, with exit status 125.
func badFlag(cmd *cobra.Command, err error) error {
	if err == nil {
		return nil
	}
	return &StatusError{Status: 125, Err: fmt.Errorf("%w\nSee '%s --help'.", err, cmd.CommandPath())}
}

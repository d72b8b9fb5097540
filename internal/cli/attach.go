package cli

import (
	"context"
	"errors"

	"github.com/hako-dev/hako/internal/client"
	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
)

func newAttach(c *CLI) *cobra.Command {
	var noStdin, sigProxy bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:                   "attach [OPTIONS] CONTAINER",
		Short:                 "attach local standard input, output, and error streams to a running container",
		Args:                  needArgs(1, 1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			keys, err := parseDetachKeys(detachKeys)
			if err != nil {
				return err
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			ctr, _, err := cl.ContainerInspect(ctx, args[0], false)
			if err != nil {
				return err
			}
			switch {
			case ctr.State == nil || !ctr.State.Running:
				return errors.New("You cannot attach to a stopped container, start it first")
			case ctr.State.Paused:
				return errors.New("You cannot attach to a paused container, unpause it first")
			case ctr.State.Restarting:
				return errors.New("You cannot attach to a restarting container, wait until it is running")
			}
			cfg := ctr.Config
			withStdin := !noStdin && cfg.OpenStdin
			stdin := cmd.InOrStdin()
			if withStdin && cfg.Tty && !isTerminalStream(stdin) {
				return errors.New("the input device is not a TTY")
			}
			if sigProxy && !cfg.Tty {
				stop := proxySignals(ctx, func(ctx context.Context, sig string) error { return cl.ContainerKill(ctx, ctr.ID, sig) })
				defer stop()
			}
			// Registered first, so an exit during the attach is seen.
			waitCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
			defer cancel()
			statusC := waitStatus(waitCtx, cl, ctr.ID, container.WaitConditionNotRunning)
			s := stdio{out: c.Out, errOut: c.Err, tty: cfg.Tty, detachKeys: keys}
			if cfg.Tty {
				s.errOut = c.Out
			}
			if withStdin {
				s.in = stdin
			}
			err = attachStreams(ctx, c, cl, ctr.ID, s, detachKeys, nil)
			if errors.Is(err, errDetached) {
				return nil
			}
			if err != nil {
				return err
			}
			if st := (<-statusC).report(c); st != 0 {
				return &StatusError{Status: st}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&noStdin, "no-stdin", false, "do not attach STDIN")
	f.BoolVar(&sigProxy, "sig-proxy", true, "proxy all received signals to the process")
	f.StringVar(&detachKeys, "detach-keys", "", "override the key sequence for detaching a container")
	cmd.SetFlagErrorFunc(badFlag)
	return cmd
}

// attachStreams attaches to a container's streams and relays them, with
// the terminal in raw mode and its size followed when the container has
// one. start, when not nil, runs once the attach is in place (start -a).
func attachStreams(ctx context.Context, c *CLI, cl *client.Client, id string, s stdio, detachKeys string, start func() error) error {
	conn, err := cl.ContainerAttach(ctx, id, client.AttachOptions{Stream: true, Stdin: s.in != nil, Stdout: s.out != nil, Stderr: s.errOut != nil, DetachKeys: detachKeys})
	if err != nil {
		return err
	}
	defer conn.Close()
	if s.tty && s.in != nil {
		restore, err := makeRaw(s.in)
		if err != nil {
			return err
		}
		defer restore()
	}
	if start != nil {
		if err := start(); err != nil {
			return err
		}
	}
	if s.tty && isTerminalStream(c.Out) {
		stop := followTTYSize(ctx, c.Out, func(ctx context.Context, h, w uint) error { return cl.ContainerResize(ctx, id, h, w) })
		defer stop()
	}
	return s.relay(ctx, conn)
}

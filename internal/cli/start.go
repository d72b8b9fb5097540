package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
)

func newStart(c *CLI) *cobra.Command {
	var attach, interactive bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:                   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short:                 "start one or more stopped containers",
		Args:                  needArgs(1, -1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			if (attach || interactive) && len(args) > 1 {
				return errors.New("you cannot start and attach multiple containers at once")
			}
			keys, err := parseDetachKeys(detachKeys)
			if err != nil {
				return err
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			if !attach && !interactive {
				var failed []string
				for _, name := range args {
					if err := cl.ContainerStart(ctx, name); err != nil {
						fmt.Fprintf(c.Err, "Error response from daemon: %v\n", err)
						failed = append(failed, name)
						continue
					}
					fmt.Fprintln(c.Out, name)
				}
				if len(failed) > 0 {
					return &StatusError{Status: 1, Err: fmt.Errorf("failed to start containers: %s", strings.Join(failed, ", "))}
				}
				return nil
			}

			ctr, _, err := cl.ContainerInspect(ctx, args[0], false)
			if err != nil {
				return err
			}
			cfg := ctr.Config
			s := stdio{out: c.Out, errOut: c.Err, tty: cfg.Tty, detachKeys: keys}
			if cfg.Tty {
				s.errOut = c.Out
			}
			if interactive && cfg.OpenStdin {
				s.in = cmd.InOrStdin()
				if cfg.Tty && !isTerminalStream(s.in) {
					return errors.New("the input device is not a TTY")
				}
			}
			if !cfg.Tty {
				stop := proxySignals(ctx, func(ctx context.Context, sig string) error { return cl.ContainerKill(ctx, ctr.ID, sig) })
				defer stop()
			}
			cond := container.WaitConditionNextExit
			if ctr.HostConfig != nil && ctr.HostConfig.AutoRemove {
				cond = container.WaitConditionRemoved
			}
			waitCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
			defer cancel()
			statusC := waitStatus(waitCtx, cl, ctr.ID, cond)
			err = attachStreams(ctx, c, cl, ctr.ID, s, detachKeys, func() error {
				if err := cl.ContainerStart(ctx, ctr.ID); err != nil {
					return startError(err)
				}
				return nil
			})
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
	f.BoolVarP(&attach, "attach", "a", false, "attach STDOUT/STDERR and forward signals")
	f.BoolVarP(&interactive, "interactive", "i", false, "attach container's STDIN")
	f.StringVar(&detachKeys, "detach-keys", "", "override the key sequence for detaching a container")
	cmd.SetFlagErrorFunc(badFlag)
	return cmd
}

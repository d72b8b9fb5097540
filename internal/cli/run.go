package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hako-dev/hako/internal/client"
	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
)

func newRun(c *CLI) *cobra.Command {
	var o *containerOptions
	var detach, sigProxy bool
	var detachKeys string
	cmd := &cobra.Command{
		Use:                   "run [OPTIONS] IMAGE [COMMAND] [ARG...]",
		Short:                 "create and run a new container from an image",
		Args:                  needArgs(1, -1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			deprecationWarnings(cmd.Flags(), c.Err)
			cc, err := o.parse(cmd.Flags(), args[0], args[1:])
			if err != nil {
				return &StatusError{Status: 125, Err: err}
			}
			return runContainer(cmd, c, o, cc, runFlags{detach: detach, sigProxy: sigProxy, detachKeys: detachKeys})
		},
	}
	o = addContainerFlags(cmd.Flags())
	cmd.Flags().BoolVarP(&detach, "detach", "d", false, "run container in background and print container ID")
	cmd.Flags().BoolVar(&sigProxy, "sig-proxy", true, "proxy received signals to the process")
	cmd.Flags().StringVar(&detachKeys, "detach-keys", "", "override the key sequence for detaching a container")
	cmd.SetFlagErrorFunc(badFlag)
	return cmd
}

type runFlags struct {
	detach, sigProxy bool
	detachKeys       string
}

// runContainer is docker run: create, attach (before the start, so no
// output is lost), register a wait for the next exit (also before the
// start, so a container the daemon removes with --rm still reports its
// status), start, relay stdio and signals, and exit with the container's
// status.
func runContainer(cmd *cobra.Command, c *CLI, o *containerOptions, cc *containerConfig, rf runFlags) error {
	ctx := ctxOf(cmd)
	cfg := cc.Config
	stdin := cmd.InOrStdin()
	if rf.detach {
		if len(o.attach) > 0 {
			return &StatusError{Status: 125, Err: errors.New("conflicting options: cannot specify both --attach and --detach")}
		}
		cfg.AttachStdin, cfg.AttachStdout, cfg.AttachStderr, cfg.StdinOnce = false, false, false, false
	} else if cfg.Tty && cfg.AttachStdin && !isTerminalStream(stdin) {
		return &StatusError{Status: 1, Err: errors.New("the input device is not a TTY")}
	}
	keys, err := parseDetachKeys(rf.detachKeys)
	if err != nil {
		return &StatusError{Status: 125, Err: err}
	}
	cl, err := c.client(ctx)
	if err != nil {
		return &StatusError{Status: 125, Err: err}
	}
	id, err := createContainer(ctx, c, cl, o, cc)
	if err != nil {
		return &StatusError{Status: 125, Err: err}
	}
	if rf.sigProxy && !rf.detach {
		stop := proxySignals(ctx, func(ctx context.Context, sig string) error { return cl.ContainerKill(ctx, id, sig) })
		defer stop()
	}

	attach := cfg.AttachStdin || cfg.AttachStdout || cfg.AttachStderr
	var conn *client.HijackedConn
	if attach {
		conn, err = cl.ContainerAttach(ctx, id, client.AttachOptions{Stream: true, Stdin: cfg.AttachStdin, Stdout: cfg.AttachStdout, Stderr: cfg.AttachStderr, DetachKeys: rf.detachKeys})
		if err != nil {
			return &StatusError{Status: 125, Err: err}
		}
		defer conn.Close()
	}
	cond := container.WaitConditionNextExit
	if cc.HostConfig.AutoRemove {
		cond = container.WaitConditionRemoved
	}
	// A context of its own: the wait must outlive a cancelled attach.
	waitCtx, cancelWait := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWait()
	statusC := waitStatus(waitCtx, cl, id, cond)

	restore := func() {}
	if attach && cfg.Tty && cfg.AttachStdin {
		if restore, err = makeRaw(stdin); err != nil {
			return &StatusError{Status: 125, Err: err}
		}
		defer restore()
	}
	if err := cl.ContainerStart(ctx, id); err != nil {
		restore()
		if cc.HostConfig.AutoRemove {
			// The daemon removes it, as docker's does; should it not,
			// --rm is still honoured.
			select {
			case <-statusC: // the start's error says it all
			case <-time.After(3 * time.Second):
				cl.ContainerRemove(context.WithoutCancel(ctx), id, true, true)
			}
		}
		return startError(err)
	}
	if !attach {
		fmt.Fprintln(c.Out, id)
		return nil
	}
	if cfg.Tty && isTerminalStream(c.Out) {
		stop := followTTYSize(ctx, c.Out, func(ctx context.Context, h, w uint) error { return cl.ContainerResize(ctx, id, h, w) })
		defer stop()
	}

	s := stdio{tty: cfg.Tty, detachKeys: keys}
	if cfg.AttachStdin {
		s.in = stdin
	}
	if cfg.AttachStdout {
		s.out = c.Out
	}
	if cfg.AttachStderr {
		s.errOut = c.Err
		if cfg.Tty {
			s.errOut = c.Out
		}
	}
	relayCtx, cancelRelay := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRelay()
	relayed := make(chan error, 1)
	go func() { relayed <- s.relay(relayCtx, conn) }()

	var status int
	select {
	case err := <-relayed:
		restore()
		if errors.Is(err, errDetached) {
			return nil
		}
		if err != nil {
			return &StatusError{Status: 125, Err: err}
		}
		status = (<-statusC).report(c)
	case st := <-statusC:
		status = st.report(c)
		// The output may still be draining; with only stdin attached
		// there is nothing more to wait for.
		if !cfg.AttachStdout && !cfg.AttachStderr {
			cancelRelay()
		}
		<-relayed
	}
	if status != 0 {
		return &StatusError{Status: status}
	}
	return nil
}

// exitStatus is what a wait reported: the container's exit status, or
// 125 and the problem when waiting failed.
type exitStatus struct {
	code    int
	problem string
}

// report prints the problem, if any, and returns the status.
func (s exitStatus) report(c *CLI) int {
	if s.problem != "" {
		fmt.Fprintf(c.Err, "hako: waiting for the container: %s\n", s.problem)
	}
	return s.code
}

// waitStatus reads the wait registered for id.
func waitStatus(ctx context.Context, cl *client.Client, id string, cond container.WaitCondition) <-chan exitStatus {
	results, errc := cl.ContainerWait(ctx, id, cond)
	out := make(chan exitStatus, 1)
	go func() {
		select {
		case r := <-results:
			s := exitStatus{code: int(r.StatusCode)}
			if r.Error != nil && r.Error.Message != "" {
				s.problem = r.Error.Message
				if s.code == 0 {
					s.code = 125
				}
			}
			out <- s
		case err := <-errc:
			s := exitStatus{code: 125}
			if ctx.Err() == nil {
				s.problem = err.Error()
			}
			out <- s
		}
	}()
	return out
}

// startError gives a failed start docker's exit status: 127 when the
// command is not found, 126 when it cannot be run, 125 otherwise.
func startError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
		return &StatusError{Status: 127, Err: err}
	case strings.Contains(msg, "permission denied"), strings.Contains(msg, "is a directory"):
		return &StatusError{Status: 126, Err: err}
	}
	return &StatusError{Status: 125, Err: err}
}

package cli

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/spf13/cobra"
)

func newExec(c *CLI) *cobra.Command {
	var detach, interactive, tty, privileged bool
	var env, envFile []string
	var workdir, user, detachKeys string
	cmd := &cobra.Command{
		Use:                   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short:                 "execute a command in a running container",
		Args:                  needArgs(2, -1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			keys, err := parseDetachKeys(detachKeys)
			if err != nil {
				return err
			}
			req := container.ExecCreateRequest{User: user, Privileged: privileged, Tty: tty, WorkingDir: workdir, Cmd: args[1:], DetachKeys: detachKeys}
			if req.Env, err = readKVFiles(envFile, os.LookupEnv); err != nil {
				return err
			}
			req.Env = append(req.Env, env...)
			if !detach {
				req.AttachStdout, req.AttachStderr, req.AttachStdin = true, true, interactive
			}
			stdin := cmd.InOrStdin()
			if !detach && req.Tty && req.AttachStdin && !isTerminalStream(stdin) {
				return errors.New("the input device is not a TTY")
			}
			if tty {
				if h, w := ttySize(c.Out); h > 0 || w > 0 {
					req.ConsoleSize = &[2]uint{h, w}
				}
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			if _, _, err := cl.ContainerInspect(ctx, args[0], false); err != nil {
				return err
			}
			id, err := cl.ExecCreate(ctx, args[0], req)
			if err != nil {
				return err
			}
			if id == "" {
				return errors.New("exec ID empty")
			}
			start := container.ExecStartRequest{Detach: detach, Tty: tty, ConsoleSize: req.ConsoleSize}
			conn, err := cl.ExecStart(ctx, id, start)
			if err != nil || detach {
				return err
			}
			defer conn.Close()

			s := stdio{out: c.Out, errOut: c.Err, tty: tty, detachKeys: keys}
			if tty {
				s.errOut = c.Out
			}
			if interactive {
				s.in = stdin
				if tty {
					restore, err := makeRaw(stdin)
					if err != nil {
						return err
					}
					defer restore()
				}
			}
			if tty && isTerminalStream(c.Out) {
				stop := followTTYSize(ctx, c.Out, func(ctx context.Context, h, w uint) error { return cl.ExecResize(ctx, id, h, w) })
				defer stop()
			}
			if err := s.relay(ctx, conn); err != nil {
				if errors.Is(err, errDetached) {
					return nil
				}
				return err
			}
			return execStatus(ctx, c, id)
		},
	}
	f := cmd.Flags()
	f.SetInterspersed(false)
	f.BoolVarP(&detach, "detach", "d", false, "detached mode: run command in the background")
	f.BoolVarP(&interactive, "interactive", "i", false, "keep STDIN open even if not attached")
	f.BoolVarP(&tty, "tty", "t", false, "allocate a pseudo-TTY")
	f.BoolVar(&privileged, "privileged", false, "give extended privileges to the command")
	f.VarP(&listValue{p: &env, check: validateEnv}, "env", "e", "set environment variables")
	f.Var(&listValue{p: &envFile}, "env-file", "read in a file of environment variables")
	f.StringVarP(&workdir, "workdir", "w", "", "working directory inside the container")
	f.StringVarP(&user, "user", "u", "", "username or UID (format: <name|uid>[:<group|gid>])")
	f.StringVar(&detachKeys, "detach-keys", "", "override the key sequence for detaching a container")
	cmd.SetFlagErrorFunc(badFlag)
	return cmd
}

// execStatus turns an exec's exit code into the CLI's. The output ends
// a moment before the daemon has recorded the exit: poll briefly, then
// (a process that closed its output and runs on) report success, as
// docker does.
func execStatus(ctx context.Context, c *CLI, id string) error {
	cl, err := c.client(ctx)
	if err != nil {
		return err
	}
	for range 100 {
		r, err := cl.ExecInspect(ctx, id)
		if err != nil {
			return err
		}
		if r.ExitCode != nil && !r.Running {
			if *r.ExitCode != 0 {
				return &StatusError{Status: *r.ExitCode}
			}
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

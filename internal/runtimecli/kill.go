package runtimecli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/hako-dev/hako/internal/errdefs"
	"golang.org/x/sys/unix"
)

func newKill(g *globals) *command {
	var all bool
	cmd := &command{
		name:  "kill",
		usage: "[flags] ID [SIGNAL]",
		short: "send a signal (default SIGTERM) to a container's init, or to all its processes",
		flags: newFlagSet(),
		args: func(args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return fmt.Errorf("kill: expects a container ID and an optional signal: %w", errdefs.ErrInvalidArgument)
			}
			return nil
		},
		run: func(args []string) error {
			sig := unix.SIGTERM
			if len(args) == 2 {
				var err error
				if sig, err = parseSignal(args[1]); err != nil {
					return err
				}
			}
			c, err := g.load(args[0])
			if err != nil {
				return err
			}
			return c.Kill(sig, all)
		},
	}
	cmd.flags.BoolVarP(&all, "all", "a", false, "signal every process of the container")
	return cmd
}

// parseSignal accepts "KILL", "SIGKILL", "9", "RTMIN+3".
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("signal %d: out of range: %w", n, errdefs.ErrInvalidArgument)
		}
		return unix.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if rest, ok := strings.CutPrefix(name, "SIGRTMIN"); ok {
		off := 0
		if rest != "" {
			n, err := strconv.Atoi(strings.TrimPrefix(rest, "+"))
			if err != nil || !strings.HasPrefix(rest, "+") {
				return 0, fmt.Errorf("unknown signal %q: %w", s, errdefs.ErrInvalidArgument)
			}
			off = n
		}
		return unix.Signal(34 + off), nil
	}
	if rest, ok := strings.CutPrefix(name, "SIGRTMAX"); ok {
		off := 0
		if rest != "" {
			n, err := strconv.Atoi(strings.TrimPrefix(rest, "-"))
			if err != nil || !strings.HasPrefix(rest, "-") {
				return 0, fmt.Errorf("unknown signal %q: %w", s, errdefs.ErrInvalidArgument)
			}
			off = n
		}
		return unix.Signal(64 - off), nil
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q: %w", s, errdefs.ErrInvalidArgument)
}

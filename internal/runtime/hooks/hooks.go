// Package hooks runs OCI lifecycle hooks: each hook's program gets the
// container state as JSON on stdin, its own args and env, and is killed
// when its timeout expires.
package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Run runs the hooks of one kind in order and stops at the first failure.
// kind names them in errors ("createRuntime").
func Run(kind string, hs []specs.Hook, state *specs.State) error {
	if len(hs) == 0 {
		return nil
	}
	in, err := json.Marshal(state)
	if err != nil {
		return err
	}
	for i := range hs {
		if err := runOne(&hs[i], in); err != nil {
			return fmt.Errorf("hooks.%s[%d] %s: %w", kind, i, hs[i].Path, err)
		}
	}
	return nil
}

// RunAll runs every hook of one kind even if some fail, and returns the
// failures joined (for poststart and poststop, whose failures are only
// warnings).
func RunAll(kind string, hs []specs.Hook, state *specs.State) error {
	if len(hs) == 0 {
		return nil
	}
	in, err := json.Marshal(state)
	if err != nil {
		return err
	}
	var errs []error
	for i := range hs {
		if err := runOne(&hs[i], in); err != nil {
			errs = append(errs, fmt.Errorf("hooks.%s[%d] %s: %w", kind, i, hs[i].Path, err))
		}
	}
	return errors.Join(errs...)
}

func runOne(h *specs.Hook, state []byte) error {
	ctx := context.Background()
	if h.Timeout != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(*h.Timeout)*time.Second)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, h.Path)
	if len(h.Args) > 0 {
		cmd.Args = h.Args
	} else {
		cmd.Args = []string{h.Path}
	}
	cmd.Env = h.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Stdin = bytes.NewReader(state)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("timed out after %ds", *h.Timeout)
	}
	if err != nil {
		if msg := strings.TrimSpace(out.String()); msg != "" {
			return fmt.Errorf("%w: %s", err, firstLines(msg, 5))
		}
		return err
	}
	return nil
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = append(lines[:n], "...")
	}
	return strings.Join(lines, "; ")
}

// Package runtime turns an OCI bundle into a running, isolated process and
// manages it afterwards: create, start, state, kill, delete, exec, pause,
// resume, update, stats. It is what runc's libcontainer is to runc, and it
// backs both `hako runtime` (the runc-compatible command line) and the
// daemon.
//
// A container's state lives in ROOT/ID/ (state.json, exec.fifo); every
// operation other than create works from that directory, so the runtime
// process that created a container need not outlive it.
package runtime

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/hako-dev/hako/internal/errdefs"
)

// DefaultRoot is where container state lives unless told otherwise.
const DefaultRoot = "/run/hako/runtime"

// Options configure a Runtime.
type Options struct {
	// Root is the state directory (runc's --root).
	Root string
	// SystemdCgroup interprets linux.cgroupsPath as "slice:prefix:name".
	SystemdCgroup bool
	// ClampLimits lowers rlimits and oomScoreAdj that the kernel refuses
	// (without CAP_SYS_RESOURCE) instead of failing.
	ClampLimits bool
	// Log receives warnings (poststart/poststop hook failures, ...).
	Log *slog.Logger
}

// Runtime creates and finds containers under one state root.
type Runtime struct {
	root          string
	systemdCgroup bool
	clamp         bool
	log           *slog.Logger
}

// New returns a Runtime for the given options.
func New(o Options) *Runtime {
	r := &Runtime{root: o.Root, systemdCgroup: o.SystemdCgroup, clamp: o.ClampLimits, log: o.Log}
	if r.root == "" {
		r.root = DefaultRoot
	}
	if r.log == nil {
		r.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return r
}

// Root returns the state directory.
func (r *Runtime) Root() string { return r.root }

// CheckID validates a container ID the way runc does: letters, digits and
// "_+-." only, so it is always a safe single path component.
func CheckID(id string) error {
	if id == "" {
		return fmt.Errorf("container ID: missing: %w", errdefs.ErrInvalidArgument)
	}
	if id == "." || id == ".." {
		return fmt.Errorf("container ID %q: invalid: %w", id, errdefs.ErrInvalidArgument)
	}
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '_' || c == '+' || c == '-' || c == '.'
		if !ok {
			return fmt.Errorf("container ID %q: only letters, digits and _+-. are allowed: %w", id, errdefs.ErrInvalidArgument)
		}
	}
	if len(id) > 1024 {
		return fmt.Errorf("container ID: longer than 1024 characters: %w", errdefs.ErrInvalidArgument)
	}
	return nil
}

// Load finds an existing container.
func (r *Runtime) Load(id string) (*Container, error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	return r.loadDir(id, filepath.Join(r.root, id))
}

// loadDir reads the state of container id in dir.
func (r *Runtime) loadDir(id, dir string) (*Container, error) {
	st, err := readState(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			if _, serr := os.Stat(dir); serr == nil {
				// Created but never finished (or a crash mid-create).
				return &Container{rt: r, dir: dir, st: &savedState{ID: id}}, nil
			}
			return nil, fmt.Errorf("container %q does not exist: %w", id, errdefs.ErrNotFound)
		}
		return nil, fmt.Errorf("container %q: %w", id, err)
	}
	return &Container{rt: r, dir: dir, st: st}, nil
}

// List returns every container under the root.
func (r *Runtime) List() ([]*Container, error) {
	entries, err := os.ReadDir(r.root)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var out []*Container
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		c, err := r.Load(e.Name())
		if err != nil {
			continue // removed meanwhile, or not ours
		}
		out = append(out, c)
	}
	return out, nil
}

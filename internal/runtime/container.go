package runtime

import (
	"fmt"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/runtime/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Container is a handle on one container's state directory.
type Container struct {
	rt  *Runtime
	dir string
	st  *savedState
	mgr cgroups.Manager
}

// ID returns the container ID.
func (c *Container) ID() string { return c.st.ID }

// Config returns the container's configuration (nil while creating).
func (c *Container) Config() *specs.Spec { return c.st.Config }

// Pid returns the host pid of the container's init, 0 if none.
func (c *Container) Pid() int { return c.st.Pid }

// State reports the container's state.
func (c *Container) State() *State {
	st := c.status()
	s := &State{
		State: specs.State{
			Version: specs.Version,
			ID:      c.st.ID,
			Status:  st,
			Bundle:  c.st.Bundle,
		},
		Rootfs:  c.st.Rootfs,
		Created: c.st.Created,
		Owner:   c.st.Owner,
	}
	if st != StatusStopped {
		s.Pid = c.st.Pid
	}
	if c.st.Config != nil {
		s.Annotations = c.st.Config.Annotations
	}
	return s
}

// ociState is the state handed to hooks.
func (c *Container) ociState(status specs.ContainerState) *specs.State {
	s := &specs.State{
		Version: specs.Version,
		ID:      c.st.ID,
		Status:  status,
		Pid:     c.st.Pid,
		Bundle:  c.st.Bundle,
	}
	if c.st.Config != nil {
		s.Annotations = c.st.Config.Annotations
	}
	return s
}

func (c *Container) cgroup() (cgroups.Manager, error) {
	if c.mgr != nil {
		return c.mgr, nil
	}
	if len(c.st.CgroupPaths) == 0 {
		return nil, fmt.Errorf("container %q has no cgroup: %w", c.st.ID, errdefs.ErrNotFound)
	}
	m, err := cgroups.Load(c.st.CgroupPaths)
	if err != nil {
		return nil, err
	}
	c.mgr = m
	return m, nil
}

func (c *Container) notRunning(op string, st specs.ContainerState) error {
	return fmt.Errorf("cannot %s container %q: it is %s: %w", op, c.st.ID, st, errdefs.ErrConflict)
}

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

// Config returns the container's configuration: nil while creating, or
// if the saved one cannot be decoded.
func (c *Container) Config() *specs.Spec {
	s, _ := c.st.spec()
	return s
}

// ExecBase returns the part of the container's configuration exec takes
// its defaults from: ociVersion, process, hostname, annotations and
// linux.seccomp, personality and memoryPolicy; the other fields are
// empty. It is cheaper than Config. Nil while creating.
func (c *Container) ExecBase() *specs.Spec {
	if !c.st.hasConfig() {
		return nil
	}
	p := c.st.meta()
	s := &specs.Spec{Version: p.Version, Process: p.Process, Hostname: p.Hostname, Annotations: p.Annotations, Linux: &specs.Linux{}}
	if l := p.Linux; l != nil {
		s.Linux.Seccomp, s.Linux.Personality, s.Linux.MemoryPolicy = l.Seccomp, l.Personality, l.MemoryPolicy
	}
	return s
}

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
	s.Annotations = c.st.meta().Annotations
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
	s.Annotations = c.st.meta().Annotations
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

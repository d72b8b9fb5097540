package runtime

import (
	"fmt"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/runtime/cgroups"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Pause freezes every process of a running container.
func (c *Container) Pause() error {
	unlock, err := lock(c.dir)
	if err != nil {
		return err
	}
	defer unlock()
	if st := c.status(); st != StatusRunning && st != StatusCreated {
		return c.notRunning("pause", st)
	}
	mgr, err := c.cgroup()
	if err != nil {
		return err
	}
	if err := mgr.Freeze(); err != nil {
		return fmt.Errorf("pause container %q: %w", c.st.ID, err)
	}
	return nil
}

// Resume thaws a paused container.
func (c *Container) Resume() error {
	unlock, err := lock(c.dir)
	if err != nil {
		return err
	}
	defer unlock()
	if st := c.status(); st != StatusPaused {
		return c.notRunning("resume", st)
	}
	mgr, err := c.cgroup()
	if err != nil {
		return err
	}
	if err := mgr.Thaw(); err != nil {
		return fmt.Errorf("resume container %q: %w", c.st.ID, err)
	}
	return nil
}

// Update applies new resource limits to a container and records them.
func (c *Container) Update(r *specs.LinuxResources) error {
	unlock, err := lock(c.dir)
	if err != nil {
		return err
	}
	defer unlock()
	if st := c.status(); st == StatusStopped {
		return c.notRunning("update", st)
	}
	mgr, err := c.cgroup()
	if err != nil {
		return err
	}
	if err := mgr.Set(r); err != nil {
		return fmt.Errorf("update container %q: %w", c.st.ID, err)
	}
	cfg, err := c.st.spec()
	if err != nil {
		return err
	}
	if cfg == nil || cfg.Linux == nil {
		return fmt.Errorf("update container %q: it has no configuration: %w", c.st.ID, errdefs.ErrConflict)
	}
	if cfg.Linux.Resources == nil {
		cfg.Linux.Resources = &specs.LinuxResources{}
	}
	mergeResources(cfg.Linux.Resources, r)
	if err := c.st.setSpec(cfg); err != nil {
		return err
	}
	return writeState(c.dir, c.st)
}

// mergeResources copies the fields set in r into dst.
func mergeResources(dst, r *specs.LinuxResources) {
	if r.Memory != nil {
		if dst.Memory == nil {
			dst.Memory = &specs.LinuxMemory{}
		}
		m, d := r.Memory, dst.Memory
		setIf(&d.Limit, m.Limit)
		setIf(&d.Reservation, m.Reservation)
		setIf(&d.Swap, m.Swap)
		setIf(&d.Kernel, m.Kernel)
		setIf(&d.KernelTCP, m.KernelTCP)
		setIf(&d.Swappiness, m.Swappiness)
	}
	if r.CPU != nil {
		if dst.CPU == nil {
			dst.CPU = &specs.LinuxCPU{}
		}
		p, d := r.CPU, dst.CPU
		setIf(&d.Shares, p.Shares)
		setIf(&d.Quota, p.Quota)
		setIf(&d.Burst, p.Burst)
		setIf(&d.Period, p.Period)
		setIf(&d.RealtimeRuntime, p.RealtimeRuntime)
		setIf(&d.RealtimePeriod, p.RealtimePeriod)
		if p.Cpus != "" {
			d.Cpus = p.Cpus
		}
		if p.Mems != "" {
			d.Mems = p.Mems
		}
	}
	if r.Pids != nil {
		dst.Pids = r.Pids
	}
	if r.BlockIO != nil {
		dst.BlockIO = r.BlockIO
	}
	if r.Unified != nil {
		dst.Unified = r.Unified
	}
}

func setIf[T any](dst **T, v *T) {
	if v != nil {
		*dst = v
	}
}

// Stats reads the container's cgroup counters.
func (c *Container) Stats() (*cgroups.Stats, error) {
	if st := c.status(); st == StatusStopped {
		return nil, c.notRunning("read stats of", st)
	}
	mgr, err := c.cgroup()
	if err != nil {
		return nil, err
	}
	return mgr.Stats()
}

// Processes lists the host pids of the container's processes.
func (c *Container) Processes() ([]int, error) {
	mgr, err := c.cgroup()
	if err != nil {
		return nil, err
	}
	return mgr.Pids()
}

// CgroupStats reads the container's cgroup counters whatever its state:
// after its init has exited, the OOM kill count tells why.
func (c *Container) CgroupStats() (*cgroups.Stats, error) {
	mgr, err := c.cgroup()
	if err != nil {
		return nil, err
	}
	return mgr.Stats()
}

// OOMKills counts the container's processes the OOM killer killed.
func (c *Container) OOMKills() (uint64, error) {
	mgr, err := c.cgroup()
	if err != nil {
		return 0, err
	}
	return mgr.OOMKills()
}

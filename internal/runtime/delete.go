package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/runtime/cgroups"
	"github.com/hako-dev/hako/internal/runtime/hooks"
	"golang.org/x/sys/unix"
)

// Delete removes a stopped (or, with force, any) container: it kills what
// still runs, removes the cgroup and the state, and runs poststop hooks.
// Deleting a container that is not stopped without force is an error and
// changes nothing, as the runtime spec requires.
func (c *Container) Delete(force bool) error {
	unlock, err := lock(c.dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	defer unlock()
	// Re-read: another runtime process may have changed it meanwhile.
	if st, err := readState(c.dir); err == nil {
		c.st = st
	}
	return c.deleteLocked(force)
}

// Delete deletes container id as Container.Delete does, reading its state
// once, under the lock, rather than loading it and reading it again.
func (r *Runtime) Delete(id string, force bool) error {
	if err := CheckID(id); err != nil {
		return err
	}
	dir := filepath.Join(r.root, id)
	unlock, err := lock(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("container %q does not exist: %w", id, errdefs.ErrNotFound)
		}
		return err
	}
	defer unlock()
	c, err := r.loadDir(id, dir)
	if err != nil {
		return err
	}
	return c.deleteLocked(force)
}

func (c *Container) deleteLocked(force bool) error {
	switch st := c.status(); st {
	case StatusStopped:
	case StatusCreating:
		// Left behind by a create that crashed: nothing holds the lock.
		c.killAll()
	default:
		if !force {
			return fmt.Errorf("cannot delete container %q that is not stopped: it is %s (use --force)", c.st.ID, st)
		}
		c.killAll()
	}
	return c.destroy()
}

// killAll SIGKILLs the container's processes and waits for the init.
func (c *Container) killAll() {
	if mgr, err := c.cgroup(); err == nil {
		mgr.Kill(unix.SIGKILL)
		mgr.Thaw()
	}
	if c.st.Pid > 0 {
		signalInit(c.st.Pid, c.st.PidStart, unix.SIGKILL)
		waitExit(c.st.Pid, c.st.PidStart, 10*time.Second)
	}
}

// destroy removes the cgroup and the state directory, then runs the
// poststop hooks.
func (c *Container) destroy() error {
	var errs []error
	if mgr, err := c.cgroup(); err == nil {
		if !c.st.OwnPIDNS {
			// Without a pid namespace of its own, the container's
			// processes do not die with its init.
			mgr.Kill(unix.SIGKILL)
		}
		if err := destroyCgroup(mgr); err != nil {
			errs = append(errs, err)
		}
	}
	if err := removeStateDir(c.dir); err != nil {
		errs = append(errs, fmt.Errorf("remove state: %w", err))
	}
	if h := c.st.meta().Hooks; h != nil {
		if err := hooks.RunAll("poststop", h.Poststop, c.ociState(StatusStopped)); err != nil {
			c.rt.log.Warn("poststop hook failed", "container", c.st.ID, "error", err)
		}
	}
	return errors.Join(errs...)
}

// removeStateDir removes a container's state directory: its state file
// and the directory, or, if anything else is left in it (an exec fifo),
// everything as os.RemoveAll does.
func removeStateDir(dir string) error {
	unix.Unlink(filepath.Join(dir, stateFile))
	if err := unix.Rmdir(dir); err == nil || err == unix.ENOENT {
		return nil
	}
	return os.RemoveAll(dir)
}

// destroyCgroup removes a cgroup, waiting a little for exiting processes to
// leave it.
func destroyCgroup(mgr cgroups.Manager) error {
	var err error
	for i := 0; i < 100; i++ {
		if err = mgr.Destroy(); err == nil {
			return nil
		}
		if i == 10 {
			mgr.Kill(unix.SIGKILL)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("remove cgroup: %w", err)
}

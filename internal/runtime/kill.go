package runtime

import (
	"errors"
	"fmt"
	"time"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/runtime/linux"
	"golang.org/x/sys/unix"
)

// Kill sends sig to the container's init, or with all to every process in
// its cgroup.
func (c *Container) Kill(sig unix.Signal, all bool) error {
	st := c.status()
	switch st {
	case StatusCreated, StatusRunning, StatusPaused:
	default:
		return c.notRunning("kill", st)
	}
	if all {
		mgr, err := c.cgroup()
		if err != nil {
			return err
		}
		if err := mgr.Kill(sig); err != nil {
			return fmt.Errorf("kill processes of container %q: %w", c.st.ID, err)
		}
		return nil
	}
	return signalInit(c.st.Pid, c.st.PidStart, sig)
}

// signalInit signals a process through a pidfd, after checking it is still
// the process that started at startTime: a recycled pid is never signalled.
func signalInit(pid int, startTime uint64, sig unix.Signal) error {
	pfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		if errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("container process %d has exited: %w", pid, errdefs.ErrConflict)
		}
		if errors.Is(err, unix.ENOSYS) {
			return unix.Kill(pid, sig)
		}
		return err
	}
	defer unix.Close(pfd)
	if !linux.ProcessAlive(pid, startTime) {
		return fmt.Errorf("container process %d has exited: %w", pid, errdefs.ErrConflict)
	}
	if err := unix.PidfdSendSignal(pfd, sig, nil, 0); err != nil {
		return fmt.Errorf("signal %d to pid %d: %w", sig, pid, err)
	}
	return nil
}

// waitExit waits until pid (started at startTime) is gone or a zombie.
func waitExit(pid int, startTime uint64, timeout time.Duration) bool {
	pfd, err := unix.PidfdOpen(pid, 0)
	if err == nil {
		defer unix.Close(pfd)
		if !linux.ProcessAlive(pid, startTime) {
			return true
		}
		fds := []unix.PollFd{{Fd: int32(pfd), Events: unix.POLLIN}}
		deadline := time.Now().Add(timeout)
		for {
			left := time.Until(deadline)
			if left <= 0 {
				return !linux.ProcessAlive(pid, startTime)
			}
			n, err := unix.Poll(fds, int(left/time.Millisecond)+1)
			if err == unix.EINTR {
				continue
			}
			if err != nil || n > 0 {
				return !linux.ProcessAlive(pid, startTime) || n > 0
			}
		}
	}
	deadline := time.Now().Add(timeout)
	for linux.ProcessAlive(pid, startTime) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return true
}

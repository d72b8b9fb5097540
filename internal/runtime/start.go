package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/runtime/forkinit"
	"github.com/hako-dev/hako/internal/runtime/hooks"
	"github.com/hako-dev/hako/internal/runtime/sysprog"
	"golang.org/x/sys/unix"
)

// Start runs the process of a created container.
//
// The init waits reading exec.fifo, which it holds open read-write. Start
// writes one byte, then waits until the fifo has no reader left: the init's
// descriptor is close-on-exec, so that happens exactly when the init
// executes the container process (or dies). An init that fails after the
// byte writes its error into the fifo before exiting; Start reads it back.
func (c *Container) Start() error {
	unlock, err := lock(c.dir)
	if err != nil {
		return err
	}
	defer unlock()
	if st := c.status(); st != StatusCreated {
		return c.notRunning("start", st)
	}
	p := filepath.Join(c.dir, fifoName)
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENXIO) || errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("cannot start container %q: its init has exited: %w", c.st.ID, errdefs.ErrConflict)
		}
		return fmt.Errorf("open exec fifo: %w", err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte{0}); err != nil {
		return fmt.Errorf("signal start: %w", err)
	}
	// Wait for POLLERR: no reader left.
	pfd := []unix.PollFd{{Fd: int32(fd), Events: 0}}
	for {
		_, err := unix.Poll(pfd, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("wait for start: %w", err)
		}
		if pfd[0].Revents&(unix.POLLERR|unix.POLLHUP) != 0 {
			break
		}
	}
	initErr := readInitError(p)
	os.Remove(p)
	if rec, ok := execRecord(initErr); ok {
		// The forked init's trampoline could not execute the process.
		m := c.st.meta()
		if m.Process != nil && len(m.Process.Args) > 0 {
			ce := forkinit.ExecFailure(m.Process, c.st.Rootfs, unix.Errno(rec.Errno))
			return fmt.Errorf("start container %q: %w", c.st.ID, ce)
		}
		return fmt.Errorf("start container %q: exec: %v", c.st.ID, unix.Errno(rec.Errno))
	}
	if initErr != "" {
		return fmt.Errorf("start container %q: %s", c.st.ID, initErr)
	}
	if h := c.st.meta().Hooks; h != nil {
		if err := c.poststart(); err != nil {
			return err
		}
	}
	return nil
}

// readInitError drains what a failing init left in the fifo.
func readInitError(p string) string {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return ""
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	n, err := unix.Read(fd, buf)
	if err != nil || n <= 0 {
		return ""
	}
	return string(buf[:n])
}

// poststart runs the poststart hooks. A failing hook stops the container
// and fails the operation (runtime-spec lifecycle, step 9); the container
// is then stopped and can be deleted.
func (c *Container) poststart() error {
	h := c.st.meta().Hooks
	if h == nil || len(h.Poststart) == 0 {
		return nil
	}
	if err := hooks.Run("poststart", h.Poststart, c.ociState(StatusRunning)); err != nil {
		c.killAll()
		return fmt.Errorf("container %q stopped: %w", c.st.ID, err)
	}
	return nil
}

// execRecord recognizes the record the trampoline writes into exec.fifo
// when it cannot execute the container's process.
func execRecord(s string) (sysprog.Record, bool) {
	var rec sysprog.Record
	if len(s) != int(unsafe.Sizeof(rec)) {
		return rec, false
	}
	rec = *(*sysprog.Record)(unsafe.Pointer(unsafe.StringData(s)))
	return rec, rec.Magic == sysprog.ExecMagic
}

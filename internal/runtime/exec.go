package runtime

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/runtime/forkinit"
	"github.com/hako-dev/hako/internal/runtime/linux"
	"github.com/hako-dev/hako/internal/runtime/process"
	"github.com/hako-dev/hako/internal/runtime/spec"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// ExecOptions are the options of exec.
type ExecOptions struct {
	Stdin, Stdout, Stderr *os.File
	ConsoleSocket         string
	PidFile               string
	PreserveFDs           int
}

// Process is a process started in a container by Exec.
type Process struct {
	Pid int
	// Console is the terminal's master side when the process has a
	// terminal and no console socket was given.
	Console *os.File
	child   *process.Child
}

// Wait waits for the process and returns its exit status the way a shell
// reports it: the exit code, or 128+signal.
func (p *Process) Wait() (int, error) {
	ws, err := p.child.Wait()
	if err != nil {
		return -1, err
	}
	return exitStatus(ws), nil
}

// Release forgets the process without waiting for it (exec --detach).
func (p *Process) Release() {
	if p.child.PidFD >= 0 {
		unix.Close(p.child.PidFD)
		p.child.PidFD = -1
	}
}

func exitStatus(ws syscall.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return -1
}

// Exec starts p inside the running container.
func (c *Container) Exec(p *specs.Process, o *ExecOptions) (_ *Process, retErr error) {
	st := c.status()
	if st != StatusRunning && st != StatusCreated {
		return nil, c.notRunning("exec in", st)
	}
	if err := spec.ValidateProcess(p); err != nil {
		return nil, err
	}
	// The child needs the process and the few container settings applied
	// per process; the mounts, devices and resources are the container's
	// and stay out of the message (it is decoded at every exec).
	s := c.ExecBase()
	if s == nil {
		return nil, fmt.Errorf("exec in container %q: it has no configuration: %w", c.st.ID, errdefs.ErrConflict)
	}
	s.Process = p
	sp := &process.Spawn{
		Mode:        "exec",
		Stdin:       orStd(o.Stdin, os.Stdin),
		Stdout:      orStd(o.Stdout, os.Stdout),
		Stderr:      orStd(o.Stderr, os.Stderr),
		PreserveFDs: o.PreserveFDs,
		CgroupFD:    -1,
	}
	pid := strconv.Itoa(c.st.Pid)
	kinds, err := linux.ForeignNamespaces(c.st.Pid)
	if err != nil {
		if !linux.ProcessAlive(c.st.Pid, c.st.PidStart) {
			return nil, c.notRunning("exec in", StatusStopped)
		}
		return nil, fmt.Errorf("exec in container %q: %w", c.st.ID, err)
	}
	for _, kind := range kinds {
		sp.Join = append(sp.Join, process.Join{Kind: kind, Path: "/proc/" + pid + "/ns/" + kind.Proc})
	}
	mgr, err := c.cgroup()
	if err != nil {
		return nil, err
	}
	entry, err := mgr.Entry()
	if err != nil {
		return nil, err
	}
	defer entry.Close()
	sp.CgroupFD = entry.CloneInto
	// The container may have exited meanwhile: check before and after.
	if !linux.ProcessAlive(c.st.Pid, c.st.PidStart) {
		return nil, c.notRunning("exec in", StatusStopped)
	}
	if forkinit.Unsupported(s, forkinit.Exec) == "" {
		p, err := c.execForked(s, sp, o, entry)
		if !errors.Is(err, forkinit.ErrFallback) {
			return p, err
		}
	}
	child, err := process.Start(sp)
	if err != nil {
		return nil, fmt.Errorf("exec in container %q: %w", c.st.ID, err)
	}
	defer child.Conn.Close()
	defer func() {
		if retErr != nil {
			child.Kill()
			child.Wait()
		}
	}()
	cfg := &process.InitConfig{
		Spec:        s,
		ID:          c.st.ID,
		Bundle:      c.st.Bundle,
		PreserveFDs: o.PreserveFDs,
		ClampLimits: c.rt.clamp || s.Annotations[ClampAnnotation] == "true",
		State:       c.ociState(StatusRunning),
	}
	if err := child.Conn.Send(&process.Message{Type: process.MsgConfig, Config: cfg}, entry.Tasks...); err != nil {
		return nil, c.initDied(child, err)
	}
	_, fds, err := child.Conn.Expect(process.MsgReady)
	if err != nil {
		return nil, c.initDied(child, err)
	}
	res := &Process{Pid: child.Pid, child: child}
	if len(fds) > 0 {
		res.Console = os.NewFile(uintptr(fds[0]), "console")
		if o.ConsoleSocket != "" {
			err := sendConsole(o.ConsoleSocket, res.Console)
			res.Console.Close()
			res.Console = nil
			if err != nil {
				return nil, err
			}
		}
	}
	// The child executes the process now; an exec failure arrives as an
	// error message, success as the socket closing.
	if m, _, err := child.Conn.Recv(); err == nil && m.Type == process.MsgError {
		child.Wait()
		return nil, &process.ChildError{Msg: m.Error, Code: m.Code}
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, child.Pid); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// Package initproc is the child side of the runtime: the container's init
// until it executes the container process, and the child that enters a
// running container for exec. The protocol with the runtime is described in
// package process.
//
// Everything here runs on the main OS thread, locked from package
// initialization: namespaces joined with setns, credentials, capabilities,
// no_new_privs and the seccomp filter are per-thread, and the final execve
// from this thread is what carries them into the container process.
package initproc

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	goruntime "runtime"
	"strconv"
	"syscall"

	"github.com/hako-dev/hako/internal/runtime/cgroups"
	"github.com/hako-dev/hako/internal/runtime/process"
	"golang.org/x/sys/unix"
)

// The main thread is locked from package initialization, but only in a
// runtime child: every other face of the binary (the runtime's verbs, the
// daemon, the CLI) is better off without it, since a locked main goroutine
// makes the scheduler hand its P between threads each time it blocks
// (~1 ms of futex round trips in a runtime verb).
//
// The child then runs from here, during package initialization: the
// packages initialized after this one (in the full binary, the daemon's,
// the CLI's and the CRI's, with their protobuf registries) are of no use
// to it, and every container start would wait for them.
func init() {
	if Mode() != "" {
		goruntime.LockOSThread()
		Main()
	}
}

// Mode returns the child role from the environment, or "" when this process
// is not a runtime child.
func Mode() string { return os.Getenv(process.EnvMode) }

// Main runs the child and never returns.
func Main() {
	mode := os.Getenv(process.EnvMode)
	syncFD := envFD(process.EnvSyncFD)
	fifoFD := envFD(process.EnvFifoFD)
	mntFD := envFD(process.EnvMntFD)
	if fd := envFD(process.EnvExtraFD); fd >= 0 {
		unix.Close(fd) // the runtime binary this process was executed from
	}
	unshare, _ := strconv.ParseUint(os.Getenv(process.EnvUnshare), 10, 64)
	for _, k := range []string{process.EnvMode, process.EnvSyncFD, process.EnvFifoFD, process.EnvMntFD, process.EnvExtraFD, process.EnvUnshare, process.EnvHeld} {
		os.Unsetenv(k)
	}
	if syncFD < 0 {
		fmt.Fprintln(os.Stderr, "hako: this is the container init; it is started by the runtime, not by hand")
		os.Exit(2)
	}
	conn := process.NewConn(syncFD)
	c := &child{conn: conn, fifoFD: fifoFD, mntFD: mntFD}
	var err error
	if unshare != 0 {
		// In the user namespace nsenter joined: the namespaces made here
		// are its own (this thread's; it executes the container process).
		if err := unix.Unshare(int(unshare)); err != nil {
			c.fail(fmt.Errorf("create namespaces in the joined user namespace: %w", err))
		}
		if unshare&unix.CLONE_NEWPID != 0 {
			// The new PID namespace is for children: its PID 1, the init,
			// is one, and this process holds it (see process.MsgPid).
			c.fail(hold(mode, syncFD, fifoFD, mntFD))
		}
	}
	switch mode {
	case "create":
		err = c.create()
	case "exec":
		err = c.exec()
	default:
		err = fmt.Errorf("unknown init mode %q", mode)
	}
	// Only failures get here: execve does not return.
	c.fail(err)
}

type child struct {
	conn   *process.Conn
	fifoFD int
	mntFD  int
	// started is set once the runtime that created us may be gone, so
	// errors must go to stderr instead of the socket.
	detachedErr bool
}

// fail reports err to the runtime (or to stderr once the runtime is gone)
// and exits with a shell-like status.
func (c *child) fail(err error) {
	code := 1
	var ee *execError
	if errors.As(err, &ee) {
		code = ee.code
	}
	msg := err.Error()
	if c.detachedErr {
		// The runtime that created us is gone; "start" reads the error
		// back from the fifo (see runtime.Container.Start).
		if c.fifoFD >= 0 {
			b := []byte(msg)
			if len(b) > 4096 {
				b = b[:4096]
			}
			unix.Write(c.fifoFD, b)
		}
		fmt.Fprintf(os.Stderr, "hako: %s\n", msg)
	} else if c.conn.Send(&process.Message{Type: process.MsgError, Error: msg, Code: code}) != nil {
		fmt.Fprintf(os.Stderr, "hako: %s\n", msg)
	}
	os.Exit(code)
}

func envFD(name string) int {
	v := os.Getenv(name)
	if v == "" {
		return -1
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return -1
	}
	return n
}

// config receives the configuration and joins the cgroup v1 hierarchies
// whose "tasks" files come with it. This runs on the main thread, which
// is locked and is the one that executes the container process.
func (c *child) config() (*process.InitConfig, error) {
	msg, fds, err := c.conn.Expect(process.MsgConfig)
	if err != nil {
		return nil, err
	}
	if err := cgroups.JoinTasks(fds); err != nil {
		return nil, err
	}
	return msg.Config, nil
}

// joinMountNS enters the mount namespace fd on this thread. The thread
// first stops sharing its filesystem context with the other Go threads,
// which setns(CLONE_NEWNS) requires.
func joinMountNS(fd int) error {
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("unshare filesystem context: %w", err)
	}
	if err := unix.Setns(fd, unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("join mount namespace: %w", err)
	}
	unix.Close(fd)
	return nil
}

// hold forks the init (this binary again, PID 1 of the PID namespace
// just made, the same descriptors and roles, killed if this process
// dies), names it to the runtime, relays signals to it and exits as it
// does. It returns only on failure.
func hold(mode string, syncFD, fifoFD, mntFD int) error {
	env := []string{process.EnvMode + "=" + mode, process.EnvSyncFD + "=" + strconv.Itoa(syncFD), process.EnvHeld + "=1"}
	top := syncFD
	if fifoFD >= 0 {
		env = append(env, process.EnvFifoFD+"="+strconv.Itoa(fifoFD))
		top = max(top, fifoFD)
	}
	if mntFD >= 0 {
		env = append(env, process.EnvMntFD+"="+strconv.Itoa(mntFD))
		top = max(top, mntFD)
	}
	// The descriptors keep their numbers: stdio, the preserved ones
	// (3 up to the socket, where the runtime put them) and ours.
	files := make([]uintptr, top+1)
	for i := range files {
		files[i] = uintptr(i)
	}
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs)
	pid, err := syscall.ForkExec("/proc/self/exe", []string{"hako-init"}, &syscall.ProcAttr{
		Dir: "/", Env: env, Files: files,
		Sys: &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	})
	if err != nil {
		return fmt.Errorf("start the container's init in its PID namespace: %w", err)
	}
	conn := process.NewConn(syncFD)
	err = conn.Send(&process.Message{Type: process.MsgPid, Pid: pid})
	// The init speaks from here on: this process lets go of the socket
	// (the runtime sees its end when the init executes), the fifo and
	// the terminal.
	for fd := 0; fd <= top; fd++ {
		unix.Close(fd)
	}
	if err != nil {
		unix.Kill(pid, unix.SIGKILL)
	}
	go func() {
		for s := range sigs {
			if s == unix.SIGCHLD || s == unix.SIGURG {
				continue
			}
			unix.Kill(pid, s.(syscall.Signal))
		}
	}()
	var ws syscall.WaitStatus
	for {
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != syscall.EINTR {
			break
		}
	}
	if ws.Signaled() {
		signal.Reset(ws.Signal())
		unix.Kill(os.Getpid(), ws.Signal())
		os.Exit(128 + int(ws.Signal()))
	}
	os.Exit(ws.ExitStatus())
	return nil
}

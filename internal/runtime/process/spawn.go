package process

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	goruntime "runtime"
	"strconv"
	"syscall"

	"github.com/hako-dev/hako/internal/runtime/linux"
	"golang.org/x/sys/unix"
)

// Join is a namespace to enter by path.
type Join struct {
	Kind linux.NSKind
	Path string
}

// Spawn describes a child to start.
type Spawn struct {
	Mode string // "create" or "exec"
	// Cloneflags are the namespaces to create.
	Cloneflags  uintptr
	UIDMappings []syscall.SysProcIDMap
	GIDMappings []syscall.SysProcIDMap
	// Join are namespaces to enter before the child starts. pid, network,
	// ipc, uts and cgroup namespaces are entered by the spawning thread
	// (setns affects only it, and the child inherits it); the mount
	// namespace by the child's own thread; a user or time namespace by
	// nsenter(1), which is single-threaded as setns for those requires.
	Join []Join
	// TimeOffsets for a new time namespace (clock name → offset).
	TimeOffsets map[string]TimeOffset
	Stdin       *os.File
	Stdout      *os.File
	Stderr      *os.File
	// PreserveFDs passes the caller's descriptors 3..3+n-1 on unchanged.
	PreserveFDs int
	// Fifo is exec.fifo, opened read-write (create only).
	Fifo *os.File
	// CgroupFD, when >= 0, places the child in that cgroup v2 directory at
	// clone time (CLONE_INTO_CGROUP).
	CgroupFD int
}

// TimeOffset is a clock offset for a time namespace.
type TimeOffset struct {
	Secs     int64
	Nanosecs uint32
}

// Child is a started child and the runtime's end of its socket.
type Child struct {
	Conn *Conn
	// Pid is the init's; Holder, when not 0, the process that forked it
	// (a new PID namespace in a joined user namespace): PidFD, Wait and
	// the signals are the holder's, which relays signals to the init and
	// exits as it does.
	Pid    int
	Holder int
	// PidFD refers to the child for signals and waiting, immune to pid
	// reuse; -1 where the kernel has no pidfds.
	PidFD  int
	waited bool
	status syscall.WaitStatus
}

// Proc is the process the runtime waits for and signals: the holder, if
// any, else the init.
func (c *Child) Proc() int {
	if c.Holder != 0 {
		return c.Holder
	}
	return c.Pid
}

// Wait reaps the child and returns its wait status.
func (c *Child) Wait() (syscall.WaitStatus, error) {
	if c.waited {
		return c.status, nil
	}
	for {
		_, err := syscall.Wait4(c.Proc(), &c.status, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("wait for pid %d: %w", c.Pid, err)
		}
		break
	}
	c.waited = true
	if c.PidFD >= 0 {
		unix.Close(c.PidFD)
		c.PidFD = -1
	}
	return c.status, nil
}

// Kill sends SIGKILL to the child unless it was already reaped.
func (c *Child) Kill() {
	if c.waited {
		return
	}
	if c.PidFD >= 0 {
		unix.PidfdSendSignal(c.PidFD, unix.SIGKILL, nil, 0)
		return
	}
	unix.Kill(c.Proc(), unix.SIGKILL)
}

// Start starts the runtime's binary as a child described by s.
//
// It uses syscall.ForkExec rather than os/exec: os.StartProcess probes
// pidfd support by forking a throwaway child first, which costs a fork on
// every runtime invocation.
func Start(s *Spawn) (_ *Child, retErr error) {
	conn, childEnd, err := NewPair()
	if err != nil {
		return nil, err
	}
	defer childEnd.Close()
	defer func() {
		if retErr != nil {
			conn.Close()
		}
	}()

	files := []uintptr{fdOf(s.Stdin), fdOf(s.Stdout), fdOf(s.Stderr)}
	if s.Stdin == nil {
		null, err := os.Open(os.DevNull)
		if err != nil {
			return nil, err
		}
		defer null.Close()
		files[0] = null.Fd()
	}
	for i := 0; i < s.PreserveFDs; i++ {
		files = append(files, uintptr(3+i))
	}
	env := []string{EnvMode + "=" + s.Mode}
	addFD := func(name string, f *os.File) {
		env = append(env, name+"="+strconv.Itoa(len(files)))
		files = append(files, f.Fd())
	}
	addFD(EnvSyncFD, childEnd)
	if s.Fifo != nil {
		addFD(EnvFifoFD, s.Fifo)
	}
	var userJoins, threadJoins []Join
	for _, j := range s.Join {
		switch j.Kind.Flag {
		case unix.CLONE_NEWNS:
			f, err := os.Open(j.Path)
			if err != nil {
				return nil, fmt.Errorf("open mount namespace %s: %w", j.Path, err)
			}
			defer f.Close()
			addFD(EnvMntFD, f)
		case unix.CLONE_NEWUSER, unix.CLONE_NEWTIME:
			userJoins = append(userJoins, j)
		default:
			threadJoins = append(threadJoins, j)
		}
	}

	cloneflags := s.Cloneflags
	held := false
	for _, j := range userJoins {
		if j.Kind.Flag != unix.CLONE_NEWUSER {
			continue
		}
		// Namespaces made by clone would belong to the runtime's user
		// namespace, in which the container's root has no privilege
		// (it could not even change its mounts' propagation): the child
		// makes them itself, inside the user namespace it joins.
		// A new PID namespace there is made the same way; its PID 1 must
		// then be a child of the one that made it (the holder, see
		// MsgPid), which the runtime learns first.
		late := cloneflags & (unix.CLONE_NEWNS | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC | unix.CLONE_NEWNET | unix.CLONE_NEWPID)
		held = late&unix.CLONE_NEWPID != 0
		cloneflags &^= late
		if late != 0 {
			env = append(env, EnvUnshare+"="+strconv.FormatUint(uint64(late), 10))
		}
	}
	exe, err := linux.SealedExe(3)
	if err != nil {
		return nil, fmt.Errorf("prepare runtime binary: %w", err)
	}
	defer unix.Close(exe)

	pidfd := -1
	attr := &syscall.ProcAttr{
		Dir:   "/",
		Env:   env,
		Files: files,
		Sys: &syscall.SysProcAttr{
			Cloneflags:                 cloneflags,
			UidMappings:                s.UIDMappings,
			GidMappings:                s.GIDMappings,
			GidMappingsEnableSetgroups: true,
			PidFD:                      &pidfd,
		},
	}
	if cloneflags&unix.CLONE_NEWUSER != 0 {
		// Become root of the new user namespace before executing the
		// runtime binary; the host's uid 0 is usually not mapped in it,
		// and an unmapped caller loses every capability at execve.
		attr.Sys.Credential = &syscall.Credential{Uid: 0, Gid: 0}
	}
	if s.CgroupFD >= 0 {
		attr.Sys.UseCgroupFD = true
		attr.Sys.CgroupFD = s.CgroupFD
	}
	// The binary is one of the child's files, so that ForkExec places it
	// itself. A descriptor outside Files may be overwritten in the child:
	// ForkExec moves its error pipe and clashing descriptors to numbers
	// from max(len(Files), max(Files))+1 up, and the exec would then run
	// whatever landed there (EACCES on a pipe, under parallel starts).
	exeFD := len(attr.Files)
	attr.Files = append(attr.Files, uintptr(exe))
	attr.Env = append(attr.Env, EnvExtraFD+"="+strconv.Itoa(exeFD))
	path, argv := linux.FdPath(exeFD), []string{"hako-init"}
	if len(userJoins) > 0 {
		if path, argv, err = viaNsenter(userJoins, exeFD); err != nil {
			return nil, err
		}
	}
	pid, err := startIn(path, argv, attr, threadJoins, s.TimeOffsets)
	if err != nil {
		return nil, err
	}
	ch := &Child{Conn: conn, Pid: pid, PidFD: pidfd}
	if held {
		// The holder names the init it forked before anything else (an
		// EOF, once our copy of its end is closed, if it died).
		childEnd.Close()
		msg, _, err := conn.Expect(MsgPid)
		if err != nil {
			ch.Kill()
			ch.Wait()
			return nil, err
		}
		ch.Holder, ch.Pid = ch.Pid, msg.Pid
	}
	return ch, nil
}

func fdOf(f *os.File) uintptr {
	if f == nil {
		return 0
	}
	return f.Fd()
}

// startIn starts cmd from a thread that first entered the namespaces in
// joins (and a new time namespace with offsets).
func startIn(path string, argv []string, attr *syscall.ProcAttr, joins []Join, offsets map[string]TimeOffset) (int, error) {
	var pid int
	err := RunIn(joins, offsets, func() (err error) {
		pid, err = syscall.ForkExec(path, argv, attr)
		return err
	})
	return pid, startErr(err)
}

// RunIn runs start (which forks) on a thread that first entered the
// namespaces in joins (and a new time namespace with offsets), so that
// the child starts in them. That thread is never unlocked, so it dies
// with its goroutine instead of serving other goroutines in foreign
// namespaces. Without joins, start runs on the calling goroutine.
func RunIn(joins []Join, offsets map[string]TimeOffset, start func() error) error {
	if len(joins) == 0 && offsets == nil {
		return start()
	}
	type result struct {
		err error
	}
	resc := make(chan result, 1)
	go func() {
		goruntime.LockOSThread()
		for _, j := range joins {
			fd, err := unix.Open(j.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				resc <- result{err: fmt.Errorf("open %s namespace %s: %w", j.Kind.Spec, j.Path, err)}
				return
			}
			err = unix.Setns(fd, int(j.Kind.Flag))
			unix.Close(fd)
			if err != nil {
				resc <- result{err: fmt.Errorf("join %s namespace %s: %w", j.Kind.Spec, j.Path, err)}
				return
			}
		}
		if offsets != nil {
			if err := newTimeNS(offsets); err != nil {
				resc <- result{err: err}
				return
			}
		}
		resc <- result{start()}
	}()
	return (<-resc).err
}

// InPidNS runs start (which forks) with the calling thread's namespace
// for children set to the pid namespace at path, and sets it back after:
// a thread may enter a pid namespace below its own and return to its own.
// This spares RunIn's fresh thread (~0.1 ms) when the pid namespace is
// the only one the runtime must enter (the child enters the others).
func InPidNS(path string, start func() error) error {
	goruntime.LockOSThread()
	own, err := unix.Open("/proc/thread-self/ns/pid_for_children", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		goruntime.UnlockOSThread()
		return fmt.Errorf("open own pid namespace: %w", err)
	}
	defer unix.Close(own)
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		goruntime.UnlockOSThread()
		return fmt.Errorf("open pid namespace %s: %w", path, err)
	}
	err = unix.Setns(fd, unix.CLONE_NEWPID)
	unix.Close(fd)
	if err != nil {
		goruntime.UnlockOSThread()
		return fmt.Errorf("join pid namespace %s: %w", path, err)
	}
	startErr := start()
	if err := unix.Setns(own, unix.CLONE_NEWPID); err != nil {
		// The thread stays locked, and so out of other goroutines'
		// reach, with the container's pid namespace for children.
		return errors.Join(startErr, fmt.Errorf("return to own pid namespace: %w", err))
	}
	goruntime.UnlockOSThread()
	return startErr
}

func newTimeNS(offsets map[string]TimeOffset) error {
	if err := unix.Unshare(unix.CLONE_NEWTIME); err != nil {
		return fmt.Errorf("create time namespace: %w", err)
	}
	var lines string
	for clock, o := range offsets {
		lines += fmt.Sprintf("%s %d %d\n", clock, o.Secs, o.Nanosecs)
	}
	if lines == "" {
		return nil
	}
	if err := os.WriteFile("/proc/thread-self/timens_offsets", []byte(lines), 0); err != nil {
		return fmt.Errorf("linux.timeOffsets: %w", err)
	}
	return nil
}

// viaNsenter makes the child run through nsenter(1), which enters the user
// (and time) namespaces single-threaded and then executes the runtime
// binary, passed as a descriptor.
func viaNsenter(joins []Join, exeFD int) (string, []string, error) {
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return "", nil, fmt.Errorf("entering an existing user or time namespace needs nsenter(1) from util-linux: %w", err)
	}
	args := []string{"nsenter"}
	for _, j := range joins {
		switch j.Kind.Flag {
		case unix.CLONE_NEWUSER:
			args = append(args, "--user="+j.Path)
		case unix.CLONE_NEWTIME:
			args = append(args, "--time="+j.Path)
		}
	}
	args = append(args, "--", linux.FdPath(exeFD))
	return nsenter, args, nil
}

func startErr(err error) error {
	if err == nil {
		return nil
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("start container init: %w", err)
}

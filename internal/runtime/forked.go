package runtime

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"unsafe"

	"github.com/hako-dev/hako/internal/runtime/cgroups"
	"github.com/hako-dev/hako/internal/runtime/forkinit"
	"github.com/hako-dev/hako/internal/runtime/hooks"
	"github.com/hako-dev/hako/internal/runtime/linux"
	"github.com/hako-dev/hako/internal/runtime/process"
	"github.com/hako-dev/hako/internal/runtime/sysprog"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// createForked creates the container with a forked init (package
// forkinit). It returns forkinit.ErrFallback, having changed nothing,
// when the configuration needs the re-executed init.
func (r *Runtime) createForked(c *Container, s *specs.Spec, sp *process.Spawn, o *CreateOptions, mode forkinit.Mode, unshareCgroupNS bool) (_ *Created, retErr error) {
	for _, j := range sp.Join {
		if j.Kind.Flag == unix.CLONE_NEWNS || j.Kind.Flag == unix.CLONE_NEWUSER || j.Kind.Flag == unix.CLONE_NEWTIME {
			return nil, forkinit.ErrFallback
		}
	}
	if sp.TimeOffsets != nil || len(sp.UIDMappings) > 0 || len(sp.GIDMappings) > 0 {
		return nil, forkinit.ErrFallback
	}
	pidNS, _, nsJoins, err := openJoins(sp.Join)
	defer closeJoins(-1, nsJoins)
	if err != nil {
		return nil, err
	}
	conn, childEnd, err := process.NewPair()
	if err != nil {
		return nil, err
	}
	defer childEnd.Close()
	defer func() {
		if retErr != nil {
			conn.Close()
		}
	}()
	stdio, closeStdio, err := spawnStdio(sp)
	if err != nil {
		return nil, err
	}
	defer closeStdio()
	mgr := c.mgr
	inside := cgroups.StartsInside(mgr)
	cfg := &forkinit.Config{
		Mode:            mode,
		Spec:            s,
		ID:              c.st.ID,
		Rootfs:          c.st.Rootfs,
		Bundle:          c.st.Bundle,
		NoPivot:         o.NoPivot,
		NoNewKeyring:    o.NoNewKeyring,
		PreserveFDs:     o.PreserveFDs,
		Clamp:           r.clamp || s.Annotations[ClampAnnotation] == "true",
		UnshareCgroupNS: unshareCgroupNS,
		Hooks:           s.Hooks != nil && (len(s.Hooks.Prestart) > 0 || len(s.Hooks.CreateRuntime) > 0),
		TasksPaths:      cgroups.TasksFiles(mgr),
		Namespaces:      nsJoins,
		Stdio:           stdio,
		Sync:            int(childEnd.Fd()),
		Fifo:            -1,
		MntNS:           -1,
	}
	cfg.CgroupV1, cfg.CgroupV2 = cgroupMounts(mgr)
	if !inside {
		// cgroup v1: the init makes and joins its cgroup itself, or
		// waits for a byte once it is made.
		// A cgroup namespace is made once the init is in its cgroup,
		// before its mounts: it then waits for the whole cgroup (the
		// device rules included) rather than make it itself.
		if !unshareCgroupNS {
			cfg.SelfJoin = cgroups.PrepareSelfJoin(mgr, cgroupResources(s))
		}
		cfg.WaitCgroup = cfg.SelfJoin == nil
	}
	if sp.Fifo != nil {
		cfg.Fifo = int(sp.Fifo.Fd())
	}
	in, err := forkinit.Compile(cfg)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	// The cgroup (~0.9 ms on cgroup v1: a directory and its files per
	// hierarchy) is made while the init builds the container's
	// filesystem, except where the init must start inside it.
	made := false
	makeCgroup := func() error {
		made = true
		return mgr.Create(cgroupResources(s))
	}
	cgroupFD := -1
	if inside {
		if err := makeCgroup(); err != nil {
			return nil, err
		}
		fd, err := unix.Open(cgroups.CloneIntoPath(mgr), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open cgroup: %w", err)
		}
		defer unix.Close(fd)
		cgroupFD = fd
	}
	var pid, pidfd int
	err = inPidNS(pidNS, func() (err error) {
		pid, pidfd, err = in.Start(sp.Cloneflags, cgroupFD)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("start container init: %w", err)
	}
	childEnd.Close()
	child := &process.Child{Conn: conn, Pid: pid, PidFD: pidfd}
	defer func() {
		if retErr != nil {
			child.Kill()
			child.Wait()
		}
	}()
	if !made {
		if err := makeCgroup(); err != nil {
			return nil, err
		}
	}
	if cfg.WaitCgroup {
		// The init joins its cgroup on this byte.
		if err := sendByte(conn); err != nil {
			return nil, forkedDied(in, child, err)
		}
	}
	ps, err := linux.ReadProcStat(pid)
	if err != nil {
		return nil, fmt.Errorf("container init exited at start: %w", err)
	}
	c.st.Pid, c.st.PidStart = pid, ps.StartTime
	// The state is complete now: written while the init builds the
	// container rather than after.
	if err := writeState(c.dir, c.st); err != nil {
		return nil, err
	}
	var console *os.File
	defer func() {
		if retErr != nil && console != nil {
			console.Close()
		}
	}()
	for {
		b, fds, err := readPacketFDs(conn)
		if err != nil || len(b) != 1 {
			for _, fd := range fds {
				unix.Close(fd)
			}
			return nil, forkedFailed(in, child, b, err)
		}
		if b[0] == 'R' {
			if s.Process.Terminal {
				if console, err = takeConsole(fds, o.ConsoleSocket); err != nil {
					return nil, err
				}
			}
			break
		}
		// 'H': the prestart and createRuntime hooks, before pivot_root.
		st := c.ociState(StatusCreated)
		if err := hooks.Run("prestart", s.Hooks.Prestart, st); err != nil {
			return nil, err
		}
		if err := hooks.Run("createRuntime", s.Hooks.CreateRuntime, st); err != nil {
			return nil, err
		}
		if err := sendByte(conn); err != nil {
			return nil, forkedDied(in, child, err)
		}
	}
	res := &Created{Container: c, child: child, forked: in, Console: console}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, pid); err != nil {
			return nil, err
		}
	}
	if mode == forkinit.Create {
		conn.Close()
	}
	return res, nil
}

// openJoins opens the namespaces a forked child joins: the child enters
// them itself, but for a pid namespace, which is for the children of
// whoever enters it: the runtime enters that one around the fork
// (inPidNS), and it is returned as a path. mntFD is the mount
// namespace's descriptor, or -1.
func openJoins(joins []process.Join) (pidNS string, mntFD int, ns []forkinit.NSJoin, err error) {
	mntFD = -1
	for _, j := range joins {
		if j.Kind.Flag == unix.CLONE_NEWPID {
			pidNS = j.Path
			continue
		}
		fd, err := unix.Open(j.Path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", mntFD, ns, fmt.Errorf("open %s namespace %s: %w", j.Kind.Spec, j.Path, err)
		}
		if j.Kind.Flag == unix.CLONE_NEWNS {
			mntFD = fd
		} else {
			ns = append(ns, forkinit.NSJoin{FD: fd, Flag: int(j.Kind.Flag), Name: j.Kind.Spec})
		}
	}
	return pidNS, mntFD, ns, nil
}

func closeJoins(mntFD int, ns []forkinit.NSJoin) {
	if mntFD >= 0 {
		unix.Close(mntFD)
	}
	for _, j := range ns {
		unix.Close(j.FD)
	}
}

// inPidNS runs start in the pid namespace at path, if any.
func inPidNS(path string, start func() error) error {
	if path == "" {
		return start()
	}
	return process.InPidNS(path, start)
}

// spawnStdio returns the descriptors to give the child as its stdio.
func spawnStdio(sp *process.Spawn) ([3]int, func(), error) {
	fds := [3]int{0, 1, 2}
	done := func() {}
	for i, f := range []*os.File{sp.Stdin, sp.Stdout, sp.Stderr} {
		if f != nil {
			fds[i] = int(f.Fd())
		}
	}
	if sp.Stdin == nil {
		null, err := os.Open(os.DevNull)
		if err != nil {
			return fds, done, err
		}
		fds[0] = int(null.Fd())
		done = func() { null.Close() }
	}
	return fds, done, nil
}

func sendByte(conn *process.Conn) error {
	_, err := unix.Write(conn.Fd(), []byte{1})
	return err
}

// readPacket reads one packet from the forked child: a 1-byte step, a
// 16-byte sysprog.Record, or nothing (EOF: it executed, or died).
func readPacket(conn *process.Conn) ([]byte, error) {
	b, fds, err := readPacketFDs(conn)
	for _, fd := range fds {
		unix.Close(fd)
	}
	return b, err
}

// readPacketFDs reads a packet and the descriptors it carries.
func readPacketFDs(conn *process.Conn) ([]byte, []int, error) {
	buf, oob := make([]byte, 64), make([]byte, unix.CmsgSpace(4*4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(conn.Fd(), buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		var fds []int
		if oobn > 0 {
			if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for i := range msgs {
					if f, err := unix.ParseUnixRights(&msgs[i]); err == nil {
						fds = append(fds, f...)
					}
				}
			}
		}
		return buf[:n], fds, nil
	}
}

// takeConsole keeps the terminal's master side the child sent, or hands
// it to the console socket.
func takeConsole(fds []int, consoleSocket string) (*os.File, error) {
	if len(fds) == 0 {
		return nil, errors.New("the container's init sent no terminal")
	}
	for _, fd := range fds[1:] {
		unix.Close(fd)
	}
	f := os.NewFile(uintptr(fds[0]), "console")
	if consoleSocket == "" {
		return f, nil
	}
	err := sendConsole(consoleSocket, f)
	f.Close()
	return nil, err
}

// forkedFailed turns what the forked child sent instead of the next step
// into an error: its failure record, or its exit status.
func forkedFailed(in *forkinit.Init, child *process.Child, b []byte, err error) error {
	if err == nil && len(b) == int(unsafe.Sizeof(sysprog.Record{})) {
		rec := *(*sysprog.Record)(unsafe.Pointer(&b[0]))
		child.Wait()
		return in.Fail(rec)
	}
	return forkedDied(in, child, err)
}

func forkedDied(in *forkinit.Init, child *process.Child, err error) error {
	// The child may have reported its failure while we were sending.
	if b, rerr := readPacket(child.Conn); rerr == nil && len(b) == int(unsafe.Sizeof(sysprog.Record{})) {
		return forkedFailed(in, child, b, nil)
	}
	child.Kill()
	ws, werr := child.Wait()
	switch {
	case werr != nil:
		return fmt.Errorf("container init died: %v", werr)
	case ws.Signaled() && ws.Signal() != unix.SIGKILL:
		return fmt.Errorf("container init was killed by signal %v", ws.Signal())
	case ws.Exited() && ws.ExitStatus() != 0:
		return fmt.Errorf("container init exited with status %d", ws.ExitStatus())
	}
	if err == nil {
		err = errors.New("it closed its socket")
	}
	return fmt.Errorf("container init exited: %w", err)
}

// startForked lets a forked init created for run execute its process.
func (c *Created) startForked() error {
	child := c.child
	if err := sendByte(child.Conn); err != nil {
		return forkedDied(c.forked, child, err)
	}
	b, err := readPacket(child.Conn)
	child.Conn.Close()
	if err == nil && len(b) == 0 {
		return c.poststart() // EOF: executed
	}
	if err == nil && len(b) == int(unsafe.Sizeof(sysprog.Record{})) {
		rec := *(*sysprog.Record)(unsafe.Pointer(&b[0]))
		child.Wait()
		return c.forked.Fail(rec)
	}
	return fmt.Errorf("start container %q: %v", c.st.ID, err)
}

// execForked starts an exec'd process with a forked child; ErrFallback
// when it needs the re-executed one.
func (c *Container) execForked(s *specs.Spec, sp *process.Spawn, o *ExecOptions, entry *cgroups.Entry) (_ *Process, retErr error) {
	for _, j := range sp.Join {
		if j.Kind.Flag == unix.CLONE_NEWUSER || j.Kind.Flag == unix.CLONE_NEWTIME {
			return nil, forkinit.ErrFallback
		}
	}
	pidNS, mntFD, nsJoins, err := openJoins(sp.Join)
	defer closeJoins(mntFD, nsJoins)
	if err != nil {
		return nil, err
	}
	conn, childEnd, err := process.NewPair()
	if err != nil {
		return nil, err
	}
	defer childEnd.Close()
	defer conn.Close()
	stdio, closeStdio, err := spawnStdio(sp)
	if err != nil {
		return nil, err
	}
	defer closeStdio()
	cfg := &forkinit.Config{
		Mode:          forkinit.Exec,
		Spec:          s,
		ID:            c.st.ID,
		Bundle:        c.st.Bundle,
		ContainerRoot: "/proc/" + strconv.Itoa(c.st.Pid) + "/root",
		PreserveFDs:   o.PreserveFDs,
		Clamp:         c.rt.clamp || s.Annotations[ClampAnnotation] == "true",
		Stdio:         stdio,
		Sync:          int(childEnd.Fd()),
		Fifo:          -1,
		MntNS:         mntFD,
		Namespaces:    nsJoins,
		Tasks:         entry.Tasks,
	}
	in, err := forkinit.Compile(cfg)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	var pid, pidfd int
	err = inPidNS(pidNS, func() (err error) {
		pid, pidfd, err = in.Start(0, entry.CloneInto)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("exec in container %q: start: %w", c.st.ID, err)
	}
	childEnd.Close()
	child := &process.Child{Conn: conn, Pid: pid, PidFD: pidfd}
	var console *os.File
	if s.Process.Terminal {
		b, fds, err := readPacketFDs(conn)
		if err != nil || len(b) != 1 || b[0] != 'T' {
			for _, fd := range fds {
				unix.Close(fd)
			}
			return nil, forkedFailed(in, child, b, err)
		}
		if console, err = takeConsole(fds, o.ConsoleSocket); err != nil {
			child.Kill()
			child.Wait()
			return nil, err
		}
	}
	b, err := readPacket(conn)
	if err != nil || len(b) != 0 {
		if console != nil {
			console.Close()
		}
		return nil, forkedFailed(in, child, b, err)
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, pid); err != nil {
			child.Kill()
			child.Wait()
			return nil, err
		}
	}
	return &Process{Pid: pid, child: child, Console: console}, nil
}

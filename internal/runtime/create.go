package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/runtime/cgroups"
	"github.com/hako-dev/hako/internal/runtime/forkinit"
	"github.com/hako-dev/hako/internal/runtime/hooks"
	"github.com/hako-dev/hako/internal/runtime/linux"
	"github.com/hako-dev/hako/internal/runtime/process"
	"github.com/hako-dev/hako/internal/runtime/rootfs"
	"github.com/hako-dev/hako/internal/runtime/seccomp"
	"github.com/hako-dev/hako/internal/runtime/spec"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// CreateOptions are the per-container options of create and run.
type CreateOptions struct {
	Bundle string
	// Stdio of the container's process; nil inherits the caller's.
	Stdin, Stdout, Stderr *os.File
	// ConsoleSocket receives the terminal's master side when
	// process.terminal is set. Empty: the caller gets it (Console).
	ConsoleSocket string
	// PidFile receives the init's pid.
	PidFile      string
	NoPivot      bool
	NoNewKeyring bool
	PreserveFDs  int
}

// Created is the result of creating a container.
type Created struct {
	*Container
	// Console is the terminal's master side when process.terminal is set
	// and no console socket was given.
	Console *os.File
	child   *process.Child
	// forked is the compiled init when the init is a forked child
	// (package forkinit) rather than the re-executed runtime binary.
	forked *forkinit.Init
}

// Create creates a container that waits for Start.
func (r *Runtime) Create(id string, o *CreateOptions) (*Created, error) {
	return r.create(id, o, true)
}

func (r *Runtime) create(id string, o *CreateOptions, viaFifo bool) (_ *Created, retErr error) {
	if err := CheckID(id); err != nil {
		return nil, err
	}
	bundle, err := filepath.Abs(o.Bundle)
	if err != nil {
		return nil, err
	}
	s, raw, err := spec.Load(bundle)
	if err != nil {
		return nil, err
	}
	if err := spec.Validate(s, bundle, checkSeccomp); err != nil {
		return nil, err
	}
	if s.Process.Terminal && o.ConsoleSocket == "" && viaFifo {
		return nil, fmt.Errorf("process.terminal is set: a --console-socket is needed to receive the terminal: %w", errdefs.ErrInvalidArgument)
	}

	if err := os.MkdirAll(r.root, 0o700); err != nil {
		return nil, fmt.Errorf("create state root %s: %w", r.root, err)
	}
	dir := filepath.Join(r.root, id)
	if err := os.Mkdir(dir, 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("container %q already exists: %w", id, errdefs.ErrAlreadyExists)
		}
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	unlock, err := lock(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer unlock()
	c := &Container{rt: r, dir: dir, st: &savedState{
		ID:      id,
		Bundle:  bundle,
		Rootfs:  spec.RootfsPath(s, bundle),
		Created: time.Now().UTC(),
	}}
	c.st.setSpecRaw(s, raw)
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, c.cleanupFailed())
		}
	}()

	mgr, err := cgroups.New(cgroups.Config{Path: s.Linux.CgroupsPath, ID: id, Systemd: r.systemdCgroup})
	if err != nil {
		return nil, err
	}
	c.mgr = mgr
	c.st.CgroupPaths = mgr.Paths()
	c.st.OwnPIDNS = spec.HasNewNamespace(s, specs.PIDNamespace)
	// Saved before anything runs, so a crash leaves enough to clean up.
	if err := writeState(dir, c.st); err != nil {
		return nil, err
	}

	sp := &process.Spawn{
		Mode:        "create",
		Stdin:       orStd(o.Stdin, os.Stdin),
		Stdout:      orStd(o.Stdout, os.Stdout),
		Stderr:      orStd(o.Stderr, os.Stderr),
		PreserveFDs: o.PreserveFDs,
		CgroupFD:    -1,
	}
	unshareCgroupNS := false
	for _, ns := range s.Linux.Namespaces {
		kind, _ := linux.LookupNS(string(ns.Type))
		switch {
		case ns.Path != "":
			sp.Join = append(sp.Join, process.Join{Kind: kind, Path: ns.Path})
		case ns.Type == specs.CgroupNamespace:
			// Created by the init once it is in its cgroup, so the
			// namespace is rooted there.
			unshareCgroupNS = true
		case ns.Type == specs.TimeNamespace:
			sp.TimeOffsets = map[string]process.TimeOffset{}
			for clock, off := range s.Linux.TimeOffsets {
				sp.TimeOffsets[clock] = process.TimeOffset{Secs: off.Secs, Nanosecs: off.Nanosecs}
			}
		default:
			sp.Cloneflags |= kind.Flag
		}
	}
	sp.UIDMappings = idMaps(s.Linux.UIDMappings)
	sp.GIDMappings = idMaps(s.Linux.GIDMappings)
	if viaFifo {
		fifo, err := makeFifo(dir)
		if err != nil {
			return nil, err
		}
		defer fifo.Close()
		sp.Fifo = fifo
	}

	mode := forkinit.Run
	if viaFifo {
		mode = forkinit.Create
	}
	if forkinit.Unsupported(s, mode) == "" {
		res, err := r.createForked(c, s, sp, o, mode, unshareCgroupNS)
		if !errors.Is(err, forkinit.ErrFallback) {
			return res, err
		}
	}

	// The cgroup and the init's process start (~1.5 ms) overlap where
	// they can: on cgroup v1 alone the init starts first and joins its
	// cgroup when the config arrives. A process that must start inside
	// its cgroup (CLONE_INTO_CGROUP: cgroup v2, and the unified hierarchy
	// of a hybrid host) needs the cgroup first.
	var entry *cgroups.Entry
	defer func() {
		if entry != nil {
			entry.Close()
		}
	}()
	makeCgroup := func() (err error) {
		if err := mgr.Create(cgroupResources(s)); err != nil {
			return err
		}
		entry, err = mgr.Entry()
		return err
	}
	inside := cgroups.StartsInside(mgr)
	if inside {
		if err := makeCgroup(); err != nil {
			return nil, err
		}
		sp.CgroupFD = entry.CloneInto
	}
	child, err := process.Start(sp)
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			child.Kill()
			child.Wait()
			child.Conn.Close()
		}
	}()
	if !inside {
		if err := makeCgroup(); err != nil {
			return nil, err
		}
	}
	ps, err := linux.ReadProcStat(child.Pid)
	if err != nil {
		return nil, fmt.Errorf("container init exited at start: %w", err)
	}
	c.st.Pid, c.st.PidStart = child.Pid, ps.StartTime

	// The init has no use for the resources (the runtime applies them),
	// and each type it need not decode shortens its start.
	initSpec := *s
	if s.Linux != nil {
		l := *s.Linux
		l.Resources = nil
		initSpec.Linux = &l
	}
	cfg := &process.InitConfig{
		Spec:            &initSpec,
		ID:              id,
		Bundle:          bundle,
		Rootfs:          c.st.Rootfs,
		NoPivot:         o.NoPivot,
		UnshareCgroupNS: unshareCgroupNS,
		NoNewKeyring:    o.NoNewKeyring,
		PreserveFDs:     o.PreserveFDs,
		ClampLimits:     r.clamp || s.Annotations[ClampAnnotation] == "true",
		// Hooks run during create see "created": runtime-spec's lifecycle
		// puts them (steps 3-5) after the environment is created (step 2,
		// the "creating" state).
		State: c.ociState(StatusCreated),
	}
	cfg.CgroupV1, cfg.CgroupV2 = cgroupMounts(mgr)
	if s.Hooks != nil && (len(s.Hooks.Prestart) > 0 || len(s.Hooks.CreateRuntime) > 0) {
		cfg.Hooks = true
	}
	if err := child.Conn.Send(&process.Message{Type: process.MsgConfig, Config: cfg}, entry.Tasks...); err != nil {
		return nil, c.initDied(child, err)
	}
	if cfg.Hooks {
		if _, _, err := child.Conn.Expect(process.MsgHooks); err != nil {
			return nil, c.initDied(child, err)
		}
		st := c.ociState(StatusCreated)
		if err := hooks.Run("prestart", s.Hooks.Prestart, st); err != nil {
			return nil, err
		}
		if err := hooks.Run("createRuntime", s.Hooks.CreateRuntime, st); err != nil {
			return nil, err
		}
		if err := child.Conn.Send(&process.Message{Type: process.MsgHooksDone}); err != nil {
			return nil, c.initDied(child, err)
		}
	}
	_, fds, err := child.Conn.Expect(process.MsgReady)
	if err != nil {
		return nil, c.initDied(child, err)
	}
	res := &Created{Container: c, child: child}
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
	if err := writeState(dir, c.st); err != nil {
		return nil, err
	}
	if o.PidFile != "" {
		if err := writePidFile(o.PidFile, child.Pid); err != nil {
			return nil, err
		}
	}
	if viaFifo {
		child.Conn.Close()
	}
	return res, nil
}

// ClampAnnotation set to "true" in a configuration asks the runtime to
// clamp rlimits and oomScoreAdj the kernel refuses instead of failing.
const ClampAnnotation = "org.hako.runtime.clamp-limits"

func orStd(f, def *os.File) *os.File {
	if f != nil {
		return f
	}
	return def
}

func idMaps(m []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	if len(m) == 0 {
		return nil
	}
	out := make([]syscall.SysProcIDMap, len(m))
	for i, e := range m {
		out[i] = syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)}
	}
	return out
}

func makeFifo(dir string) (*os.File, error) {
	p := filepath.Join(dir, fifoName)
	if err := unix.Mkfifo(p, 0o600); err != nil {
		return nil, fmt.Errorf("create exec fifo: %w", err)
	}
	// Opened read-write: never blocks, and it makes the init the fifo's
	// reader for as long as it waits (see Start).
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open exec fifo: %w", err)
	}
	return f, nil
}

// initDied turns a broken conversation with the init into the init's own
// error when it sent one, or its exit status.
func (c *Container) initDied(child *process.Child, err error) error {
	var ce *process.ChildError
	if errors.As(err, &ce) {
		return err
	}
	child.Kill()
	ws, werr := child.Wait()
	// The init may have reported its error while we were busy sending:
	// the message outlives it in the socket.
	for {
		m, _, rerr := child.Conn.Recv()
		if rerr != nil {
			break
		}
		if m.Type == process.MsgError {
			return &process.ChildError{Msg: m.Error, Code: m.Code}
		}
	}
	switch {
	case werr != nil:
		return fmt.Errorf("container init died: %v", werr)
	case ws.Signaled() && ws.Signal() != unix.SIGKILL:
		return fmt.Errorf("container init was killed by signal %v", ws.Signal())
	case ws.Exited() && ws.ExitStatus() != 0:
		return fmt.Errorf("container init exited with status %d: %w", ws.ExitStatus(), err)
	}
	return fmt.Errorf("container init exited: %w", err)
}

// cleanupFailed removes what a failed create made: processes, cgroup,
// state directory.
func (c *Container) cleanupFailed() error {
	var errs []error
	if c.mgr != nil {
		if c.st.Pid > 0 {
			c.mgr.Kill(unix.SIGKILL)
		}
		if err := destroyCgroup(c.mgr); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(c.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func checkSeccomp(s *specs.Spec) error {
	if s.Linux == nil || s.Linux.Seccomp == nil {
		return nil
	}
	return seccomp.Validate(s.Linux.Seccomp)
}

func writePidFile(path string, pid int) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(abs), "."+filepath.Base(abs))
	if err := os.WriteFile(tmp, []byte(fmt.Sprint(pid)), 0o644); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	if err := os.Rename(tmp, abs); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	return nil
}

// cgroupMounts tells the init what a "cgroup" mount should show.
func cgroupMounts(mgr cgroups.Manager) ([]rootfs.CgroupMount, string) {
	paths := mgr.Paths()
	if p, ok := paths[""]; ok && len(paths) == 1 {
		return nil, p
	}
	var out []rootfs.CgroupMount
	for _, h := range cgroups.V1Hierarchies(mgr) {
		out = append(out, rootfs.CgroupMount{Name: h.Name, Source: h.Source, Links: h.Links})
	}
	return out, ""
}

// Package forkinit builds a container's init as a program of system calls
// (package sysprog) that a forked child of the runtime runs, instead of
// executing the runtime binary a second time (package initproc).
//
// The runtime knows every argument of the init's work before it forks:
// mounts, device nodes, pivot_root, masked and read-only paths, hostname,
// sysctls, rlimits, capabilities, credentials, the seccomp filter. Running
// them in a forked child saves the second Go process start (its runtime
// start-up, page faults and the configuration's decoding: ~1.5 ms of a
// container's start). The program ends by executing the trampoline
// (package trampoline) from a sealed memfd: it waits for "start", then
// executes the container's process, so the init's /proc/PID/exe is never
// the runtime's binary while the container can reach it (CVE-2019-5736).
//
// What the program cannot express falls back to initproc: Unsupported
// says why. That is user namespaces, time namespaces, createContainer and
// startContainer hooks, a seccomp agent, and the rarer process settings
// (personality, scheduler, I/O priority, CPU affinity, memory policy,
// AppArmor and SELinux labels).
package forkinit

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"github.com/hako-dev/hako/internal/mount"
	"github.com/hako-dev/hako/internal/runtime/cgroups"
	"github.com/hako-dev/hako/internal/runtime/linux"
	"github.com/hako-dev/hako/internal/runtime/process"
	"github.com/hako-dev/hako/internal/runtime/rootfs"
	"github.com/hako-dev/hako/internal/runtime/sysprog"
	"github.com/hako-dev/hako/internal/runtime/sysprog/trampoline"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Mode is what the init is for.
type Mode int

const (
	// Create: the init waits on exec.fifo for "start" (runtime create).
	Create Mode = iota
	// Run: the init waits for a byte on the socket (runtime run, and the
	// engine's supervised containers).
	Run
	// Exec: the child enters a running container and executes at once.
	Exec
)

// Config is what the init needs, as the runtime holds it.
type Config struct {
	Mode   Mode
	Spec   *specs.Spec
	ID     string
	Rootfs string // create/run: host path of the rootfs
	Bundle string
	// ContainerRoot (exec) is /proc/PID/root of the container's init.
	ContainerRoot string
	NoPivot       bool
	NoNewKeyring  bool
	PreserveFDs   int
	Clamp         bool
	// CgroupV1 and CgroupV2 say what a "cgroup" mount shows (see
	// rootfs.Config).
	CgroupV1 []rootfs.CgroupMount
	CgroupV2 string
	// UnshareCgroupNS creates the cgroup namespace once in the cgroup.
	UnshareCgroupNS bool
	// Hooks: stop before pivot_root for the runtime's prestart and
	// createRuntime hooks (a byte "H" on the socket, then wait for one).
	Hooks bool
	// TasksPaths are the cgroup v1 "tasks" files the init joins its
	// cgroup by (writing "0"), before pivot_root. WaitCgroup: the runtime
	// makes the cgroup after the fork, and the init waits for a byte on
	// the socket before it joins. SelfJoin instead: the init makes the
	// directories itself (the runtime makes them too, and applies the
	// limits before the container's process starts).
	WaitCgroup bool
	TasksPaths []string
	SelfJoin   *cgroups.SelfJoin

	// Descriptors of the runtime the child needs.
	Stdio [3]int
	Sync  int // the child's end of the SOCK_SEQPACKET pair
	Fifo  int // create: exec.fifo, opened read-write; else -1
	MntNS int // exec: the container's mount namespace; else -1
	// Namespaces are the existing namespaces to join (exec: the
	// container's) besides a mount and a pid namespace: the child enters
	// them itself, first. (A pid namespace is for the children of whoever
	// joins it, so the runtime joins that one around the fork:
	// process.InPidNS.)
	Namespaces []NSJoin
	Tasks      []int
}

// NSJoin is a namespace to enter: a descriptor of it, its CLONE_NEW* flag
// and its name for errors ("network").
type NSJoin struct {
	FD   int
	Flag int
	Name string
}

// Unsupported returns why the forked init cannot start s, or "".
func Unsupported(s *specs.Spec, mode Mode) string {
	if !trampoline.Available() {
		return "no trampoline for this architecture"
	}
	p := s.Process
	if p == nil {
		return "no process"
	}
	switch {
	case p.ApparmorProfile != "" || p.SelinuxLabel != "":
		return "security labels"
	case p.IOPriority != nil || p.Scheduler != nil || p.ExecCPUAffinity != nil:
		return "scheduling settings"
	}
	l := s.Linux
	if l == nil {
		return "no linux section"
	}
	if l.Personality != nil || l.MemoryPolicy != nil {
		return "personality or memory policy"
	}
	if sc := l.Seccomp; sc != nil && sc.ListenerPath != "" {
		return "seccomp agent"
	}
	if h := s.Hooks; h != nil && (len(h.CreateContainer) > 0 || len(h.StartContainer) > 0) {
		return "createContainer or startContainer hooks"
	}
	hasMnt := false
	for _, ns := range l.Namespaces {
		switch ns.Type {
		case specs.UserNamespace, specs.TimeNamespace:
			return "user or time namespace"
		case specs.MountNamespace:
			if ns.Path != "" && mode != Exec {
				return "joined mount namespace"
			}
			hasMnt = true
		}
	}
	if mode == Exec {
		return ""
	}
	if !hasMnt {
		return "no mount namespace"
	}
	if prop := l.RootfsPropagation; prop != "" {
		for _, f := range mount.ParseOptions([]string{prop}).Propagation {
			if f&unix.MS_SHARED != 0 {
				return "shared rootfs propagation"
			}
		}
	}
	for _, m := range s.Mounts {
		if len(mount.ParseOptions(m.Options).Extensions) > 0 {
			return "mount extensions"
		}
	}
	return ""
}

// Init is a compiled init.
type Init struct {
	prog  *sysprog.Prog
	memfd int
	cfg   *Config
}

// Close releases what Compile made; call it once the child runs.
func (in *Init) Close() {
	if in.memfd >= 0 {
		unix.Close(in.memfd)
		in.memfd = -1
	}
}

// Start forks the init. cloneFlags are the namespaces to create; cgroupFD
// >= 0 places it in that cgroup v2 directory.
func (in *Init) Start(cloneFlags uintptr, cgroupFD int) (pid, pidfd int, err error) {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return 0, -1, fmt.Errorf("set non-dumpable: %w", err)
	}
	return in.prog.Start(cloneFlags, cgroupFD)
}

// Fail turns a record the child wrote into the error it stands for.
func (in *Init) Fail(rec sysprog.Record) error {
	if rec.Magic == sysprog.ExecMagic {
		return in.ExecFailure(unix.Errno(rec.Errno))
	}
	return in.prog.Decode(rec)
}

// ExecFailure describes the failure to execute the container's process.
func (in *Init) ExecFailure(errno unix.Errno) *process.ChildError {
	root := in.cfg.Rootfs
	if in.cfg.Mode == Exec {
		root = in.cfg.ContainerRoot
	}
	return ExecFailure(in.cfg.Spec.Process, root, errno)
}

// ExecFailure describes the trampoline's failure (errno) to execute p in
// the container whose root is root, as the re-executed init words it.
func ExecFailure(p *specs.Process, root string, errno unix.Errno) *process.ChildError {
	file := p.Args[0]
	if errno == unix.ENOENT && !strings.Contains(file, "/") {
		return &process.ChildError{Code: 127, Msg: fmt.Sprintf("exec %q: executable file not found in $PATH", file)}
	}
	exists := false
	if errno == unix.ENOENT {
		f := file
		if !path.IsAbs(f) {
			f = path.Join(p.Cwd, f)
		}
		if fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			if t, err := linux.OpenInRoot(fd, f, unix.O_PATH); err == nil {
				exists = true
				unix.Close(t)
			}
			unix.Close(fd)
		}
	}
	return process.ExecFailure(file, errno, exists)
}

// compiler builds the program.
type compiler struct {
	p    *sysprog.Prog
	c    *Config
	s    *specs.Spec
	free []sysprog.Slot
	root sysprog.Slot
	// hostRoot is the runtime's own descriptor of the rootfs, to look at
	// the image before the fork.
	hostRoot                  int
	cgroupsMade, cgroupJoined bool
	// done lists the mount destinations made so far: paths under them
	// are not the image's.
	done []string
	// statfs caches statfsFlags.
	statfs map[string]uintptr
}

func (k *compiler) slot() sysprog.Slot {
	if n := len(k.free); n > 0 {
		s := k.free[n-1]
		k.free = k.free[:n-1]
		return s
	}
	return k.p.NewSlot()
}

func (k *compiler) close(s sysprog.Slot) {
	k.p.Sys("close", unix.SYS_CLOSE, sysprog.Fd(s))
	k.free = append(k.free, s)
}

func (k *compiler) sys(desc string, nr uintptr, args ...sysprog.Arg) *sysprog.Op {
	return k.p.Sys(desc, nr, args...)
}

func (k *compiler) sys2(what, detail string, nr uintptr, args ...sysprog.Arg) *sysprog.Op {
	return k.p.Sys2(what, detail, nr, args...)
}

func (k *compiler) ptr(v any, p unsafe.Pointer) sysprog.Arg {
	k.p.Keep(v)
	return sysprog.Ptr(p)
}

// openInRoot opens p inside the rootfs (RESOLVE_IN_ROOT) into a slot.
func (k *compiler) openInRoot(what, p string, flags int) sysprog.Slot {
	how := &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
	s := k.slot()
	k.sys2(what, "open "+p, unix.SYS_OPENAT2, sysprog.Fd(k.root), sysprog.Str(p), k.ptr(how, unsafe.Pointer(how)), sysprog.Imm(unsafe.Sizeof(*how))).OutTo(s)
	return s
}

// fresh reports whether p lies on a mount made earlier in this container
// (so the image says nothing about it).
func (k *compiler) fresh(p string) bool {
	for _, d := range k.done {
		if d == "/" || p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// ErrFallback says the configuration needs the re-executed init (initproc).
var ErrFallback = errors.New("forkinit: needs the re-executed init")

// imageCheck looks at p in the image: whether it exists (as a directory
// if dir), and ErrFallback when a symlink on the way does not resolve
// (the re-executed init follows those and creates their targets).
func (k *compiler) imageCheck(p string, dir bool) (bool, error) {
	if k.fresh(p) {
		return false, nil
	}
	flags := unix.O_PATH
	if dir {
		flags |= unix.O_DIRECTORY
	}
	fd, err := linux.OpenInRoot(k.hostRoot, p, flags)
	if err == nil {
		unix.Close(fd)
		return true, nil
	}
	if err != unix.ENOENT {
		return false, &os.PathError{Op: "open", Path: p, Err: err}
	}
	comps := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i := range comps {
		sub := "/" + strings.Join(comps[:i+1], "/")
		fd, err := linux.OpenInRoot(k.hostRoot, sub, unix.O_PATH|unix.O_NOFOLLOW)
		if err != nil {
			break
		}
		var st unix.Stat_t
		serr := unix.Fstat(fd, &st)
		unix.Close(fd)
		if serr == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return false, ErrFallback
		}
	}
	return false, nil
}

// mkdirAll makes sure directory p exists in the rootfs and opens it.
func (k *compiler) mkdirAll(what, p string) (sysprog.Slot, error) {
	p = path.Clean("/" + p)
	if p == "/" {
		s := k.slot()
		k.sys2(what, "open /", unix.SYS_OPENAT, sysprog.Fd(k.root), sysprog.Str("."), sysprog.Imm(unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC)).OutTo(s)
		return s, nil
	}
	exists, err := k.imageCheck(p, true)
	if err != nil {
		return 0, err
	}
	if exists {
		return k.openInRoot(what, p, unix.O_PATH|unix.O_DIRECTORY), nil
	}
	// Start below the deepest mount made here that p is on: that one
	// exists.
	from := ""
	for _, d := range k.done {
		if d != "/" && len(d) > len(from) && (p == d || strings.HasPrefix(p, d+"/")) {
			from = d
		}
	}
	if from == p {
		return k.openInRoot(what, p, unix.O_PATH|unix.O_DIRECTORY), nil
	}
	prev := k.root
	if from != "" {
		prev = k.openInRoot(what, from, unix.O_PATH|unix.O_DIRECTORY)
	}
	comps := strings.Split(strings.TrimPrefix(p, "/"), "/")
	skip := 0
	if from != "" {
		skip = len(strings.Split(strings.TrimPrefix(from, "/"), "/"))
	}
	for i, c := range comps {
		if i < skip {
			continue
		}
		sub := "/" + strings.Join(comps[:i+1], "/")
		k.sys2(what, "mkdir "+sub, unix.SYS_MKDIRAT, sysprog.Fd(prev), sysprog.Str(c), sysprog.Imm(0o755)).Tolerate(0, unix.EEXIST)
		s := k.openInRoot(what, sub, unix.O_PATH|unix.O_DIRECTORY)
		if prev != k.root {
			k.close(prev)
		}
		prev = s
	}
	return prev, nil
}

// mkfile makes sure a file exists at p in the rootfs and opens it.
func (k *compiler) mkfile(what, p string) (sysprog.Slot, error) {
	p = path.Clean("/" + p)
	exists, err := k.imageCheck(p, false)
	if err != nil {
		return 0, err
	}
	if !exists {
		dir, name := path.Split(p)
		d, err := k.mkdirAll(what, dir)
		if err != nil {
			return 0, err
		}
		w := k.slot()
		k.sys2(what, "open "+dir, unix.SYS_OPENAT, sysprog.Fd(d), sysprog.Str("."), sysprog.Imm(unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC)).OutTo(w)
		k.close(d)
		f := k.slot()
		k.sys2(what, "create "+p, unix.SYS_OPENAT, sysprog.Fd(w), sysprog.Str(name), sysprog.Imm(unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC), sysprog.Imm(0o644)).OutTo(f).Tolerate(1, unix.EEXIST)
		k.close(f)
		k.close(w)
	}
	return k.openInRoot(what, p, unix.O_PATH), nil
}

// Compile builds the init for c.
func Compile(c *Config) (_ *Init, retErr error) {
	s := c.Spec
	if why := Unsupported(s, c.Mode); why != "" {
		return nil, fmt.Errorf("%w (%s)", ErrFallback, why)
	}
	k := &compiler{p: &sysprog.Prog{}, c: c, s: s, hostRoot: -1}
	in := &Init{prog: k.p, memfd: -1, cfg: c}
	defer func() {
		if retErr != nil {
			in.Close()
		}
		if k.hostRoot >= 0 {
			unix.Close(k.hostRoot)
		}
	}()

	// The descriptors the child keeps are moved to a block from base up;
	// everything else the runtime has open is closed in the child.
	type keep struct {
		src     int
		cloexec bool
	}
	var keeps []keep
	add := func(fd int, cloexec bool) int {
		keeps = append(keeps, keep{fd, cloexec})
		return len(keeps) - 1
	}
	for _, fd := range c.Stdio {
		add(fd, true)
	}
	syncIdx := add(c.Sync, !(c.Mode == Run || c.Mode == Exec))
	fifoIdx := -1
	if c.Fifo >= 0 {
		fifoIdx = add(c.Fifo, false)
	}
	mntIdx := -1
	if c.MntNS >= 0 {
		mntIdx = add(c.MntNS, true)
	}
	var nsIdx []int
	for _, j := range c.Namespaces {
		nsIdx = append(nsIdx, add(j.FD, true))
	}
	var taskIdx []int
	for _, fd := range c.Tasks {
		taskIdx = append(taskIdx, add(fd, true))
	}
	memfd, err := trampoline.Memfd()
	if err != nil {
		// Executable memfds can be forbidden (vm.memfd_noexec = 2).
		return nil, fmt.Errorf("%w (%v)", ErrFallback, err)
	}
	in.memfd = memfd
	memIdx := add(memfd, true)
	base := 3 + c.PreserveFDs
	for _, kp := range keeps {
		base = max(base, kp.src+1)
	}
	at := func(i int) int { return base + i }
	waitFD, errFD := -1, at(syncIdx)
	switch c.Mode {
	case Create:
		waitFD, errFD = at(fifoIdx), at(fifoIdx)
	case Run:
		waitFD = at(syncIdx)
	}
	if err := trampoline.Fill(memfd, waitFD, errFD); err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrFallback, err)
	}

	p := k.p
	p.Report = c.Sync // until the descriptors are moved
	// Until it executes the trampoline, the child's /proc/PID/exe is the
	// runtime's binary: keep processes of the container (exec joins its
	// pid namespace) from opening it. Start made the runtime itself
	// non-dumpable before forking, so there is no window.
	p.Sys("set non-dumpable", unix.SYS_PRCTL, sysprog.Imm(unix.PR_SET_DUMPABLE), sysprog.Imm(0), sysprog.Imm(0), sysprog.Imm(0), sysprog.Imm(0))
	// Set up the descriptors.
	for i, kp := range keeps {
		fl := 0
		if kp.cloexec {
			fl = unix.O_CLOEXEC
		}
		p.Sys("move descriptors", unix.SYS_DUP3, sysprog.Imm(kp.src), sysprog.Imm(at(i)), sysprog.Imm(fl))
	}
	p.Report = at(syncIdx)
	for i := 0; i < 3; i++ {
		p.Sys("set up stdio", unix.SYS_DUP3, sysprog.Imm(at(i)), sysprog.Imm(i), sysprog.Imm(0))
	}
	for fd := 3; fd < 3+c.PreserveFDs; fd++ {
		p.Sys("preserve descriptor "+strconv.Itoa(fd), unix.SYS_FCNTL, sysprog.Imm(fd), sysprog.Imm(unix.F_SETFD), sysprog.Imm(0))
	}
	if first := 3 + c.PreserveFDs; first < base {
		p.Sys("close the runtime's descriptors", unix.SYS_CLOSE_RANGE, sysprog.Imm(first), sysprog.Imm(base-1), sysprog.Imm(0))
	}
	p.Sys("close the runtime's descriptors", unix.SYS_CLOSE_RANGE, sysprog.Imm(at(len(keeps))), sysprog.Imm(^uint32(0)), sysprog.Imm(0))
	for i := 0; i < 3; i++ {
		p.Sys("close", unix.SYS_CLOSE, sysprog.Imm(at(i)))
	}
	// The report goes to the runtime's socket, which is the child's
	// sync descriptor from here on.
	k.root = p.NewSlot()
	syncArg := sysprog.Imm(at(syncIdx))

	for i, j := range c.Namespaces {
		p.Sys("join "+j.Name+" namespace", unix.SYS_SETNS, sysprog.Imm(at(nsIdx[i])), sysprog.Imm(j.Flag))
		p.Sys("close", unix.SYS_CLOSE, sysprog.Imm(at(nsIdx[i])))
	}
	if c.Mode == Exec {
		if mntIdx >= 0 {
			p.Sys("join mount namespace", unix.SYS_SETNS, sysprog.Imm(at(mntIdx)), sysprog.Imm(unix.CLONE_NEWNS))
			p.Sys("close", unix.SYS_CLOSE, sysprog.Imm(at(mntIdx)))
		}
		for _, i := range taskIdx {
			p.Sys("join the container's cgroup", unix.SYS_WRITE, sysprog.Imm(at(i)), sysprog.Str("0"), sysprog.Imm(1))
			p.Sys("close", unix.SYS_CLOSE, sysprog.Imm(at(i)))
		}
		// Never keep the runtime's working directory (CVE-2024-21626).
		p.Sys("chdir /", unix.SYS_CHDIR, sysprog.Str("/"))
	} else {
		if err := k.container(syncArg); err != nil {
			return nil, err
		}
	}
	console := -1
	if s.Process.Terminal {
		console = at(len(keeps))
		k.console(console)
	}
	if err := k.process(in); err != nil {
		return nil, err
	}
	switch {
	case console >= 0:
		// "R" (or "T" for exec) carries the terminal's master side.
		tag := "R"
		if c.Mode == Exec {
			tag = "T"
		}
		k.sendFD("report ready", syncArg, tag, console)
		p.Sys("close", unix.SYS_CLOSE, sysprog.Imm(console))
	case c.Mode != Exec:
		p.Sys("report ready", unix.SYS_WRITE, syncArg, sysprog.Str("R"), sysprog.Imm(1))
	}
	argv, envp, err := k.argv(in)
	if err != nil {
		return nil, err
	}
	p.Sys("execute the trampoline", unix.SYS_EXECVEAT, sysprog.Imm(at(memIdx)), sysprog.Str(""), argv, envp, sysprog.Imm(unix.AT_EMPTY_PATH))
	return in, nil
}

// console creates the process's terminal in the container's devpts and
// makes it the controlling terminal and stdio, as initproc's setupConsole;
// the master side is left at descriptor fd for the runtime.
func (k *compiler) console(fd int) {
	p := k.s.Process
	m, peer := k.slot(), k.slot()
	k.sys2("create console", "open /dev/ptmx", unix.SYS_OPENAT, sysprog.Imm(unix.AT_FDCWD), sysprog.Str("/dev/ptmx"), sysprog.Imm(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)).OutTo(m)
	zero := new(int32)
	k.sys2("create console", "unlock pty", unix.SYS_IOCTL, sysprog.Fd(m), sysprog.Imm(unix.TIOCSPTLCK), k.ptr(zero, unsafe.Pointer(zero)))
	// TIOCGPTPEER (Linux 4.13) opens the peer without a path lookup.
	k.sys2("create console", "get pty peer", unix.SYS_IOCTL, sysprog.Fd(m), sysprog.Imm(unix.TIOCGPTPEER), sysprog.Imm(unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)).OutTo(peer)
	if cs := p.ConsoleSize; cs != nil {
		ws := &unix.Winsize{Row: uint16(cs.Height), Col: uint16(cs.Width)}
		k.sys2("set console size", "", unix.SYS_IOCTL, sysprog.Fd(peer), sysprog.Imm(unix.TIOCSWINSZ), k.ptr(ws, unsafe.Pointer(ws)))
	}
	k.sys2("chown console", "", unix.SYS_FCHOWN, sysprog.Fd(peer), sysprog.Imm(p.User.UID), sysprog.Imm(^uint32(0))).Tolerate(0, unix.EINVAL)
	for i := 0; i < 3; i++ {
		k.sys2("console as stdio", "", unix.SYS_DUP3, sysprog.Fd(peer), sysprog.Imm(i), sysprog.Imm(0))
	}
	k.close(peer)
	k.sys2("setsid", "", unix.SYS_SETSID)
	k.sys2("set controlling terminal", "", unix.SYS_IOCTL, sysprog.Imm(0), sysprog.Imm(unix.TIOCSCTTY), sysprog.Imm(0))
	k.sys2("create console", "", unix.SYS_DUP3, sysprog.Fd(m), sysprog.Imm(fd), sysprog.Imm(unix.O_CLOEXEC))
	k.close(m)
}

// sendFD sends a one-byte message carrying descriptor fd on sock.
func (k *compiler) sendFD(desc string, sock sysprog.Arg, tag string, fd int) {
	oob := unix.UnixRights(fd)
	buf := []byte(tag)
	iov := &unix.Iovec{Base: &buf[0]}
	iov.SetLen(len(buf))
	msg := &unix.Msghdr{Iov: iov, Iovlen: 1, Control: &oob[0]}
	msg.SetControllen(len(oob))
	k.p.Keep([]any{oob, buf, iov})
	k.sys(desc, unix.SYS_SENDMSG, sock, k.ptr(msg, unsafe.Pointer(msg)), sysprog.Imm(0))
}

// cgroupDirs makes sure the cgroup's directories exist: made by the init
// itself (SelfJoin), or by the runtime, the init waiting for its byte.
// It comes before the first step that needs them (a cgroup mount), or
// with the join.
func (k *compiler) cgroupDirs(sync sysprog.Arg) {
	if k.cgroupsMade {
		return
	}
	k.cgroupsMade = true
	if j := k.c.SelfJoin; j != nil {
		for _, d := range j.Mkdirs {
			k.sys2("create cgroup", d, unix.SYS_MKDIRAT, sysprog.Imm(unix.AT_FDCWD), sysprog.Str(d), sysprog.Imm(0o755)).Tolerate(0, unix.EEXIST)
		}
		if j.Cpuset != "" {
			for _, f := range [][2]string{{"cpuset.cpus", j.Cpus}, {"cpuset.mems", j.Mems}} {
				s := k.slot()
				p := j.Cpuset + "/" + f[0]
				k.sys2("set cgroup", p, unix.SYS_OPENAT, sysprog.Imm(unix.AT_FDCWD), sysprog.Str(p), sysprog.Imm(unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC)).OutTo(s)
				k.sys2("set cgroup", p, unix.SYS_WRITE, sysprog.Fd(s), sysprog.Bytes([]byte(f[1])), sysprog.Imm(len(f[1])))
				k.close(s)
			}
		}
	} else if k.c.WaitCgroup {
		buf := make([]byte, 1)
		k.sys("wait for the cgroup", unix.SYS_READ, sync, sysprog.Bytes(buf), sysprog.Imm(1)).WantByte()
	}
}

// joinCgroup joins the cgroup (v1: "0" to each "tasks" file), once the
// device nodes are made: the runtime may be writing the device rules
// meanwhile.
func (k *compiler) joinCgroup(sync sysprog.Arg) {
	if k.cgroupJoined {
		return
	}
	k.cgroupJoined = true
	k.cgroupDirs(sync)
	for _, t := range k.c.TasksPaths {
		s := k.slot()
		k.sys2("join cgroup", path.Dir(t), unix.SYS_OPENAT, sysprog.Imm(unix.AT_FDCWD), sysprog.Str(t), sysprog.Imm(unix.O_WRONLY|unix.O_CLOEXEC)).OutTo(s)
		k.sys2("join cgroup", path.Dir(t), unix.SYS_WRITE, sysprog.Fd(s), sysprog.Str("0"), sysprog.Imm(1))
		k.close(s)
	}
}

// container builds the container's filesystem, as rootfs.Prepare, Pivot
// and Finish do, and its hostname and sysctls.
func (k *compiler) container(sync sysprog.Arg) error {
	c, s := k.c, k.s
	p := k.p
	if !c.NoNewKeyring {
		p.Sys("create session keyring", unix.SYS_KEYCTL, sysprog.Imm(unix.KEYCTL_JOIN_SESSION_KEYRING), sysprog.Str("hako-"+c.ID)).Tolerate(0, unix.ENOSYS, unix.EPERM)
	}
	hr, err := unix.Open(c.Rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open rootfs %s: %w", c.Rootfs, err)
	}
	k.hostRoot = hr
	flag := uintptr(unix.MS_SLAVE | unix.MS_REC)
	p.Sys("set the propagation of / (rslave)", unix.SYS_MOUNT, sysprog.Str(""), sysprog.Str("/"), sysprog.Imm(0), sysprog.Imm(flag), sysprog.Imm(0))
	if c.UnshareCgroupNS {
		// The namespace is rooted at the cgroup the init is in when it
		// is made, and a cgroup2 mount shows the namespace's root: join
		// first, and make it before any mount.
		k.joinCgroup(sync)
		p.Sys("create cgroup namespace", unix.SYS_UNSHARE, sysprog.Imm(unix.CLONE_NEWCGROUP))
	}
	p.Sys("bind rootfs "+c.Rootfs+" onto itself", unix.SYS_MOUNT, sysprog.Str(c.Rootfs), sysprog.Str(c.Rootfs), sysprog.Imm(0), sysprog.Imm(unix.MS_BIND|unix.MS_REC), sysprog.Imm(0))
	p.Sys("open rootfs "+c.Rootfs, unix.SYS_OPENAT, sysprog.Imm(unix.AT_FDCWD), sysprog.Str(c.Rootfs), sysprog.Imm(unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC)).OutTo(k.root)

	bindDev := false
	for i := range s.Mounts {
		m := &s.Mounts[i]
		what := "mounts[" + strconv.Itoa(i) + "] (" + rootfs.DescribeSource(m) + " on " + m.Destination + ")"
		if path.Clean(m.Destination) == "/dev" && rootfs.IsBind(m) {
			bindDev = true
		}
		if err := k.mount(what, m, sync); err != nil {
			if errors.Is(err, ErrFallback) {
				return err
			}
			return fmt.Errorf("%s: %w", what, err)
		}
		k.done = append(k.done, path.Clean("/"+m.Destination))
	}
	if !bindDev {
		if err := k.devices(); err != nil {
			return err
		}
	}
	k.joinCgroup(sync)
	if cwd := s.Process.Cwd; cwd != "" && cwd != "/" {
		d, err := k.mkdirAll("process.cwd "+cwd, cwd)
		if err != nil {
			return err
		}
		k.close(d)
	}
	if c.Hooks {
		buf := make([]byte, 1)
		p.Sys("ask for the hooks", unix.SYS_WRITE, sync, sysprog.Str("H"), sysprog.Imm(1))
		p.Sys("wait for the hooks", unix.SYS_READ, sync, sysprog.Bytes(buf), sysprog.Imm(1)).WantByte()
	}
	k.close(k.root)
	k.pivot()
	if s.Hostname != "" {
		p.Sys2("hostname", strconv.Quote(s.Hostname), unix.SYS_SETHOSTNAME, sysprog.Str(s.Hostname), sysprog.Imm(len(s.Hostname)))
	}
	if s.Domainname != "" {
		p.Sys2("domainname", strconv.Quote(s.Domainname), unix.SYS_SETDOMAINNAME, sysprog.Str(s.Domainname), sysprog.Imm(len(s.Domainname)))
	}
	for key, v := range s.Linux.Sysctl {
		f := k.slot()
		desc := "linux.sysctl " + strconv.Quote(key)
		p.Sys(desc, unix.SYS_OPENAT, sysprog.Imm(unix.AT_FDCWD), sysprog.Str("/proc/sys/"+strings.ReplaceAll(key, ".", "/")), sysprog.Imm(unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC)).OutTo(f)
		p.Sys2(desc, "write "+strconv.Quote(v), unix.SYS_WRITE, sysprog.Fd(f), sysprog.Bytes([]byte(v)), sysprog.Imm(len(v)))
		k.close(f)
	}
	return k.finish()
}

func (k *compiler) pivot() {
	c, p := k.c, k.p
	if c.NoPivot {
		p.Sys("chdir "+c.Rootfs, unix.SYS_CHDIR, sysprog.Str(c.Rootfs))
		p.Sys("move rootfs "+c.Rootfs+" to /", unix.SYS_MOUNT, sysprog.Str(c.Rootfs), sysprog.Str("/"), sysprog.Imm(0), sysprog.Imm(unix.MS_MOVE), sysprog.Imm(0))
		p.Sys("chroot", unix.SYS_CHROOT, sysprog.Str("."))
		p.Sys("chdir /", unix.SYS_CHDIR, sysprog.Str("/"))
		return
	}
	old, nw := k.slot(), k.slot()
	p.Sys("open /", unix.SYS_OPENAT, sysprog.Imm(unix.AT_FDCWD), sysprog.Str("/"), sysprog.Imm(unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC)).OutTo(old)
	p.Sys("open "+c.Rootfs, unix.SYS_OPENAT, sysprog.Imm(unix.AT_FDCWD), sysprog.Str(c.Rootfs), sysprog.Imm(unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC)).OutTo(nw)
	p.Sys("enter "+c.Rootfs, unix.SYS_FCHDIR, sysprog.Fd(nw))
	p.Sys("pivot_root into "+c.Rootfs, unix.SYS_PIVOT_ROOT, sysprog.Str("."), sysprog.Str("."))
	p.Sys("enter the old root", unix.SYS_FCHDIR, sysprog.Fd(old))
	p.Sys("make old root a slave", unix.SYS_MOUNT, sysprog.Str(""), sysprog.Str("."), sysprog.Imm(0), sysprog.Imm(unix.MS_SLAVE|unix.MS_REC), sysprog.Imm(0))
	p.Sys("detach old root", unix.SYS_UMOUNT2, sysprog.Str("."), sysprog.Imm(unix.MNT_DETACH))
	p.Sys("chdir /", unix.SYS_CHDIR, sysprog.Str("/"))
	k.close(old)
	k.close(nw)
}

// finish does what rootfs.Finish does, after pivot_root.
func (k *compiler) finish() error {
	s, p := k.s, k.p
	l := s.Linux
	for _, rp := range l.ReadonlyPaths {
		desc := "linux.readonlyPaths " + rp
		p.Sys(desc, unix.SYS_MOUNT, sysprog.Str(rp), sysprog.Str(rp), sysprog.Imm(0), sysprog.Imm(unix.MS_BIND|unix.MS_REC), sysprog.Imm(0)).Tolerate(1, unix.ENOENT)
		flags := uintptr(unix.MS_RDONLY) | k.coveringFlags(rp)
		p.Sys(desc+": remount read-only", unix.SYS_MOUNT, sysprog.Str(""), sysprog.Str(rp), sysprog.Imm(0), sysprog.Imm(unix.MS_BIND|unix.MS_REMOUNT|flags), sysprog.Imm(0))
	}
	for _, mp := range l.MaskedPaths {
		desc := "linux.maskedPaths " + mp
		// An empty read-only tmpfs over a directory, /dev/null over
		// anything else, nothing where there is nothing. The open says
		// which, where a bind of /dev/null that fails on a directory
		// would cost an expedited RCU grace period (the kernel drops
		// the mount it made for it).
		d := k.slot()
		p.Sys(desc+": open", unix.SYS_OPENAT, sysprog.Imm(unix.AT_FDCWD), sysprog.Str(mp), sysprog.Imm(unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC)).
			OutTo(d).Tolerate(3, unix.ENOENT).Tolerate(2, unix.ENOTDIR)
		k.close(d)
		p.Sys(desc, unix.SYS_MOUNT, sysprog.Str("tmpfs"), sysprog.Str(mp), sysprog.Str("tmpfs"), sysprog.Imm(unix.MS_RDONLY), sysprog.Str("size=0k")).
			Tolerate(1, unix.ENOENT).SkipOnSuccess(1)
		p.Sys(desc, unix.SYS_MOUNT, sysprog.Str("/dev/null"), sysprog.Str(mp), sysprog.Imm(0), sysprog.Imm(unix.MS_BIND), sysprog.Imm(0)).Tolerate(0, unix.ENOENT)
	}
	if s.Root.Readonly {
		flags := uintptr(unix.MS_RDONLY) | k.coveringFlags("/")
		p.Sys("root.readonly: remount read-only", unix.SYS_MOUNT, sysprog.Str(""), sysprog.Str("/"), sysprog.Imm(0), sysprog.Imm(unix.MS_BIND|unix.MS_REMOUNT|flags), sysprog.Imm(0))
	}
	if prop := l.RootfsPropagation; prop != "" {
		for _, f := range mount.ParseOptions([]string{prop}).Propagation {
			p.Sys("linux.rootfsPropagation "+prop, unix.SYS_MOUNT, sysprog.Str(""), sysprog.Str("/"), sysprog.Imm(0), sysprog.Imm(f), sysprog.Imm(0))
		}
	}
	return nil
}

// coveringFlags returns the flags to keep when remounting p read-only:
// those of the mount p is on (rootfs.Finish reads them with statfs).
func (k *compiler) coveringFlags(p string) uintptr {
	best := -1
	for i, m := range k.s.Mounts {
		d := path.Clean("/" + m.Destination)
		if d == p || d == "/" || strings.HasPrefix(p, d+"/") {
			if best < 0 || len(d) >= len(path.Clean("/"+k.s.Mounts[best].Destination)) {
				best = i
			}
		}
	}
	keepMask := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME)
	if best < 0 {
		return k.statfsFlags(k.c.Rootfs) & keepMask
	}
	m := &k.s.Mounts[best]
	opts := mount.ParseOptions(m.Options)
	f := opts.Flags & keepMask
	if rootfs.IsBind(m) {
		f |= k.statfsFlags(k.bindSource(m)) &^ opts.ClearFlags & keepMask
	}
	return f
}

func (k *compiler) statfsFlags(p string) uintptr {
	if f, ok := k.statfs[p]; ok {
		return f
	}
	f := statfsFlags(p)
	if k.statfs == nil {
		k.statfs = map[string]uintptr{}
	}
	k.statfs[p] = f
	return f
}

func statfsFlags(p string) uintptr {
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err != nil {
		return 0
	}
	return rootfs.LockedFlags(st.Flags)
}

func (k *compiler) bindSource(m *specs.Mount) string {
	if filepath.IsAbs(m.Source) {
		return m.Source
	}
	return filepath.Join(k.c.Bundle, m.Source)
}

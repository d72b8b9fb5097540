package forkinit

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"unsafe"

	"github.com/hako-dev/hako/internal/runtime/linux"
	"github.com/hako-dev/hako/internal/runtime/rootfs"
	"github.com/hako-dev/hako/internal/runtime/seccomp"
	"github.com/hako-dev/hako/internal/runtime/spec"
	"github.com/hako-dev/hako/internal/runtime/sysprog"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// process applies the process's limits, identity and confinement, as
// initproc's proc.exec does, before the trampoline executes it.
func (k *compiler) process(in *Init) error {
	p := k.s.Process
	if err := k.rlimits(p.Rlimits); err != nil {
		return err
	}
	if p.OOMScoreAdj != nil {
		if err := k.oomScoreAdj(*p.OOMScoreAdj); err != nil {
			return err
		}
	}
	if p.NoNewPrivileges {
		k.sys("process.noNewPrivileges", unix.SYS_PRCTL, sysprog.Imm(unix.PR_SET_NO_NEW_PRIVS), sysprog.Imm(1), sysprog.Imm(0), sysprog.Imm(0), sysprog.Imm(0))
	}
	// The cwd is entered as root first, so that a directory only root can
	// search works; if root is refused (a root-squashed or user-owned 0700
	// volume), it is entered again as the process user below.
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	k.sys("process.cwd "+cwd, unix.SYS_CHDIR, sysprog.Str(cwd)).Tolerate(0, unix.EACCES, unix.EPERM)
	var filter *seccomp.Prepared
	if sc := k.s.Linux.Seccomp; sc != nil {
		f, err := seccomp.Compile(sc)
		if err != nil {
			return err
		}
		if filter, err = f.Prepare(); err != nil {
			return fmt.Errorf("linux.seccomp: %w", err)
		}
	}
	// Without no_new_privs, installing a filter needs CAP_SYS_ADMIN,
	// which the capability drop below may remove: install it first.
	if filter != nil && !p.NoNewPrivileges {
		k.seccomp(filter)
	}
	if err := k.identity(p); err != nil {
		return err
	}
	if p.User.Umask != nil {
		k.sys("umask", unix.SYS_UMASK, sysprog.Imm(*p.User.Umask))
	}
	k.sys("process.cwd "+cwd, unix.SYS_CHDIR, sysprog.Str(cwd))
	if filter != nil && p.NoNewPrivileges {
		k.seccomp(filter)
	}
	return nil
}

func (k *compiler) seccomp(f *seccomp.Prepared) {
	arg := k.ptr(f.Prog, unsafe.Pointer(f.Prog))
	k.p.Keep(f)
	op := k.sys("linux.seccomp: loading the seccomp filter", unix.SYS_SECCOMP, sysprog.Imm(unix.SECCOMP_SET_MODE_FILTER), sysprog.Imm(f.Flags), arg)
	if f.Flags != f.FallbackFlags {
		// Kernels before 4.17 know no SECCOMP_FILTER_FLAG_SPEC_ALLOW.
		op.Tolerate(0, unix.EINVAL).SkipOnSuccess(1)
		k.sys("linux.seccomp: loading the seccomp filter", unix.SYS_SECCOMP, sysprog.Imm(unix.SECCOMP_SET_MODE_FILTER), sysprog.Imm(f.FallbackFlags), arg)
	}
}

// hasCap reports whether the runtime holds capability c (effective).
func hasCap(c int) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[c/32].Effective&(1<<uint(c%32)) != 0
}

func (k *compiler) rlimits(rl []specs.POSIXRlimit) error {
	for i, r := range rl {
		res, ok := linux.RlimitNumber(r.Type)
		if !ok {
			return fmt.Errorf("process.rlimits[%d]: unknown type %q", i, r.Type)
		}
		lim := &unix.Rlimit{Cur: r.Soft, Max: r.Hard}
		var cur unix.Rlimit
		if err := unix.Prlimit(0, res, nil, &cur); err == nil && lim.Max > cur.Max && !hasCap(unix.CAP_SYS_RESOURCE) {
			if !k.c.Clamp {
				return fmt.Errorf("process.rlimits[%d] %s: cannot raise the hard limit to %d above the current %d without CAP_SYS_RESOURCE (lower it, or ask the runtime to clamp limits)", i, r.Type, r.Hard, cur.Max)
			}
			lim.Max = cur.Max
			lim.Cur = min(lim.Cur, lim.Max)
		}
		k.sys2("process.rlimits["+strconv.Itoa(i)+"]", r.Type, unix.SYS_PRLIMIT64, sysprog.Imm(0), sysprog.Imm(res), k.ptr(lim, unsafe.Pointer(lim)), sysprog.Imm(0))
	}
	return nil
}

func (k *compiler) oomScoreAdj(v int) error {
	b, err := os.ReadFile("/proc/self/oom_score_adj")
	if err == nil {
		cur, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if v < cur && !hasCap(unix.CAP_SYS_RESOURCE) {
			if k.c.Clamp {
				return nil // keep the current value, the lowest allowed
			}
			return fmt.Errorf("process.oomScoreAdj %d: cannot go below the current %d without CAP_SYS_RESOURCE (raise it, or ask the runtime to clamp limits)", v, cur)
		}
	}
	desc := "process.oomScoreAdj " + strconv.Itoa(v)
	f := k.slot()
	k.sys(desc, unix.SYS_OPENAT, sysprog.Imm(unix.AT_FDCWD), sysprog.Str("/proc/self/oom_score_adj"), sysprog.Imm(unix.O_WRONLY|unix.O_CLOEXEC)).OutTo(f)
	s := strconv.Itoa(v)
	k.sys(desc, unix.SYS_WRITE, sysprog.Fd(f), sysprog.Str(s), sysprog.Imm(len(s)))
	k.close(f)
	return nil
}

// identity drops capabilities and switches to the process user, as
// initproc's setIdentity.
func (k *compiler) identity(p *specs.Process) error {
	lastCap := linux.LastCap()
	var caps *linux.Caps
	if c := p.Capabilities; c != nil {
		var cs linux.Caps
		var err error
		set := func(dst *linux.CapSet, field string, names []string) {
			if err == nil {
				*dst, _, err = linux.ParseCapSet("process.capabilities."+field, names, lastCap)
			}
		}
		set(&cs.Bounding, "bounding", c.Bounding)
		set(&cs.Effective, "effective", c.Effective)
		set(&cs.Inheritable, "inheritable", c.Inheritable)
		set(&cs.Permitted, "permitted", c.Permitted)
		set(&cs.Ambient, "ambient", c.Ambient)
		if err != nil {
			return err
		}
		caps = &cs
	}
	if caps != nil {
		names := linux.KnownCapabilities()
		for c := 0; c <= lastCap; c++ {
			if caps.Bounding&(1<<uint(c)) != 0 {
				continue
			}
			name := strconv.Itoa(c)
			if c < len(names) {
				name = names[c]
			}
			k.sys2("process.capabilities.bounding: drop", name, unix.SYS_PRCTL, sysprog.Imm(unix.PR_CAPBSET_DROP), sysprog.Imm(c), sysprog.Imm(0), sysprog.Imm(0), sysprog.Imm(0)).Tolerate(0, unix.EINVAL)
		}
		k.sys("keep capabilities", unix.SYS_PRCTL, sysprog.Imm(unix.PR_SET_KEEPCAPS), sysprog.Imm(1), sysprog.Imm(0), sysprog.Imm(0), sysprog.Imm(0))
	}
	u := p.User
	gids := u.AdditionalGids
	var gp sysprog.Arg = sysprog.Imm(0)
	if len(gids) > 0 {
		g := append([]uint32(nil), gids...)
		gp = k.ptr(g, unsafe.Pointer(&g[0]))
	}
	op := k.sys("process.user.additionalGids", unix.SYS_SETGROUPS, sysprog.Imm(len(gids)), gp)
	if len(gids) == 0 {
		op.Tolerate(0, unix.EPERM)
	}
	k.sys2("process.user.gid", strconv.FormatUint(uint64(u.GID), 10), unix.SYS_SETRESGID, sysprog.Imm(u.GID), sysprog.Imm(u.GID), sysprog.Imm(u.GID))
	k.sys2("process.user.uid", strconv.FormatUint(uint64(u.UID), 10), unix.SYS_SETRESUID, sysprog.Imm(u.UID), sysprog.Imm(u.UID), sysprog.Imm(u.UID))
	if caps == nil {
		return nil
	}
	k.sys("reset keep capabilities", unix.SYS_PRCTL, sysprog.Imm(unix.PR_SET_KEEPCAPS), sysprog.Imm(0), sysprog.Imm(0), sysprog.Imm(0), sysprog.Imm(0))
	hdr := &unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	data := &[2]unix.CapUserData{}
	data[0].Effective, data[1].Effective = uint32(caps.Effective), uint32(caps.Effective>>32)
	data[0].Permitted, data[1].Permitted = uint32(caps.Permitted), uint32(caps.Permitted>>32)
	data[0].Inheritable, data[1].Inheritable = uint32(caps.Inheritable), uint32(caps.Inheritable>>32)
	k.sys("process.capabilities: set capabilities", unix.SYS_CAPSET, k.ptr(hdr, unsafe.Pointer(hdr)), k.ptr(data, unsafe.Pointer(data)))
	op = k.sys("process.capabilities: clear ambient capabilities", unix.SYS_PRCTL, sysprog.Imm(unix.PR_CAP_AMBIENT), sysprog.Imm(unix.PR_CAP_AMBIENT_CLEAR_ALL), sysprog.Imm(0), sysprog.Imm(0), sysprog.Imm(0))
	if caps.Ambient == 0 {
		op.Tolerate(0, unix.EINVAL, unix.EPERM)
	}
	for n := 0; n < 64; n++ {
		if caps.Ambient&(1<<uint(n)) == 0 {
			continue
		}
		// Raised only if also permitted and inheritable; like runc,
		// the others are treated as not asked for.
		k.sys("process.capabilities: raise ambient capability "+strconv.Itoa(n), unix.SYS_PRCTL, sysprog.Imm(unix.PR_CAP_AMBIENT), sysprog.Imm(unix.PR_CAP_AMBIENT_RAISE), sysprog.Imm(n), sysprog.Imm(0), sysprog.Imm(0)).Tolerate(0, unix.EPERM)
	}
	return nil
}

// argv builds the trampoline's argv (the candidate paths, "", the
// process's argv) and environment.
func (k *compiler) argv(in *Init) (sysprog.Arg, sysprog.Arg, error) {
	p := k.s.Process
	for _, l := range [][]string{p.Args, p.Env} {
		for _, a := range l {
			if strings.IndexByte(a, 0) >= 0 {
				// execve cannot carry it; the re-executed init reports it.
				return sysprog.Arg{}, sysprog.Arg{}, ErrFallback
			}
		}
	}
	env := p.Env
	pathEnv, hasHome := spec.DefaultPath, false
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathEnv = v
		}
		if strings.HasPrefix(e, "HOME=") {
			hasHome = true
		}
	}
	if !hasHome {
		env = append(env[:len(env):len(env)], "HOME="+k.home(p.User.UID))
	}
	file := p.Args[0]
	var cands []string
	if strings.Contains(file, "/") {
		cands = []string{file}
	} else {
		for _, dir := range filepath.SplitList(pathEnv) {
			if dir == "" {
				dir = "."
			}
			cands = append(cands, filepath.Join(dir, file))
		}
		if len(cands) == 0 {
			cands = []string{file}
		}
	}
	argv := append(append(cands[:len(cands):len(cands)], ""), p.Args...)
	return k.strv(argv), k.strv(env), nil
}

// strv passes a NULL-terminated array of strings.
func (k *compiler) strv(ss []string) sysprog.Arg {
	ptrs := make([]*byte, len(ss)+1)
	for i, s := range ss {
		b := make([]byte, len(s)+1)
		copy(b, s)
		ptrs[i] = &b[0]
	}
	k.p.Keep(ptrs)
	return sysprog.Ptr(unsafe.Pointer(&ptrs[0]))
}

// home finds the process user's home directory in the container's
// /etc/passwd, for HOME.
func (k *compiler) home(uid uint32) string {
	const passwd = "/etc/passwd"
	if k.c.Mode == Exec {
		return homeIn(k.c.ContainerRoot, passwd, uid)
	}
	// A mount over /etc/passwd or /etc shows another file than the image.
	for i := len(k.s.Mounts) - 1; i >= 0; i-- {
		m := &k.s.Mounts[i]
		d := path.Clean("/" + m.Destination)
		if d == passwd || d == "/etc" {
			if !rootfs.IsBind(m) {
				return "/"
			}
			src := k.bindSource(m)
			if d == "/etc" {
				src = filepath.Join(src, "passwd")
			}
			return linux.HomeDir(src, uid)
		}
	}
	return homeIn(k.c.Rootfs, passwd, uid)
}

func homeIn(root, p string, uid uint32) string {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "/"
	}
	defer unix.Close(rfd)
	fd, err := linux.OpenInRoot(rfd, p, unix.O_RDONLY)
	if err != nil {
		return "/"
	}
	defer unix.Close(fd)
	return linux.HomeDirFD(fd, uid)
}

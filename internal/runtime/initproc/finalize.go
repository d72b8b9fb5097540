package initproc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/hako-dev/hako/internal/runtime/linux"
	"github.com/hako-dev/hako/internal/runtime/process"
	"github.com/hako-dev/hako/internal/runtime/seccomp"
	"github.com/hako-dev/hako/internal/runtime/spec"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// proc is the container process about to be executed, with everything
// that can fail checked before the runtime is told "ready".
type proc struct {
	cfg     *process.InitConfig
	p       *specs.Process
	path    string
	env     []string
	caps    *linux.Caps
	lastCap int
	filter  *seccomp.Filter
}

// execError carries the shell-like exit status for a failed execve.
type execError struct {
	code int
	msg  string
}

func (e *execError) Error() string { return e.msg }

func prepare(cfg *process.InitConfig, p *specs.Process) (*proc, error) {
	pr := &proc{cfg: cfg, p: p, env: p.Env, lastCap: linux.LastCap()}
	pathEnv, hasHome := spec.DefaultPath, false
	for _, e := range p.Env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathEnv = v
		}
		if strings.HasPrefix(e, "HOME=") {
			hasHome = true
		}
	}
	if !hasHome {
		pr.env = append(pr.env[:len(pr.env):len(pr.env)], "HOME="+linux.HomeDir("/etc/passwd", p.User.UID))
	}
	path, err := lookPath(p.Args[0], pathEnv, p.Cwd)
	if err != nil {
		return nil, err
	}
	pr.path = path
	if c := p.Capabilities; c != nil {
		var caps linux.Caps
		var err error
		set := func(dst *linux.CapSet, field string, names []string) {
			if err == nil {
				*dst, _, err = linux.ParseCapSet("process.capabilities."+field, names, pr.lastCap)
			}
		}
		set(&caps.Bounding, "bounding", c.Bounding)
		set(&caps.Effective, "effective", c.Effective)
		set(&caps.Inheritable, "inheritable", c.Inheritable)
		set(&caps.Permitted, "permitted", c.Permitted)
		set(&caps.Ambient, "ambient", c.Ambient)
		if err != nil {
			return nil, err
		}
		pr.caps = &caps
	}
	if sc := cfg.Spec.Linux.Seccomp; sc != nil {
		f, err := seccomp.Compile(sc)
		if err != nil {
			return nil, err
		}
		pr.filter = f
	}
	return pr, nil
}

// lookPath finds the program like a shell would, inside the container.
func lookPath(file, pathEnv, cwd string) (string, error) {
	if strings.Contains(file, "/") {
		p := file
		if !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		if err := checkExecutable(p); err != nil {
			return "", execErr(file, err)
		}
		return file, nil
	}
	var firstErr error
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		err := checkExecutable(p)
		if err == nil {
			return filepath.Join(dir, file), nil
		}
		if !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTDIR) && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return "", execErr(file, firstErr)
	}
	return "", &execError{127, fmt.Sprintf("exec %q: executable file not found in $PATH", file)}
}

func checkExecutable(p string) error {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return unix.EISDIR
	}
	if st.Mode&0o111 == 0 {
		return unix.EACCES
	}
	return nil
}

// execErr reports a failed execve of file (see process.ExecFailure).
func execErr(file string, err error) error {
	exists := false
	if errors.Is(err, unix.ENOENT) {
		_, serr := os.Stat(file)
		exists = serr == nil
	}
	ce := process.ExecFailure(file, err, exists)
	return &execError{ce.Code, ce.Msg}
}

// setupConsole creates the container's terminal and makes it the
// controlling terminal and stdio of this process. It returns the master
// side for the runtime.
func (pr *proc) setupConsole() (*os.File, error) {
	master, peer, err := linux.OpenPty("/dev/ptmx")
	if err != nil {
		return nil, fmt.Errorf("create console: %w", err)
	}
	defer peer.Close()
	if cs := pr.p.ConsoleSize; cs != nil {
		if err := linux.SetWinsize(peer.Fd(), uint16(cs.Height), uint16(cs.Width)); err != nil {
			master.Close()
			return nil, fmt.Errorf("set console size: %w", err)
		}
	}
	if err := unix.Fchown(int(peer.Fd()), int(pr.p.User.UID), -1); err != nil && !errors.Is(err, unix.EINVAL) {
		master.Close()
		return nil, fmt.Errorf("chown console: %w", err)
	}
	for fd := 0; fd < 3; fd++ {
		if err := unix.Dup3(int(peer.Fd()), fd, 0); err != nil {
			master.Close()
			return nil, fmt.Errorf("console as stdio: %w", err)
		}
	}
	if _, err := unix.Setsid(); err != nil {
		master.Close()
		return nil, fmt.Errorf("setsid: %w", err)
	}
	if err := unix.IoctlSetInt(0, unix.TIOCSCTTY, 0); err != nil {
		master.Close()
		return nil, fmt.Errorf("set controlling terminal: %w", err)
	}
	return master, nil
}

// exec applies the process's limits, identity and confinement to this
// thread, then executes the program. It returns only on failure.
func (pr *proc) exec() error {
	p := pr.p
	late, err := setRlimits(p.Rlimits, pr.cfg.ClampLimits)
	if err != nil {
		return err
	}
	if p.OOMScoreAdj != nil {
		if err := setOOMScoreAdj(*p.OOMScoreAdj, pr.cfg.ClampLimits); err != nil {
			return err
		}
	}
	if err := setPersonality(pr.cfg.Spec.Linux.Personality); err != nil {
		return err
	}
	if mp := pr.cfg.Spec.Linux.MemoryPolicy; mp != nil {
		pol, err := linux.ParseMemPolicy(mp)
		if err != nil {
			return err
		}
		if err := pol.Apply(); err != nil {
			return err
		}
	}
	if err := setScheduling(p); err != nil {
		return err
	}
	if err := setLabels(p); err != nil {
		return err
	}
	if p.NoNewPrivileges {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("process.noNewPrivileges: %w", err)
		}
	}
	// The cwd is entered as root first, so that a directory only root
	// can search still works; if root is refused (a root-squashed or
	// user-owned 0700 volume), it is tried again as the process user.
	// It is checked before the seccomp filter may forbid getcwd.
	chdirErr := unix.Chdir(p.Cwd)
	switch chdirErr {
	case nil:
		if err := checkCwd(p.Cwd); err != nil {
			return err
		}
	case unix.EACCES, unix.EPERM:
	default:
		return fmt.Errorf("process.cwd %s: %w", p.Cwd, chdirErr)
	}
	// Without no_new_privs, installing a filter needs CAP_SYS_ADMIN, which
	// the capability drop below may remove: install it first.
	if pr.filter != nil && !p.NoNewPrivileges {
		if err := pr.loadSeccomp(); err != nil {
			return err
		}
	}
	if err := pr.setIdentity(); err != nil {
		return err
	}
	if p.User.Umask != nil {
		unix.Umask(int(*p.User.Umask))
	}
	if chdirErr != nil {
		if err := unix.Chdir(p.Cwd); err != nil {
			return fmt.Errorf("process.cwd %s: %w", p.Cwd, err)
		}
		if err := checkCwd(p.Cwd); err != nil {
			return err
		}
	}
	if err := linux.MarkCloexecFrom(3 + pr.cfg.PreserveFDs); err != nil {
		return fmt.Errorf("close runtime descriptors: %w", err)
	}
	// The address-space limits last: they bind this Go process too, and
	// an allocation the runtime makes under a small RLIMIT_AS fails.
	for _, l := range late {
		if err := unix.Prlimit(0, l.res, &l.lim, nil); err != nil {
			return fmt.Errorf("process.rlimits[%d] %s: %w", l.index, l.name, err)
		}
	}
	if pr.filter != nil && p.NoNewPrivileges {
		if err := pr.loadSeccomp(); err != nil {
			return err
		}
	}
	err = syscall.Exec(pr.path, p.Args, pr.env)
	return execErr(p.Args[0], err)
}

// checkCwd refuses a cwd that reached outside the root, through a
// descriptor the runtime held (CVE-2024-21626): the kernel gives it no path
// from "/" ("(unreachable)/..."). A getcwd the seccomp filter forbids
// proves nothing either way and is let through.
func checkCwd(cwd string) error {
	wd, err := unix.Getwd()
	if err == unix.ENOENT || err == nil && !strings.HasPrefix(wd, "/") {
		return fmt.Errorf("process.cwd %s: resolves outside the container", cwd)
	}
	return nil
}

// setIdentity drops capabilities and switches to the process user, on
// this thread only: the other Go threads vanish at execve.
func (pr *proc) setIdentity() error {
	u := pr.p.User
	if pr.caps != nil {
		if err := linux.DropBounding(pr.caps.Bounding, pr.lastCap); err != nil {
			return fmt.Errorf("process.capabilities.bounding: %w", err)
		}
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("keep capabilities: %w", err)
		}
	}
	if err := setgroups(u.AdditionalGids); err != nil {
		return fmt.Errorf("process.user.additionalGids: %w", err)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESGID, uintptr(u.GID), uintptr(u.GID), uintptr(u.GID)); e != 0 {
		return fmt.Errorf("process.user.gid %d: %w", u.GID, e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, uintptr(u.UID), uintptr(u.UID), uintptr(u.UID)); e != 0 {
		return fmt.Errorf("process.user.uid %d: %w", u.UID, e)
	}
	if pr.caps != nil {
		if err := unix.Prctl(unix.PR_SET_KEEPCAPS, 0, 0, 0, 0); err != nil {
			return fmt.Errorf("reset keep capabilities: %w", err)
		}
		if err := linux.SetCaps(*pr.caps); err != nil {
			return fmt.Errorf("process.capabilities: %w", err)
		}
	}
	return nil
}

func setgroups(gids []uint32) error {
	var p uintptr
	if len(gids) > 0 {
		p = uintptr(unsafePointer(&gids[0]))
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(gids)), p, 0); e != 0 {
		// In a user namespace with setgroups denied, an empty list is
		// what the process has anyway.
		if e == unix.EPERM && len(gids) == 0 {
			return nil
		}
		return e
	}
	return nil
}

func (pr *proc) loadSeccomp() error {
	fd, err := pr.filter.Load()
	if err != nil {
		return fmt.Errorf("linux.seccomp: %w", err)
	}
	if fd >= 0 {
		if err := sendListener(pr.cfg, fd); err != nil {
			return fmt.Errorf("linux.seccomp.listenerPath: %w", err)
		}
	}
	return nil
}

// lateRlimit is a limit applied just before execve.
type lateRlimit struct {
	index int
	name  string
	res   int
	lim   unix.Rlimit
}

// setRlimits applies the process's rlimits, except the address-space
// ones (RLIMIT_AS, RLIMIT_DATA), which would bind the init's own Go
// runtime for the rest of its work: of those only a raise of the hard
// limit, which needs privileges the init drops later, is made now; the
// limits themselves come back to be set right before execve.
func setRlimits(rl []specs.POSIXRlimit, clamp bool) ([]lateRlimit, error) {
	var late []lateRlimit
	for i, r := range rl {
		res, _ := linux.RlimitNumber(r.Type)
		lim := unix.Rlimit{Cur: r.Soft, Max: r.Hard}
		if res == unix.RLIMIT_AS || res == unix.RLIMIT_DATA {
			var cur unix.Rlimit
			if err := unix.Prlimit(0, res, nil, &cur); err != nil {
				return nil, fmt.Errorf("process.rlimits[%d] %s: %w", i, r.Type, err)
			}
			if lim.Max > cur.Max {
				raise := unix.Rlimit{Cur: min(cur.Cur, lim.Max), Max: lim.Max}
				if err := unix.Prlimit(0, res, &raise, nil); err != nil {
					if err != unix.EPERM {
						return nil, fmt.Errorf("process.rlimits[%d] %s: %w", i, r.Type, err)
					}
					if !clamp {
						return nil, fmt.Errorf("process.rlimits[%d] %s: cannot raise the hard limit to %d above the current %d without CAP_SYS_RESOURCE (lower it, or ask the runtime to clamp limits)", i, r.Type, r.Hard, cur.Max)
					}
					lim.Max = cur.Max
					lim.Cur = min(lim.Cur, lim.Max)
				}
			}
			late = append(late, lateRlimit{index: i, name: r.Type, res: res, lim: lim})
			continue
		}
		err := unix.Prlimit(0, res, &lim, nil)
		if err == unix.EPERM {
			var cur unix.Rlimit
			if gerr := unix.Prlimit(0, res, nil, &cur); gerr == nil {
				if clamp {
					lim.Max = min(lim.Max, cur.Max)
					lim.Cur = min(lim.Cur, lim.Max)
					err = unix.Prlimit(0, res, &lim, nil)
				} else {
					return nil, fmt.Errorf("process.rlimits[%d] %s: cannot raise the hard limit to %d above the current %d without CAP_SYS_RESOURCE (lower it, or ask the runtime to clamp limits)", i, r.Type, r.Hard, cur.Max)
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("process.rlimits[%d] %s: %w", i, r.Type, err)
		}
	}
	return late, nil
}

func setOOMScoreAdj(v int, clamp bool) error {
	s := strconv.Itoa(v)
	err := os.WriteFile("/proc/self/oom_score_adj", []byte(s), 0)
	if err == nil {
		return nil
	}
	if errors.Is(err, os.ErrPermission) {
		cur, _ := os.ReadFile("/proc/self/oom_score_adj")
		if clamp {
			return nil // keep the current value, the lowest allowed
		}
		return fmt.Errorf("process.oomScoreAdj %d: cannot go below the current %s without CAP_SYS_RESOURCE (raise it, or ask the runtime to clamp limits)", v, strings.TrimSpace(string(cur)))
	}
	return fmt.Errorf("process.oomScoreAdj %d: %w", v, err)
}

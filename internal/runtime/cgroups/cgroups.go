// Package cgroups places a container's processes in a cgroup and applies the
// OCI resource limits to it, through one Manager interface with a driver for
// cgroup v1 (one hierarchy per controller) and one for cgroup v2 (the
// unified hierarchy).
//
// The drivers write files under a root directory (normally /sys/fs/cgroup),
// so their logic is unit-tested against a fake cgroupfs tree in a temp dir.
//
// # Where a container's cgroup is
//
// linux.cgroupsPath (Config.Path) is resolved as the runtime-spec says:
//
//   - an absolute path is relative to the root of each hierarchy:
//     "/a/b" is /sys/fs/cgroup/memory/a/b on v1 and /sys/fs/cgroup/a/b on v2;
//   - a relative path is relative to the caller's own cgroup in each
//     hierarchy (from /proc/self/cgroup). On cgroup v2 it is relative to the
//     parent of the caller's cgroup instead, as runc does: the caller's own
//     cgroup holds a process (the caller), and cgroup v2 refuses to enable
//     controllers below a cgroup that holds processes;
//   - an empty path means the relative path "<ID>", as in runc;
//   - with Config.Systemd (runc's --systemd-cgroup) the path is
//     "slice:prefix:name". hako has no systemd driver: the path is mapped to
//     the cgroupfs path systemd would use, "/<expanded slice>/<prefix>-<name>.scope",
//     where a slice "a-b.slice" expands to "/a.slice/a-b.slice" and an empty
//     slice is "system.slice"; a name ending in ".slice" is used as is. An
//     empty path is "system.slice:hako:<ID>".
//
// A path whose ".." components climb above its base, or that names the base
// itself, is refused with an InvalidArgument error naming linux.cgroupsPath.
//
// # Hybrid hosts
//
// On a v1 host where a cgroup2 hierarchy is also mounted at
// <Root>/unified (systemd's "hybrid" layout), the container also gets a
// directory there and its processes join it, as systemd and runc do, so
// tools that look at the unified hierarchy find them. No limits are set
// there, with one exception: when hugetlb is not a v1 hierarchy but the
// unified hierarchy offers it, it is enabled for the container's unified
// directory and hugepage limits and statistics go there.
package cgroups

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hako-dev/hako/internal/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Manager controls the cgroup of one container.
//
// All methods are safe to call from a process other than the one that
// created the cgroup: a Manager is rebuilt from the Paths saved in the
// container's state (see Load).
type Manager interface {
	// Create makes the container's cgroup (every hierarchy on v1) and applies
	// r to it. It is idempotent: an existing cgroup is reused.
	Create(r *specs.LinuxResources) error
	// Join moves pid into the container's cgroup. Prefer Entry for a
	// process about to start.
	Join(pid int) error
	// Entry opens what a process about to start needs to enter the
	// container's cgroup by itself, so that no one moves it by pid.
	//
	// Why: moving a process by pid (writing cgroup.procs) takes the
	// kernel's global cgroup_threadgroup_rwsem for writing, and the first
	// such write after a quiet spell waits for an RCU grace period: ~6 ms
	// on a 2-CPU VM, more than the rest of a container start. Two ways in
	// skip that lock:
	//
	//   - cgroup v2: clone3(CLONE_INTO_CGROUP) starts the process in the
	//     cgroup (the fork path only takes the lock for reading);
	//   - cgroup v1: a thread that writes "0" (itself) to a hierarchy's
	//     "tasks" file moves only itself, and the kernel skips the global
	//     lock for a single thread moving itself (cgroup_procs_write_start
	//     in kernel/cgroup/cgroup.c). The process's main thread does this
	//     (JoinTasks); it is the thread that later executes the container
	//     process, and the other threads of the runtime binary end at that
	//     execve. /proc/PID/cgroup, cgroup.procs and memory accounting (the
	//     thread group leader owns the mm) see the process in its cgroup
	//     from the write on.
	//
	// On a hybrid host the v1 Manager uses both: tasks files for the v1
	// hierarchies and CLONE_INTO_CGROUP for the unified one. The caller
	// closes the Entry once the process has started.
	Entry() (*Entry, error)
	// Set applies r to an existing cgroup (the runtime's "update" verb).
	// Fields left nil are not changed; an empty device list leaves the
	// device rules as they are.
	Set(r *specs.LinuxResources) error
	// Freeze stops every process in the cgroup; Thaw resumes them.
	Freeze() error
	Thaw() error
	// Frozen reports whether the cgroup is frozen.
	Frozen() (bool, error)
	// Pids lists every process in the cgroup and its descendants.
	Pids() ([]int, error)
	// Stats reads usage counters.
	Stats() (*Stats, error)
	// OOMKills counts the processes the OOM killer killed in the cgroup.
	OOMKills() (uint64, error)
	// Kill sends sig to every process in the cgroup and its descendants,
	// with the cgroup frozen meanwhile so that no process can fork its
	// way out (on v2, SIGKILL uses cgroup.kill). A cgroup that was frozen
	// stays frozen, except after SIGKILL, which thaws it so that the
	// processes die.
	Kill(sig unix.Signal) error
	// Destroy removes the cgroup, and any cgroups created below it. It
	// fails, wrapping unix.EBUSY, if processes remain; a cgroup that does
	// not exist is not an error.
	Destroy() error
	// Paths returns the absolute cgroup directory per controller (v1, keyed
	// by controller name such as "memory" or "name=systemd", plus the key ""
	// for the unified directory on a hybrid host) or under the single key ""
	// (v2), for saving in the container state. The map is a copy.
	Paths() map[string]string
}

// StartsInside reports whether a new process must start inside m's cgroup
// (Entry.CloneInto, for cgroup v2 and the unified hierarchy of a hybrid
// host), so the cgroup must exist first. Otherwise the cgroup may be made
// while the process starts, and the process joins it afterwards.
func StartsInside(m Manager) bool {
	switch m := m.(type) {
	case *v2:
		return true
	case *v1:
		return m.unified != ""
	}
	return false
}

// TasksFiles returns the cgroup v1 "tasks" files a process writes "0" to
// to join the container's cgroup (once it exists), as Entry opens them;
// none on cgroup v2.
func TasksFiles(m Manager) []string {
	if m, ok := m.(*v1); ok {
		return m.tasksFiles()
	}
	return nil
}

// CloneIntoPath returns the cgroup2 directory a process starts in with
// CLONE_INTO_CGROUP (see StartsInside), or "".
func CloneIntoPath(m Manager) string {
	switch m := m.(type) {
	case *v2:
		return m.dir
	case *v1:
		return m.unified
	}
	return ""
}

// Entry is how a starting process enters a container's cgroup.
type Entry struct {
	// CloneInto is a cgroup2 directory (O_PATH) to start the process in
	// with CLONE_INTO_CGROUP, or -1.
	CloneInto int
	// Tasks are the container's v1 "tasks" files, opened for writing; they
	// are passed to the process, whose main thread writes "0" to each (see
	// JoinTasks).
	Tasks []int
}

// Close closes the descriptors of e.
func (e *Entry) Close() {
	if e.CloneInto >= 0 {
		unix.Close(e.CloneInto)
		e.CloneInto = -1
	}
	for _, fd := range e.Tasks {
		unix.Close(fd)
	}
	e.Tasks = nil
}

// JoinTasks moves the calling thread into the cgroup of each "tasks" file
// in fds (see Manager.Entry) and closes them. It must run on the thread that
// will execute the container process, before the process starts others
// that should count in the container's cgroup.
func JoinTasks(fds []int) error {
	var err error
	for _, fd := range fds {
		if err == nil {
			for {
				_, err = unix.Write(fd, []byte("0"))
				if err != unix.EINTR {
					break
				}
			}
			if err != nil {
				err = fmt.Errorf("join cgroup (%s): %w", fdPath(fd), err)
			}
		}
		unix.Close(fd)
	}
	return err
}

// fdPath names what fd refers to, for messages.
func fdPath(fd int) string {
	buf := make([]byte, 256)
	n, err := unix.Readlink("/proc/self/fd/"+strconv.Itoa(fd), buf)
	if err != nil {
		return "descriptor " + strconv.Itoa(fd)
	}
	return string(buf[:n])
}

// Mode is how cgroups are mounted on the host.
type Mode int

const (
	// ModeAuto detects the mode: statfs(Root) says cgroup2 → ModeV2;
	// otherwise the cgroup mounts under Root in /proc/self/mountinfo decide
	// between ModeHybrid (a cgroup2 mount among them) and ModeV1.
	ModeAuto Mode = iota
	// ModeV1: one v1 hierarchy per mount under Root.
	ModeV1
	// ModeHybrid: ModeV1 plus a cgroup2 hierarchy at Root/unified.
	ModeHybrid
	// ModeV2: Root is the cgroup2 unified hierarchy.
	ModeV2
)

// DefaultRoot is where the cgroup hierarchies are mounted.
const DefaultRoot = "/sys/fs/cgroup"

// Config says where a container's cgroup is. See the package doc for how
// Path is resolved.
type Config struct {
	// Path is the spec's linux.cgroupsPath.
	Path string
	// ID is the container ID; the cgroup is named after it when Path is
	// empty.
	ID string
	// Root is where the hierarchies are mounted; "" means DefaultRoot.
	Root string
	// Systemd interprets Path as "slice:prefix:name" (runc's
	// --systemd-cgroup) and maps it to a cgroupfs path.
	Systemd bool

	// The fields below replace what New would read from the kernel; tests
	// set them to describe a fake tree under Root.

	// Mode, when not ModeAuto, skips detection.
	Mode Mode
	// Mounts, when not nil, replaces the cgroup v1 hierarchies read from
	// /proc/self/mountinfo.
	Mounts []Mount
	// Own, when not nil, replaces /proc/self/cgroup: the caller's cgroup
	// per controller ("memory", "name=systemd"), and under "" in the
	// unified hierarchy. Missing entries mean "/".
	Own map[string]string
}

// Mount is one mounted cgroup v1 hierarchy.
type Mount struct {
	// Dir is the mount point, such as "/sys/fs/cgroup/cpu,cpuacct".
	Dir string
	// Controllers are the controllers bound to the hierarchy, such as
	// "cpu" and "cpuacct"; a named hierarchy is "name=systemd".
	Controllers []string
	// Subtree is the cgroup shown at Dir ("root" in mountinfo): "/" on a
	// host, the container's own cgroup inside a container.
	Subtree string
}

// New returns the Manager of the cgroup cfg names. It creates nothing: see
// Manager.Create.
func New(cfg Config) (Manager, error) {
	if cfg.Root == "" {
		cfg.Root = DefaultRoot
	}
	cfg.Root = filepath.Clean(cfg.Root)
	p, rel, err := containerPath(&cfg)
	if err != nil {
		return nil, err
	}
	mode := cfg.Mode
	if mode == ModeAuto {
		var st unix.Statfs_t
		if err := unix.Statfs(cfg.Root, &st); err != nil {
			return nil, fmt.Errorf("detect cgroup version at %s: %w", cfg.Root, err)
		}
		if st.Type == unix.CGROUP2_SUPER_MAGIC {
			mode = ModeV2
		}
	}
	if mode == ModeV2 {
		dir := cfg.Root + p
		if rel {
			own, err := ownCgroups(&cfg)
			if err != nil {
				return nil, err
			}
			dir = filepath.Join(cfg.Root, parentOf(own[""]), p)
		}
		return &v2{dir: dir, root: cfg.Root}, nil
	}
	return newV1(&cfg, mode, p, rel)
}

// Load rebuilds the Manager whose Paths were saved.
func Load(paths map[string]string) (Manager, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("load cgroup: no paths saved: %w", errdefs.ErrInvalidArgument)
	}
	for k, p := range paths {
		if !filepath.IsAbs(p) || filepath.Clean(p) != p {
			return nil, fmt.Errorf("load cgroup: path %q of %q is not a clean absolute path: %w", p, k, errdefs.ErrInvalidArgument)
		}
	}
	if dir, ok := paths[""]; ok && len(paths) == 1 {
		return &v2{dir: dir}, nil
	}
	m := &v1{paths: make(map[string]string, len(paths))}
	for k, p := range paths {
		m.paths[k] = p
	}
	m.unified = m.paths[""]
	delete(m.paths, "")
	return m, nil
}

// Hierarchy is one cgroup v1 hierarchy as a container's /sys/fs/cgroup
// shows it: a directory Name holding a bind mount of Source, plus a symlink
// Name for each of Links.
type Hierarchy struct {
	// Name is the mount point's name under /sys/fs/cgroup on the host,
	// such as "memory", "cpu,cpuacct" or "systemd".
	Name string
	// Controllers are the hierarchy's controllers ("cpu", "cpuacct",
	// "name=systemd").
	Controllers []string
	// Source is the container's cgroup directory in this hierarchy.
	Source string
	// Links are the symlinks to create beside Name, pointing to it, for
	// co-mounted controllers: "cpu" and "cpuacct" for "cpu,cpuacct".
	Links []string
}

// V1Hierarchies lists the cgroup v1 hierarchies m's container is in,
// paired with its cgroup directory in each, for the rootfs code: a
// container's "cgroup" mount on v1 is a tmpfs at /sys/fs/cgroup with each
// Source bind-mounted at /sys/fs/cgroup/<Name> and the Links beside it, as
// runc does. The hybrid unified directory is not included. For a v2
// Manager it returns nil: there, the container sees Paths()[""] (or a fresh
// cgroup2 mount inside a cgroup namespace).
//
// For a Manager from New this reads nothing; for one from Load it reads
// /proc/self/mountinfo once to learn the mount points.
func V1Hierarchies(m Manager) []Hierarchy {
	v, ok := m.(*v1)
	if !ok {
		return nil
	}
	return v.hierarchies()
}

// invalid returns an InvalidArgument error about a spec field.
func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, args...), errdefs.ErrInvalidArgument)
}

// unsupported returns a NotImplemented error about a spec field.
func unsupported(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, args...), errdefs.ErrNotImplemented)
}

// parentOf returns the parent of a cgroup path ("/" stays "/").
func parentOf(p string) string {
	if p == "" || p == "/" {
		return "/"
	}
	return filepath.Dir(p)
}

// isNotExist reports whether err means a missing file or cgroup.
func isNotExist(err error) bool { return errors.Is(err, unix.ENOENT) }

// splitKV splits a "key value" line.
func splitKV(line string) (string, string, bool) {
	k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
	return k, strings.TrimSpace(v), ok
}

// IsV2 reports whether the host's cgroups are the unified hierarchy alone
// (DefaultRoot is a cgroup2 mount).
func IsV2() bool {
	var st unix.Statfs_t
	return unix.Statfs(DefaultRoot, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

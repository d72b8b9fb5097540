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
	// Join moves pid into the container's cgroup.
	Join(pid int) error
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

// CloneIntoer is implemented by the cgroup v2 Manager: a process started
// with CLONE_INTO_CGROUP (SysProcAttr.UseCgroupFD) and this fd begins life
// in the container's cgroup, so no Join is needed. The caller closes the fd.
// The v1 Manager does not implement it: a process must join every v1
// hierarchy.
type CloneIntoer interface {
	// CgroupFD opens the container's cgroup directory (O_PATH|O_DIRECTORY).
	CgroupFD() (int, error)
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

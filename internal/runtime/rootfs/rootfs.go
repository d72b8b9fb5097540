// Package rootfs builds a container's filesystem view inside its new mount
// namespace: the rootfs made a mount point, the configured mounts, device
// nodes, pivot_root, then masked and read-only paths.
//
// Every mount target inside the rootfs is resolved with openat2 and
// RESOLVE_IN_ROOT and named by its descriptor (/proc/self/fd/N), so a
// symlink planted in the image or in a shared volume cannot redirect a mount
// onto the host (CVE-2021-30465 class).
//
// The steps run in the container's init, in this order:
//
//	Prepare  make / rslave, bind the rootfs onto itself, do every mount,
//	         create /dev nodes and links
//	(hooks)  createRuntime and prestart run by the runtime, createContainer
//	         by the init
//	Pivot    pivot_root into the rootfs (or move + chroot with NoPivot)
//	Finish   masked and read-only paths, read-only root, root propagation
package rootfs

import (
	"fmt"
	"path/filepath"

	"github.com/hako-dev/hako/internal/mount"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// CgroupMount is one cgroup v1 hierarchy as the container sees it: a
// directory /sys/fs/cgroup/Name holding a bind mount of Source, the
// container's cgroup in that hierarchy, plus symlinks for co-mounted
// controllers ("cpu" -> "cpu,cpuacct").
type CgroupMount struct {
	Name   string
	Source string
	Links  []string
}

// Config is what the rootfs steps need.
type Config struct {
	Spec   *specs.Spec
	Rootfs string // absolute host path of root.path
	Bundle string // for relative bind-mount sources
	// NoPivot uses MS_MOVE + chroot instead of pivot_root (for a rootfs on
	// a ramfs, where pivot_root fails).
	NoPivot bool
	// SharedMountNS is true when the container has no mount namespace of
	// its own (neither new nor joined): its mounts then land in the
	// runtime's namespace, / is left alone, and chroot replaces pivot_root,
	// as runc does. Configurations should not ask for this.
	SharedMountNS bool
	// UserNS is true when the container has its own user namespace: device
	// nodes are then bind-mounted from the host instead of created.
	UserNS bool
	// CgroupV1 lists the hierarchies to show at a "cgroup" mount on a v1
	// host; CgroupV2 is the container's cgroup directory on a v2 host.
	CgroupV1 []CgroupMount
	CgroupV2 string
	// CgroupNS is true when the container has its own cgroup namespace.
	CgroupNS bool
}

// Prepare does everything that happens before pivot_root.
func Prepare(c *Config) error {
	if !c.SharedMountNS {
		// / is a slave of the host's tree unless linux.rootfsPropagation
		// is shared: then mounts propagate both ways (those with
		// "rshared" join the host's peer groups). Other propagations
		// are applied to the new root once it is in place (Finish).
		flag := uintptr(unix.MS_SLAVE | unix.MS_REC)
		if l := c.Spec.Linux; l != nil && l.RootfsPropagation != "" {
			for _, f := range mount.ParseOptions([]string{l.RootfsPropagation}).Propagation {
				if f&unix.MS_SHARED != 0 {
					flag = f
				}
			}
		}
		if err := unix.Mount("", "/", "", flag, ""); err != nil {
			return fmt.Errorf("set the propagation of / (%#x): %w", flag, err)
		}
		if flag&unix.MS_SHARED != 0 {
			// pivot_root refuses a new root whose parent mount is shared:
			// the mount the rootfs is on (or is) becomes private, as runc
			// does it.
			if err := privateParentMount(c.Rootfs); err != nil {
				return err
			}
		}
		if err := unix.Mount(c.Rootfs, c.Rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind rootfs %s onto itself: %w", c.Rootfs, err)
		}
	}
	root, err := unix.Open(c.Rootfs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open rootfs %s: %w", c.Rootfs, err)
	}
	defer unix.Close(root)
	bindDev := false
	for i := range c.Spec.Mounts {
		m := &c.Spec.Mounts[i]
		if m.Destination == "/dev" && IsBind(m) {
			bindDev = true
		}
		if err := doMount(c, root, m); err != nil {
			return fmt.Errorf("mounts[%d] (%s on %s): %w", i, DescribeSource(m), m.Destination, err)
		}
	}
	if !bindDev {
		if err := createDevices(c, root); err != nil {
			return err
		}
		if err := devLinks(root); err != nil {
			return err
		}
	}
	return nil
}

// privateParentMount makes the nearest mount at or above p private
// (not recursively).
func privateParentMount(p string) error {
	for dir := filepath.Clean(p); ; dir = filepath.Dir(dir) {
		err := unix.Mount("", dir, "", unix.MS_PRIVATE, "")
		if err == nil {
			return nil
		}
		if err != unix.EINVAL || dir == "/" {
			return fmt.Errorf("make the mount of %s private: %w", p, err)
		}
	}
}

// DescribeSource names a mount by its source, or its type.
func DescribeSource(m *specs.Mount) string {
	if m.Source != "" {
		return m.Source
	}
	return m.Type
}

// IsBind reports whether m is a bind mount.
func IsBind(m *specs.Mount) bool {
	if m.Type == "bind" || m.Type == "rbind" {
		return true
	}
	return mount.ParseOptions(m.Options).Flags&unix.MS_BIND != 0
}

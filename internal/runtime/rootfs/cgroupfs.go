package rootfs

import (
	"fmt"

	"github.com/hako-dev/hako/internal/mount"
	"github.com/hako-dev/hako/internal/runtime/linux"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// mountCgroup shows the container its own cgroups at m.Destination.
//
// cgroup v2: with a cgroup namespace, a fresh cgroup2 mount (rooted at the
// container's cgroup by the namespace); without, a bind of the container's
// cgroup directory.
// cgroup v1: a tmpfs holding, per hierarchy, a bind mount of the
// container's cgroup directory in it, plus the co-mount symlinks.
func mountCgroup(c *Config, root int, m *specs.Mount, opts mount.Options) error {
	target, err := linux.MkdirAllInRoot(root, m.Destination, 0o755)
	if err != nil {
		return err
	}
	defer unix.Close(target)
	flags := opts.Flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT)
	if c.CgroupV2 != "" {
		if c.CgroupNS {
			if err := unix.Mount("cgroup2", linux.FdPath(target), "cgroup2", flags, ""); err != nil {
				return fmt.Errorf("mount cgroup2: %w", err)
			}
			return finishMount(root, m.Destination, opts)
		}
		if err := unix.Mount(c.CgroupV2, linux.FdPath(target), "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", c.CgroupV2, err)
		}
		if err := remountBind(root, m.Destination, flags, opts.ClearFlags); err != nil {
			return err
		}
		return finishMount(root, m.Destination, opts)
	}
	if len(c.CgroupV1) == 0 {
		return fmt.Errorf("no cgroup hierarchy to mount")
	}
	if err := unix.Mount("tmpfs", linux.FdPath(target), "tmpfs", flags&^unix.MS_RDONLY, "mode=755"); err != nil {
		return fmt.Errorf("mount tmpfs: %w", err)
	}
	top, err := linux.OpenInRoot(root, m.Destination, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(top)
	for _, h := range c.CgroupV1 {
		if err := unix.Mkdirat(top, h.Name, 0o755); err != nil && err != unix.EEXIST {
			return fmt.Errorf("mkdir %s/%s: %w", m.Destination, h.Name, err)
		}
		d, err := unix.Openat(top, h.Name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		err = unix.Mount(h.Source, linux.FdPath(d), "", unix.MS_BIND|unix.MS_REC, "")
		unix.Close(d)
		if err != nil {
			return fmt.Errorf("bind %s: %w", h.Source, err)
		}
		if flags != 0 {
			if err := remountBind(root, m.Destination+"/"+h.Name, flags, opts.ClearFlags); err != nil {
				return err
			}
		}
		for _, l := range h.Links {
			if err := unix.Symlinkat(h.Name, top, l); err != nil && err != unix.EEXIST {
				return fmt.Errorf("symlink %s/%s: %w", m.Destination, l, err)
			}
		}
	}
	if flags&unix.MS_RDONLY != 0 {
		if err := unix.Mount("", linux.FdPath(top), "", unix.MS_REMOUNT|flags, "mode=755"); err != nil {
			return fmt.Errorf("remount %s read-only: %w", m.Destination, err)
		}
	}
	return finishMount(root, m.Destination, opts)
}

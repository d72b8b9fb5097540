package rootfs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hako-dev/hako/internal/mount"
	"github.com/hako-dev/hako/internal/runtime/linux"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// MountOptions parses m's options, with the bind flags its type ("bind",
// "rbind") implies, and says whether it is a bind mount.
func MountOptions(m *specs.Mount) (mount.Options, bool) {
	opts := mount.ParseOptions(m.Options)
	typ := m.Type
	bind := opts.Flags&unix.MS_BIND != 0 || typ == "bind" || typ == "rbind"
	if typ == "rbind" {
		opts.Flags |= unix.MS_BIND | unix.MS_REC
	} else if typ == "bind" && opts.Flags&unix.MS_BIND == 0 {
		opts.Flags |= unix.MS_BIND
	}
	return opts, bind
}

// doMount performs one configured mount inside the rootfs.
func doMount(c *Config, root int, m *specs.Mount) error {
	opts, bind := MountOptions(m)
	typ := m.Type
	switch {
	case bind:
		return bindMount(c, root, m, opts)
	case typ == "cgroup":
		return mountCgroup(c, root, m, opts)
	}
	target, err := linux.MkdirAllInRoot(root, m.Destination, 0o755)
	if err != nil {
		return err
	}
	defer unix.Close(target)
	if opts.HasExtension("tmpcopyup") && typ == "tmpfs" {
		return tmpcopyup(root, target, m, opts)
	}
	src := m.Source
	if src == "" {
		src = typ
	}
	flags := opts.Flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT)
	if err := unix.Mount(src, linux.FdPath(target), typ, flags, opts.Data); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("filesystem type %q not supported by the kernel: %w", typ, err)
		}
		return err
	}
	return finishMount(root, m.Destination, opts)
}

// bindMount bind-mounts a host path (relative sources are relative to the
// bundle) onto a directory or file created at the destination.
func bindMount(c *Config, root int, m *specs.Mount, opts mount.Options) error {
	src := m.Source
	if src == "" {
		return errors.New("bind mount without a source")
	}
	if !filepath.IsAbs(src) {
		src = filepath.Join(c.Bundle, src)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("source: %w", unwrap(err))
	}
	var target int
	if fi.IsDir() {
		target, err = linux.MkdirAllInRoot(root, m.Destination, 0o755)
	} else {
		target, err = linux.MkfileInRoot(root, m.Destination)
	}
	if err != nil {
		return err
	}
	defer unix.Close(target)
	if err := unix.Mount(src, linux.FdPath(target), "", opts.Flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
		return err
	}
	// A bind mount ignores every other flag; they need a remount of the
	// new mount (reached again through the path, now crossing it).
	if rest := opts.Flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT); rest != 0 || opts.ClearFlags != 0 {
		if err := remountBind(root, m.Destination, rest, opts.ClearFlags); err != nil {
			return err
		}
	}
	return finishMount(root, m.Destination, mount.Options{Propagation: opts.Propagation, RecAttrSet: opts.RecAttrSet, RecAttrClr: opts.RecAttrClr})
}

// remountBind applies flags to the bind mount at dest. Flags the kernel has
// locked on the source mount (nosuid, nodev, noexec, atime settings, which
// a user namespace may not clear) are kept unless explicitly cleared.
func remountBind(root int, dest string, flags, clear uintptr) error {
	fd, err := linux.OpenInRoot(root, dest, unix.O_PATH)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	p := linux.FdPath(fd)
	var st unix.Statfs_t
	if err := unix.Statfs(p, &st); err == nil {
		flags |= LockedFlags(st.Flags) &^ clear
	}
	if err := unix.Mount("", p, "", unix.MS_BIND|unix.MS_REMOUNT|flags, ""); err != nil {
		return fmt.Errorf("remount with flags %s: %w", FlagNames(flags), err)
	}
	return nil
}

// LockedFlags turns statfs flags into the MS_* flags a bind remount must keep.
func LockedFlags(st int64) uintptr {
	var f uintptr
	for _, m := range []struct {
		st   int64
		flag uintptr
	}{
		{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV}, {unix.ST_NOEXEC, unix.MS_NOEXEC},
		{unix.ST_NOATIME, unix.MS_NOATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME}, {unix.ST_RELATIME, unix.MS_RELATIME},
		{unix.ST_RDONLY, unix.MS_RDONLY},
	} {
		if st&m.st != 0 {
			f |= m.flag
		}
	}
	return f
}

// finishMount applies propagation changes and recursive attributes to the
// mount now at dest.
func finishMount(root int, dest string, opts mount.Options) error {
	if len(opts.Propagation) == 0 && opts.RecAttrSet == 0 && opts.RecAttrClr == 0 {
		return nil
	}
	fd, err := linux.OpenInRoot(root, dest, unix.O_PATH)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for _, p := range opts.Propagation {
		if err := unix.Mount("", linux.FdPath(fd), "", p, ""); err != nil {
			return fmt.Errorf("set propagation: %w", err)
		}
	}
	if opts.RecAttrSet != 0 || opts.RecAttrClr != 0 {
		attr := &unix.MountAttr{Attr_set: opts.RecAttrSet, Attr_clr: opts.RecAttrClr}
		if opts.RecAttrSet&unix.MOUNT_ATTR__ATIME != 0 {
			attr.Attr_clr |= unix.MOUNT_ATTR__ATIME
		}
		if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH|unix.AT_RECURSIVE, attr); err != nil {
			return fmt.Errorf("set recursive mount attributes: %w", err)
		}
	}
	return nil
}

// tmpcopyup mounts a tmpfs over a directory and copies the directory's
// original content into it (a runc extension, used for /dev-like dirs and
// image content under a tmpfs).
func tmpcopyup(root, target int, m *specs.Mount, opts mount.Options) error {
	// The descriptor still reaches the original directory after the tmpfs
	// covers its path.
	orig, err := unix.Openat(target, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(orig)
	flags := opts.Flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT)
	if err := unix.Mount("tmpfs", linux.FdPath(target), "tmpfs", flags&^unix.MS_RDONLY, opts.Data); err != nil {
		return err
	}
	// Walking the path again crosses the new tmpfs.
	top, err := linux.OpenInRoot(root, m.Destination, unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return err
	}
	defer unix.Close(top)
	if err := copyTree(top, orig); err != nil {
		return fmt.Errorf("tmpcopyup: %w", err)
	}
	if flags&unix.MS_RDONLY != 0 {
		if err := unix.Mount("", linux.FdPath(top), "", unix.MS_REMOUNT|flags, opts.Data); err != nil {
			return err
		}
	}
	return finishMount(root, m.Destination, opts)
}

func unwrap(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// FlagNames names MS_* flags as mount options, for messages.
func FlagNames(f uintptr) string {
	names := ""
	for _, n := range []struct {
		flag uintptr
		name string
	}{
		{unix.MS_RDONLY, "ro"}, {unix.MS_NOSUID, "nosuid"}, {unix.MS_NODEV, "nodev"}, {unix.MS_NOEXEC, "noexec"},
		{unix.MS_NOATIME, "noatime"}, {unix.MS_NODIRATIME, "nodiratime"}, {unix.MS_RELATIME, "relatime"},
		{unix.MS_STRICTATIME, "strictatime"}, {unix.MS_SYNCHRONOUS, "sync"}, {unix.MS_DIRSYNC, "dirsync"},
	} {
		if f&n.flag != 0 {
			if names != "" {
				names += ","
			}
			names += n.name
		}
	}
	if names == "" {
		return "(none)"
	}
	return names
}

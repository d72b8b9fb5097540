package mount

import (
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// maxData is what mount(2) takes as its data string: one page, less the
// terminating NUL.
const maxData = 4095

// All mounts ms on target, in order, each on top of the previous.
// Overlay mounts whose options exceed mount(2)'s one-page limit (many or
// deep layers) are made with the new mount API, one fsconfig call per
// lower directory ("lowerdir+", Linux 6.8), so a layer count has no limit.
func All(ms []Mount, target string) error {
	for i, m := range ms {
		if err := one(m, target); err != nil {
			for j := i - 1; j >= 0; j-- {
				unix.Unmount(target, unix.MNT_DETACH)
			}
			return err
		}
	}
	return nil
}

func one(m Mount, target string) error {
	o := ParseOptions(m.Options)
	switch {
	case m.Type == "bind" || o.Flags&unix.MS_BIND != 0:
		flags := o.Flags | unix.MS_BIND
		if err := unix.Mount(m.Source, target, "", flags&(unix.MS_BIND|unix.MS_REC), ""); err != nil {
			return fmt.Errorf("bind %s on %s: %w", m.Source, target, err)
		}
		if flags&(unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC) != 0 {
			if err := unix.Mount("", target, "", flags|unix.MS_REMOUNT, ""); err != nil {
				unix.Unmount(target, unix.MNT_DETACH)
				return fmt.Errorf("remount %s: %w", target, err)
			}
		}
		return nil
	case m.Type == "overlay" && len(o.Data) > maxData:
		return overlayNewAPI(o, target)
	}
	if err := unix.Mount(m.Source, target, m.Type, o.Flags, o.Data); err != nil {
		return fmt.Errorf("mount %s (%s) on %s: %w", m.Source, m.Type, target, err)
	}
	return nil
}

// overlayNewAPI mounts an overlay with fsopen/fsconfig/fsmount, adding the
// lower directories one by one.
func overlayNewAPI(o Options, target string) error {
	fd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("overlay on %s: fsopen: %w", target, err)
	}
	defer unix.Close(fd)
	for _, kv := range strings.Split(o.Data, ",") {
		k, v, hasV := strings.Cut(kv, "=")
		switch {
		case k == "lowerdir":
			for _, l := range strings.Split(v, ":") {
				if err := unix.FsconfigSetString(fd, "lowerdir+", l); err != nil {
					return fmt.Errorf("overlay on %s: lower directory %s: %w (the kernel needs Linux 6.8 for this many layers)", target, l, err)
				}
			}
		case hasV:
			if err := unix.FsconfigSetString(fd, k, v); err != nil {
				return fmt.Errorf("overlay on %s: option %s: %w", target, k, err)
			}
		case k != "":
			if err := unix.FsconfigSetFlag(fd, k); err != nil {
				return fmt.Errorf("overlay on %s: option %s: %w", target, k, err)
			}
		}
	}
	if err := unix.FsconfigCreate(fd); err != nil {
		return fmt.Errorf("overlay on %s: create: %w", target, err)
	}
	var attr int
	if o.Flags&unix.MS_RDONLY != 0 {
		attr |= unix.MOUNT_ATTR_RDONLY
	}
	mfd, err := unix.Fsmount(fd, unix.FSMOUNT_CLOEXEC, attr)
	if err != nil {
		return fmt.Errorf("overlay on %s: fsmount: %w", target, err)
	}
	defer unix.Close(mfd)
	if err := unix.MoveMount(mfd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("overlay on %s: move_mount: %w", target, err)
	}
	return nil
}

// Unmount detaches target and whatever is mounted below it.
func Unmount(target string) error {
	for {
		err := unix.Unmount(target, unix.MNT_DETACH)
		if err == unix.EINVAL || err == unix.ENOENT {
			return nil
		}
		if err != nil {
			return fmt.Errorf("unmount %s: %w", target, err)
		}
	}
}

// IsMountPoint reports whether p is a mount point, by mount ID: a bind
// mount of a directory on the same filesystem has the same st_dev, so
// comparing devices is not enough.
func IsMountPoint(p string) bool {
	var st, pst unix.Statx_t
	if unix.Statx(unix.AT_FDCWD, p, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &st) != nil {
		return false
	}
	if unix.Statx(unix.AT_FDCWD, filepath.Dir(p), unix.AT_SYMLINK_NOFOLLOW, unix.STATX_MNT_ID, &pst) != nil {
		return false
	}
	return st.Mnt_id != pst.Mnt_id
}

// AllIdmapped is All with the image's layers seen through an idmapped
// mount (the user namespace usernsFD's mapping, Linux 5.19 for overlay):
// each overlay lower directory, or the source of a bind, is cloned and
// idmapped first, so that files the host's root owns belong to the
// container's root. The upper directory stays as it is: what the
// container writes is stored with its host IDs.
func AllIdmapped(ms []Mount, target string, usernsFD int) error {
	for i, m := range ms {
		if err := oneIdmapped(m, target, usernsFD); err != nil {
			for j := i - 1; j >= 0; j-- {
				unix.Unmount(target, unix.MNT_DETACH)
			}
			return err
		}
	}
	return nil
}

// idmappedClone is a detached, idmapped copy of the mount at path.
func idmappedClone(path string, usernsFD int, recursive bool) (int, error) {
	flags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, path, uint(flags))
	if err != nil {
		return -1, fmt.Errorf("clone %s: %w", path, err)
	}
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(usernsFD)}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("idmap %s: %w (the kernel or the filesystem lacks idmapped mounts)", path, err)
	}
	return fd, nil
}

func oneIdmapped(m Mount, target string, usernsFD int) error {
	o := ParseOptions(m.Options)
	switch {
	case m.Type == "bind" || o.Flags&unix.MS_BIND != 0:
		fd, err := idmappedClone(m.Source, usernsFD, o.Flags&unix.MS_REC != 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if o.Flags&unix.MS_RDONLY != 0 {
			attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY}
			if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
				return fmt.Errorf("bind %s read-only: %w", m.Source, err)
			}
		}
		if err := unix.MoveMount(fd, "", unix.AT_FDCWD, target, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return fmt.Errorf("bind %s on %s: %w", m.Source, target, err)
		}
		return nil
	case m.Type != "overlay":
		return one(m, target)
	}
	// The lower directories become /proc/self/fd/N of their idmapped
	// clones (short paths, too), held until the overlay has them.
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	opts := make([]string, 0, len(m.Options))
	for _, opt := range m.Options {
		lowers, ok := strings.CutPrefix(opt, "lowerdir=")
		if !ok {
			opts = append(opts, opt)
			continue
		}
		var mapped []string
		for _, l := range strings.Split(lowers, ":") {
			fd, err := idmappedClone(l, usernsFD, false)
			if err != nil {
				return err
			}
			fds = append(fds, fd)
			mapped = append(mapped, fmt.Sprintf("/proc/self/fd/%d", fd))
		}
		opts = append(opts, "lowerdir="+strings.Join(mapped, ":"))
	}
	return one(Mount{Type: m.Type, Source: m.Source, Options: opts}, target)
}

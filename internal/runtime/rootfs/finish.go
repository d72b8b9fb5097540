package rootfs

import (
	"fmt"

	"github.com/hako-dev/hako/internal/mount"
	"golang.org/x/sys/unix"
)

// Finish runs after pivot_root: masked and read-only paths, the read-only
// root, and the root's mount propagation.
func Finish(c *Config) error {
	l := c.Spec.Linux
	for _, p := range l.ReadonlyPaths {
		if err := readonlyPath(p); err != nil {
			return fmt.Errorf("linux.readonlyPaths %s: %w", p, err)
		}
	}
	for _, p := range l.MaskedPaths {
		if err := maskPath(p); err != nil {
			return fmt.Errorf("linux.maskedPaths %s: %w", p, err)
		}
	}
	if c.Spec.Root.Readonly {
		if err := remountReadonly("/"); err != nil {
			return fmt.Errorf("root.readonly: %w", err)
		}
	}
	if prop := l.RootfsPropagation; prop != "" && !c.SharedMountNS {
		flags := mount.ParseOptions([]string{prop}).Propagation
		for _, f := range flags {
			if err := unix.Mount("", "/", "", f, ""); err != nil {
				return fmt.Errorf("linux.rootfsPropagation %s: %w", prop, err)
			}
		}
	}
	return nil
}

// maskPath hides a path: /dev/null over a file, an empty read-only tmpfs
// over a directory. Missing paths need no masking. Symbolic links are
// followed, as mount follows them.
func maskPath(p string) error {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		if err == unix.ENOENT || err == unix.ENOTDIR {
			return nil
		}
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY, "size=0k")
	}
	err := unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
	if err == unix.ENOENT {
		return nil
	}
	return err
}

// readonlyPath bind-mounts a path onto itself, read-only.
func readonlyPath(p string) error {
	if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return err
	}
	return remountReadonly(p)
}

func remountReadonly(p string) error {
	var st unix.Statfs_t
	flags := uintptr(unix.MS_RDONLY)
	if err := unix.Statfs(p, &st); err == nil {
		flags |= LockedFlags(st.Flags)
	}
	err := unix.Mount("", p, "", unix.MS_BIND|unix.MS_REMOUNT|flags, "")
	if err != nil {
		return fmt.Errorf("remount read-only: %w", err)
	}
	return nil
}

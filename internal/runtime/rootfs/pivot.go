package rootfs

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Pivot makes the rootfs the root of the mount namespace and detaches the
// old root, so nothing of the host's tree stays reachable.
func Pivot(c *Config) error {
	if c.SharedMountNS {
		if err := unix.Chroot(c.Rootfs); err != nil {
			return fmt.Errorf("chroot into %s: %w", c.Rootfs, err)
		}
		return unix.Chdir("/")
	}
	if c.NoPivot {
		return moveRoot(c.Rootfs)
	}
	// pivot_root(".", ".") stacks the old root on top of the new one at
	// "/"; unmounting "." afterwards removes it without a put_old
	// directory in the image (the trick runc and crun use).
	oldroot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(oldroot)
	newroot, err := unix.Open(c.Rootfs, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(newroot)
	if err := unix.Fchdir(newroot); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root into %s: %w", c.Rootfs, err)
	}
	if err := unix.Fchdir(oldroot); err != nil {
		return err
	}
	// Keep the unmount from propagating back to the host.
	if err := unix.Mount("", ".", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make old root a slave: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach old root: %w", err)
	}
	return unix.Chdir("/")
}

// moveRoot moves the rootfs over / and chroots into it (--no-pivot).
func moveRoot(rootfs string) error {
	if err := unix.Chdir(rootfs); err != nil {
		return err
	}
	if err := unix.Mount(rootfs, "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move rootfs %s to /: %w", rootfs, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	return unix.Chdir("/")
}

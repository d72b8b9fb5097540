package rootfs

import (
	"fmt"
	"os"
	"path"

	"github.com/hako-dev/hako/internal/runtime/linux"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// defaultDevices are created in every container that does not bind-mount
// the host's /dev, as the runtime spec requires.
var defaultDevices = [...]specs.LinuxDevice{
	{Path: "/dev/null", Type: "c", Major: 1, Minor: 3},
	{Path: "/dev/zero", Type: "c", Major: 1, Minor: 5},
	{Path: "/dev/full", Type: "c", Major: 1, Minor: 7},
	{Path: "/dev/random", Type: "c", Major: 1, Minor: 8},
	{Path: "/dev/urandom", Type: "c", Major: 1, Minor: 9},
	{Path: "/dev/tty", Type: "c", Major: 5, Minor: 0},
}

// DefaultDevices returns the device nodes every container gets.
func DefaultDevices() []specs.LinuxDevice { return defaultDevices[:] }

// DefaultsNotIn returns the default devices that devs does not name.
func DefaultsNotIn(devs []specs.LinuxDevice) []specs.LinuxDevice {
	var out []specs.LinuxDevice
	for _, d := range defaultDevices {
		overridden := false
		for _, sd := range devs {
			if path.Clean(sd.Path) == d.Path {
				overridden = true
				break
			}
		}
		if !overridden {
			out = append(out, d)
		}
	}
	return out
}

// DeviceNode returns what mknod makes for d (type and permission bits,
// 0666 when d has no file mode) and the owner to set (-1: unchanged).
func DeviceNode(d *specs.LinuxDevice) (typ, mode uint32, uid, gid int, err error) {
	mode = 0o666
	if d.FileMode != nil {
		mode = uint32(d.FileMode.Perm())
	}
	switch d.Type {
	case "c", "u":
		typ = unix.S_IFCHR
	case "b":
		typ = unix.S_IFBLK
	case "p":
		typ = unix.S_IFIFO
	default:
		return 0, 0, 0, 0, fmt.Errorf("unknown device type %q", d.Type)
	}
	uid, gid = -1, -1
	if d.UID != nil {
		uid = int(*d.UID)
	}
	if d.GID != nil {
		gid = int(*d.GID)
	}
	return typ, mode, uid, gid, nil
}

// DevLinks are the standard /dev symlinks: target, name in /dev.
func DevLinks() [][2]string {
	links := [][2]string{
		{"/proc/self/fd", "fd"},
		{"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"},
		{"/proc/self/fd/2", "stderr"},
	}
	if _, err := os.Stat("/proc/kcore"); err == nil {
		links = append(links, [2]string{"/proc/kcore", "core"})
	}
	return links
}

func createDevices(c *Config, root int) error {
	devs := c.Spec.Linux.Devices
	for _, d := range DefaultsNotIn(devs) {
		if err := createDevice(c, root, &d); err != nil {
			return err
		}
	}
	for i := range devs {
		if err := createDevice(c, root, &devs[i]); err != nil {
			return fmt.Errorf("linux.devices[%d] %s: %w", i, devs[i].Path, err)
		}
	}
	return nil
}

func createDevice(c *Config, root int, d *specs.LinuxDevice) error {
	dir, name := path.Split(path.Clean("/" + d.Path))
	dfd, err := linux.MkdirAllInRoot(root, dir, 0o755)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	if c.UserNS {
		return bindDevice(root, d, dfd, name)
	}
	typ, mode, uid, gid, err := DeviceNode(d)
	if err != nil {
		return err
	}
	dev := int(unix.Mkdev(uint32(d.Major), uint32(d.Minor)))
	err = unix.Mknodat(dfd, name, typ|mode, dev)
	if err == unix.EEXIST {
		// An image may ship its own node or a plain file: replace it.
		if err := unix.Unlinkat(dfd, name, 0); err != nil {
			return fmt.Errorf("replace existing %s: %w", d.Path, err)
		}
		err = unix.Mknodat(dfd, name, typ|mode, dev)
	}
	if err != nil {
		return fmt.Errorf("mknod %s: %w", d.Path, err)
	}
	// mknod applies the umask: set the exact mode, then the owner.
	if err := unix.Fchmodat(dfd, name, mode, 0); err != nil {
		return fmt.Errorf("chmod %s: %w", d.Path, err)
	}
	if uid != -1 || gid != -1 {
		if err := unix.Fchownat(dfd, name, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown %s: %w", d.Path, err)
		}
	}
	return nil
}

// bindDevice bind-mounts the host's node for d: a user namespace cannot
// create device nodes.
func bindDevice(root int, d *specs.LinuxDevice, dfd int, name string) error {
	f, err := unix.Openat(dfd, name, unix.O_CREAT|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil && err != unix.EEXIST {
		return fmt.Errorf("create %s: %w", d.Path, err)
	}
	if err == nil {
		unix.Close(f)
	}
	t, err := linux.OpenInRoot(root, d.Path, unix.O_PATH|unix.O_NOFOLLOW)
	if err != nil {
		return err
	}
	defer unix.Close(t)
	if err := unix.Mount(d.Path, linux.FdPath(t), "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind host device %s: %w", d.Path, err)
	}
	return nil
}

// devLinks creates the standard /dev symlinks.
func devLinks(root int) error {
	dev, err := linux.MkdirAllInRoot(root, "/dev", 0o755)
	if err != nil {
		return err
	}
	defer unix.Close(dev)
	for _, l := range DevLinks() {
		if err := unix.Symlinkat(l[0], dev, l[1]); err != nil && err != unix.EEXIST {
			return fmt.Errorf("symlink /dev/%s: %w", l[1], err)
		}
	}
	// /dev/ptmx must lead to the container's own devpts instance.
	var st unix.Stat_t
	if err := unix.Fstatat(dev, "pts/ptmx", &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		if err := unix.Unlinkat(dev, "ptmx", 0); err != nil && err != unix.ENOENT {
			return fmt.Errorf("remove /dev/ptmx: %w", err)
		}
		if err := unix.Symlinkat("pts/ptmx", dev, "ptmx"); err != nil {
			return fmt.Errorf("symlink /dev/ptmx: %w", err)
		}
	}
	return nil
}

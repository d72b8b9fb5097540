package forkinit

import (
	"fmt"
	"os"
	"path"
	"strconv"
	"unsafe"

	"github.com/hako-dev/hako/internal/mount"
	"github.com/hako-dev/hako/internal/runtime/rootfs"
	"github.com/hako-dev/hako/internal/runtime/sysprog"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// mount adds one configured mount, as rootfs's doMount does.
func (k *compiler) mount(what string, m *specs.Mount, sync sysprog.Arg) error {
	opts, bind := rootfs.MountOptions(m)
	typ := m.Type
	switch {
	case bind:
		return k.bindMount(what, m, opts)
	case typ == "cgroup":
		k.cgroupDirs(sync)
		return k.cgroupMount(what, m, opts)
	}
	t, err := k.mkdirAll(what, m.Destination)
	if err != nil {
		return err
	}
	src := m.Source
	if src == "" {
		src = typ
	}
	flags := opts.Flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT)
	k.sys2(what, "mount", unix.SYS_MOUNT, sysprog.Str(src), sysprog.FdPath(t), sysprog.Str(typ), sysprog.Imm(flags), dataArg(opts.Data))
	k.close(t)
	k.finishMount(what, m.Destination, opts)
	return nil
}

func dataArg(data string) sysprog.Arg {
	if data == "" {
		return sysprog.Imm(0)
	}
	return sysprog.Str(data)
}

func (k *compiler) bindMount(what string, m *specs.Mount, opts mount.Options) error {
	if m.Source == "" {
		return fmt.Errorf("bind mount without a source")
	}
	src := k.bindSource(m)
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("source: %w", unwrap(err))
	}
	var t sysprog.Slot
	if fi.IsDir() {
		t, err = k.mkdirAll(what, m.Destination)
	} else {
		t, err = k.mkfile(what, m.Destination)
	}
	if err != nil {
		return err
	}
	k.sys2(what, "mount", unix.SYS_MOUNT, sysprog.Str(src), sysprog.FdPath(t), sysprog.Imm(0), sysprog.Imm(opts.Flags&(unix.MS_BIND|unix.MS_REC)), sysprog.Imm(0))
	k.close(t)
	if rest := opts.Flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT); rest != 0 || opts.ClearFlags != 0 {
		k.remountBind(what, m.Destination, rest|statfsFlags(src)&^opts.ClearFlags)
	}
	k.finishMount(what, m.Destination, mount.Options{Propagation: opts.Propagation, RecAttrSet: opts.RecAttrSet, RecAttrClr: opts.RecAttrClr})
	return nil
}

// remountBind applies flags to the bind mount now at dest.
func (k *compiler) remountBind(what, dest string, flags uintptr) {
	t := k.openInRoot(what, dest, unix.O_PATH)
	k.sys2(what, "remount with flags "+rootfs.FlagNames(flags), unix.SYS_MOUNT, sysprog.Str(""), sysprog.FdPath(t), sysprog.Imm(0), sysprog.Imm(unix.MS_BIND|unix.MS_REMOUNT|flags), sysprog.Imm(0))
	k.close(t)
}

// finishMount applies propagation and recursive attributes to the mount
// now at dest.
func (k *compiler) finishMount(what, dest string, opts mount.Options) {
	if len(opts.Propagation) == 0 && opts.RecAttrSet == 0 && opts.RecAttrClr == 0 {
		return
	}
	t := k.openInRoot(what, dest, unix.O_PATH)
	for _, pr := range opts.Propagation {
		k.sys2(what, "set propagation", unix.SYS_MOUNT, sysprog.Str(""), sysprog.FdPath(t), sysprog.Imm(0), sysprog.Imm(pr), sysprog.Imm(0))
	}
	if opts.RecAttrSet != 0 || opts.RecAttrClr != 0 {
		attr := &unix.MountAttr{Attr_set: opts.RecAttrSet, Attr_clr: opts.RecAttrClr}
		if opts.RecAttrSet&unix.MOUNT_ATTR__ATIME != 0 {
			attr.Attr_clr |= unix.MOUNT_ATTR__ATIME
		}
		k.sys2(what, "set recursive mount attributes", unix.SYS_MOUNT_SETATTR, sysprog.Fd(t), sysprog.Str(""), sysprog.Imm(unix.AT_EMPTY_PATH|unix.AT_RECURSIVE), k.ptr(attr, unsafe.Pointer(attr)), sysprog.Imm(unsafe.Sizeof(*attr)))
	}
	k.close(t)
}

// cgroupMount shows the container its cgroups, as rootfs's mountCgroup.
func (k *compiler) cgroupMount(what string, m *specs.Mount, opts mount.Options) error {
	t, err := k.mkdirAll(what, m.Destination)
	if err != nil {
		return err
	}
	flags := opts.Flags &^ (unix.MS_BIND | unix.MS_REC | unix.MS_REMOUNT)
	c := k.c
	if c.CgroupV2 != "" {
		if k.hasNS(specs.CgroupNamespace) {
			k.sys2(what, "mount cgroup2", unix.SYS_MOUNT, sysprog.Str("cgroup2"), sysprog.FdPath(t), sysprog.Str("cgroup2"), sysprog.Imm(flags), sysprog.Imm(0))
			k.close(t)
		} else {
			k.sys2(what, "bind "+c.CgroupV2, unix.SYS_MOUNT, sysprog.Str(c.CgroupV2), sysprog.FdPath(t), sysprog.Imm(0), sysprog.Imm(unix.MS_BIND|unix.MS_REC), sysprog.Imm(0))
			k.close(t)
			k.remountBind(what, m.Destination, flags|statfsFlags(c.CgroupV2)&^opts.ClearFlags)
		}
		k.finishMount(what, m.Destination, opts)
		return nil
	}
	if len(c.CgroupV1) == 0 {
		return fmt.Errorf("no cgroup hierarchy to mount")
	}
	k.sys2(what, "mount tmpfs", unix.SYS_MOUNT, sysprog.Str("tmpfs"), sysprog.FdPath(t), sysprog.Str("tmpfs"), sysprog.Imm(flags&^unix.MS_RDONLY), sysprog.Str("mode=755"))
	k.close(t)
	top := k.openInRoot(what, m.Destination, unix.O_RDONLY|unix.O_DIRECTORY)
	// cgroupfs holds neither programs nor devices: each hierarchy's bind
	// keeps nosuid, nodev and noexec (what rootfs.remountBind finds on
	// every cgroup v1 mount) without a statfs of each.
	hflags := flags | (unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC)&^opts.ClearFlags
	// Where the tmpfs and the binds get the same flags, one recursive
	// mount_setattr of the tree sets them all once the binds are made;
	// the remounts below are what kernels before 5.12 run instead.
	set, clr, oneCall := mountAttrOf(flags)
	oneCall = oneCall && hflags == flags && flags != 0
	remount := func(sub string) {
		if flags != 0 {
			k.remountBind(what, sub, hflags)
		}
	}
	for _, h := range c.CgroupV1 {
		sub := path.Join(m.Destination, h.Name)
		k.sys2(what, "mkdir "+sub, unix.SYS_MKDIRAT, sysprog.Fd(top), sysprog.Str(h.Name), sysprog.Imm(0o755)).Tolerate(0, unix.EEXIST)
		d := k.slot()
		k.sys2(what, "open "+sub, unix.SYS_OPENAT, sysprog.Fd(top), sysprog.Str(h.Name), sysprog.Imm(unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC)).OutTo(d)
		k.sys2(what, "bind "+h.Source, unix.SYS_MOUNT, sysprog.Str(h.Source), sysprog.FdPath(d), sysprog.Imm(0), sysprog.Imm(unix.MS_BIND|unix.MS_REC), sysprog.Imm(0))
		k.close(d)
		if !oneCall {
			remount(sub)
		}
		for _, l := range h.Links {
			k.sys2(what, "symlink "+path.Join(m.Destination, l), unix.SYS_SYMLINKAT, sysprog.Str(h.Name), sysprog.Fd(top), sysprog.Str(l)).Tolerate(0, unix.EEXIST)
		}
	}
	var setattr *sysprog.Op
	fallback := k.p.Len()
	if oneCall {
		attr := &unix.MountAttr{Attr_set: set, Attr_clr: clr}
		setattr = k.sys2(what, "set mount attributes "+rootfs.FlagNames(flags), unix.SYS_MOUNT_SETATTR, sysprog.Fd(top), sysprog.Str(""), sysprog.Imm(unix.AT_EMPTY_PATH|unix.AT_RECURSIVE), k.ptr(attr, unsafe.Pointer(attr)), sysprog.Imm(unsafe.Sizeof(*attr))).Tolerate(0, unix.ENOSYS)
		fallback = k.p.Len()
		for _, h := range c.CgroupV1 {
			remount(path.Join(m.Destination, h.Name))
		}
	}
	if flags&unix.MS_RDONLY != 0 {
		k.sys2(what, "remount read-only", unix.SYS_MOUNT, sysprog.Str(""), sysprog.FdPath(top), sysprog.Imm(0), sysprog.Imm(unix.MS_REMOUNT|flags), sysprog.Str("mode=755"))
	}
	if setattr != nil {
		setattr.SkipOnSuccess(k.p.Len() - fallback)
	}
	k.close(top)
	k.finishMount(what, m.Destination, opts)
	return nil
}

// mountAttrOf turns mount(2) flags into mount_setattr(2) attributes to
// set and clear; ok is false when flags hold one it has no attribute for.
func mountAttrOf(flags uintptr) (set, clr uint64, ok bool) {
	attrs := []struct {
		flag uintptr
		attr uint64
	}{
		{unix.MS_RDONLY, unix.MOUNT_ATTR_RDONLY},
		{unix.MS_NOSUID, unix.MOUNT_ATTR_NOSUID},
		{unix.MS_NODEV, unix.MOUNT_ATTR_NODEV},
		{unix.MS_NOEXEC, unix.MOUNT_ATTR_NOEXEC},
		{unix.MS_NODIRATIME, unix.MOUNT_ATTR_NODIRATIME},
	}
	for _, a := range attrs {
		if flags&a.flag != 0 {
			set |= a.attr
			flags &^= a.flag
		}
	}
	// The access time is one of three values.
	switch flags & (unix.MS_NOATIME | unix.MS_RELATIME | unix.MS_STRICTATIME) {
	case 0:
	case unix.MS_NOATIME:
		set, clr = set|unix.MOUNT_ATTR_NOATIME, unix.MOUNT_ATTR__ATIME
	case unix.MS_RELATIME:
		set, clr = set|unix.MOUNT_ATTR_RELATIME, unix.MOUNT_ATTR__ATIME
	case unix.MS_STRICTATIME:
		set, clr = set|unix.MOUNT_ATTR_STRICTATIME, unix.MOUNT_ATTR__ATIME
	default:
		return 0, 0, false
	}
	flags &^= unix.MS_NOATIME | unix.MS_RELATIME | unix.MS_STRICTATIME
	return set, clr, flags == 0
}

func (k *compiler) hasNS(t specs.LinuxNamespaceType) bool {
	for _, ns := range k.s.Linux.Namespaces {
		if ns.Type == t {
			return true
		}
	}
	return false
}

// devices creates the device nodes and /dev links, as rootfs's
// createDevices and devLinks.
func (k *compiler) devices() error {
	devs := k.s.Linux.Devices
	all := append(rootfs.DefaultsNotIn(devs), devs...)
	dev, err := k.mkdirAll("/dev", "/dev")
	if err != nil {
		return err
	}
	for i := range all {
		d := &all[i]
		what := "device " + d.Path
		if i >= len(all)-len(devs) {
			what = "linux.devices[" + strconv.Itoa(i-(len(all)-len(devs))) + "] " + d.Path
		}
		dir, name := path.Split(path.Clean("/" + d.Path))
		dfd := dev
		if path.Clean(dir) != "/dev" {
			if dfd, err = k.mkdirAll(what, dir); err != nil {
				return err
			}
		}
		typ, mode, uid, gid, err := rootfs.DeviceNode(d)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		devnum := unix.Mkdev(uint32(d.Major), uint32(d.Minor))
		mknod := func() *sysprog.Op {
			return k.sys2(what, "mknod", unix.SYS_MKNODAT, sysprog.Fd(dfd), sysprog.Str(name), sysprog.Imm(typ|mode), sysprog.Imm(devnum))
		}
		// An image may ship its own node or a plain file: replace it.
		mknod().Tolerate(0, unix.EEXIST).SkipOnSuccess(2)
		k.sys2(what, "replace existing", unix.SYS_UNLINKAT, sysprog.Fd(dfd), sysprog.Str(name), sysprog.Imm(0))
		mknod()
		// mknod applies the umask: set the exact mode, then the owner.
		k.sys2(what, "chmod", unix.SYS_FCHMODAT, sysprog.Fd(dfd), sysprog.Str(name), sysprog.Imm(mode), sysprog.Imm(0))
		if uid != -1 || gid != -1 {
			k.sys2(what, "chown", unix.SYS_FCHOWNAT, sysprog.Fd(dfd), sysprog.Str(name), sysprog.Imm(uintptr(uid)), sysprog.Imm(uintptr(gid)), sysprog.Imm(unix.AT_SYMLINK_NOFOLLOW))
		}
		if dfd != dev {
			k.close(dfd)
		}
	}
	for _, l := range rootfs.DevLinks() {
		k.sys("symlink /dev/"+l[1], unix.SYS_SYMLINKAT, sysprog.Str(l[0]), sysprog.Fd(dev), sysprog.Str(l[1])).Tolerate(0, unix.EEXIST)
	}
	// /dev/ptmx must lead to the container's own devpts instance.
	st := make([]byte, 256)
	k.sys("stat /dev/pts/ptmx", unix.SYS_NEWFSTATAT, sysprog.Fd(dev), sysprog.Str("pts/ptmx"), sysprog.Bytes(st), sysprog.Imm(unix.AT_SYMLINK_NOFOLLOW)).Tolerate(2, unix.ENOENT, unix.ENOTDIR)
	k.sys("remove /dev/ptmx", unix.SYS_UNLINKAT, sysprog.Fd(dev), sysprog.Str("ptmx"), sysprog.Imm(0)).Tolerate(0, unix.ENOENT)
	k.sys("symlink /dev/ptmx", unix.SYS_SYMLINKAT, sysprog.Str("pts/ptmx"), sysprog.Fd(dev), sysprog.Str("ptmx"))
	k.close(dev)
	return nil
}

func unwrap(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

package linux

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// SealedExe returns a descriptor of the running executable that a container
// cannot write through, for re-executing the runtime as a container's init.
//
// While the init runs inside the container, /proc/PID/exe of the init (and of
// anything a "#!/proc/self/exe" script makes it execute) is the runtime
// binary; CVE-2019-5736 overwrote the host's runc that way. Executing from a
// detached, read-only bind mount of the binary (open_tree(2) +
// mount_setattr(2), kernel 5.12+) makes every write through those links fail
// with EROFS, and costs two syscalls. The detached mount is attached to no
// mount table and disappears with the last process that uses it. Where the
// kernel lacks those calls, a sealed memfd copy is used instead.
//
// The descriptor is placed at or above minFD, so the caller can hand it to a
// child without it being overwritten by the stdio and extra files.
func SealedExe(minFD int) (int, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, "/proc/self/exe", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err == nil {
		err = unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
		if err == nil {
			return moveFD(fd, minFD)
		}
		unix.Close(fd)
	}
	return memfdExe(minFD)
}

func memfdExe(minFD int) (int, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return -1, err
	}
	defer src.Close()
	mfd, err := unix.MemfdCreate("hako", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, fmt.Errorf("copy runtime binary: %w", err)
	}
	dst := os.NewFile(uintptr(mfd), "hako-exe")
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return -1, fmt.Errorf("copy runtime binary: %w", err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(dst.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		dst.Close()
		return -1, fmt.Errorf("seal runtime binary copy: %w", err)
	}
	fd, err := unix.Dup(int(dst.Fd()))
	dst.Close()
	if err != nil {
		return -1, err
	}
	unix.CloseOnExec(fd)
	return moveFD(fd, minFD)
}

func moveFD(fd, minFD int) (int, error) {
	if fd >= minFD {
		return fd, nil
	}
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, minFD)
	unix.Close(fd)
	return nfd, err
}

// MarkCloexecFrom sets close-on-exec on every descriptor >= minFD, so that
// nothing the runtime holds reaches the container process (CVE-2024-21626).
func MarkCloexecFrom(minFD int) error {
	err := unix.CloseRange(uint(minFD), ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
	if err == nil {
		return nil
	}
	// Kernels before 5.11: walk /proc/self/fd.
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, n := range names {
		var fd int
		if _, err := fmt.Sscan(n, &fd); err == nil && fd >= minFD && fd != int(d.Fd()) {
			unix.CloseOnExec(fd)
		}
	}
	return nil
}

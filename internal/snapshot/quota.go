package snapshot

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hako-dev/hako/internal/errdefs"
	"golang.org/x/sys/unix"
)

// A snapshot with a size limit keeps its files in an ext4 filesystem of
// that size, made in a sparse image file and mounted through a loop
// device (see the package doc for where). ext4 fixes its inode count at
// mkfs time, so the same filesystem limits both bytes and files, on any
// host filesystem (project quotas would need xfs, or ext4 mounted with
// prjquota).

const (
	imageName = "disk.img"
	quotaName = "quota"
	// bytesPerInode is mkfs's -i: one inode per 16 KiB, 2048 files in
	// 32 MiB, 65536 in 1 GiB.
	bytesPerInode = 16384
)

// makeQuotaFS creates dir/disk.img of size bytes, formats it and mounts
// it on dir/quota, with fs and (overlay) work directories in it. On
// error the caller removes dir (unmounting first).
func makeQuotaFS(ctx context.Context, dir string, size int64, work bool) error {
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		return fmt.Errorf("a size limit needs mkfs.ext4 (e2fsprogs): %v: %w", err, errdefs.ErrNotImplemented)
	}
	img := filepath.Join(dir, imageName)
	f, err := os.OpenFile(img, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	// Sparse: the image takes on the host only what its files use.
	err = f.Truncate((size + 4095) &^ 4095)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("size limit image: %w", err)
	}
	if err := runMkfs(ctx, mkfs, img); err != nil {
		return err
	}
	q := filepath.Join(dir, quotaName)
	if err := os.Mkdir(q, 0o700); err != nil {
		return err
	}
	if err := mountImage(img, q); err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(q, "fs"), 0o755); err != nil {
		return err
	}
	if work {
		if err := os.Mkdir(filepath.Join(q, "work"), 0o700); err != nil {
			return err
		}
	}
	return syncFS(q)
}

// syncFS writes the filesystem holding p to disk: before a record
// refers to what was just made in it.
func syncFS(p string) error {
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return fmt.Errorf("sync %s: %w", p, err)
	}
	return nil
}

// runMkfs formats img: 4 KiB blocks, an inode per bytesPerInode, nothing
// reserved for root, and nothing written that is zero already (the image
// stays sparse, and the kernel does not zero inode tables after mount).
func runMkfs(ctx context.Context, mkfs, img string) error {
	ext := "lazy_itable_init=1,lazy_journal_init=1,nodiscard"
	args := func(ext string) []string {
		return []string{"-q", "-F", "-m", "0", "-b", "4096", "-I", "256",
			"-i", strconv.Itoa(bytesPerInode), "-E", ext, img}
	}
	// assume_storage_prezeroed is e2fsprogs 1.47: without it the kernel
	// zeroes inode tables (1.5% of the size) in the background.
	out, err := exec.CommandContext(ctx, mkfs, args(ext+",assume_storage_prezeroed=1")...).CombinedOutput()
	if err != nil && bytes.Contains(out, []byte("assume_storage_prezeroed")) {
		out, err = exec.CommandContext(ctx, mkfs, args(ext)...).CombinedOutput()
	}
	if err != nil {
		return fmt.Errorf("mkfs.ext4 %s: %v: %s", img, err, bytes.TrimSpace(out))
	}
	return nil
}

// mountImage attaches img to a free loop device, which clears itself
// when its last user goes, and mounts it on target.
func mountImage(img, target string) error {
	loop, err := attachLoop(img)
	if err != nil {
		return err
	}
	// The mount holds the device from here on; closing ours lets
	// autoclear detach it once unmounted (or now, if mount fails).
	defer loop.Close()
	if err := unix.Mount(loop.Name(), target, "ext4", 0, ""); err != nil {
		return fmt.Errorf("mount %s (%s) on %s: %w", img, loop.Name(), target, err)
	}
	return nil
}

// attachLoop attaches img to a free loop device and returns it, open.
// Another process may take the device LOOP_CTL_GET_FREE returned before
// we configure it (EBUSY): then it asks again.
func attachLoop(img string) (*os.File, error) {
	f, err := os.OpenFile(img, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("a size limit needs loop devices: %v: %w", err, errdefs.ErrNotImplemented)
	}
	defer ctl.Close()
	var lastErr error
	for attempt := range 100 {
		if attempt > 0 {
			time.Sleep(time.Duration(attempt) * time.Millisecond)
		}
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("no free loop device: %w", err)
		}
		dev := "/dev/loop" + strconv.Itoa(n)
		loop, err := os.OpenFile(dev, os.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			// Removed (or its node not made yet) since we asked.
			lastErr = err
			continue
		}
		err = configureLoop(int(loop.Fd()), int(f.Fd()), img)
		if err == nil {
			return loop, nil
		}
		loop.Close()
		if !errors.Is(err, unix.EBUSY) {
			return nil, fmt.Errorf("attach %s to %s: %w", img, dev, err)
		}
		lastErr = err
	}
	return nil, fmt.Errorf("attach %s to a loop device: %w", img, lastErr)
}

// noLoopConfigure makes configureLoop take its pre-5.8 way (for tests).
var noLoopConfigure bool

// configureLoop binds the backing file fd to the loop device loopFD with
// autoclear, in one LOOP_CONFIGURE (Linux 5.8), else with LOOP_SET_FD and
// LOOP_SET_STATUS64.
func configureLoop(loopFD, fd int, name string) error {
	info := unix.LoopInfo64{Flags: unix.LO_FLAGS_AUTOCLEAR}
	copy(info.File_name[:unix.LO_NAME_SIZE-1], name)
	if !noLoopConfigure {
		err := unix.IoctlLoopConfigure(loopFD, &unix.LoopConfig{Fd: uint32(fd), Info: info})
		if err == nil || !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOTTY) {
			return err
		}
	}
	if err := unix.IoctlSetInt(loopFD, unix.LOOP_SET_FD, fd); err != nil {
		return err
	}
	if err := unix.IoctlLoopSetStatus64(loopFD, &info); err != nil {
		unix.IoctlSetInt(loopFD, unix.LOOP_CLR_FD, 0)
		return err
	}
	return nil
}

// unmount unmounts everything mounted on p, lazily if busy (a container's
// overlay still using it: its loop device then goes with the overlay).
// p not existing or not being a mount point is not an error.
func unmount(p string) error {
	for {
		err := unix.Unmount(p, 0)
		if errors.Is(err, unix.EBUSY) {
			err = unix.Unmount(p, unix.MNT_DETACH)
		}
		switch {
		case errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT):
			return nil
		case err != nil:
			return fmt.Errorf("unmount %s: %w", p, err)
		}
	}
}

// mountPointsUnder lists the mount points at or below dir, deepest
// first.
func mountPointsUnder(dir string) ([]string, error) {
	dir = realPath(dir)
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mps []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			mps = append(mps, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	slices.SortStableFunc(mps, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return slices.Compact(mps), nil
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// loopsBackedUnder maps the loop devices whose backing file is below dir
// to that file.
func loopsBackedUnder(dir string) map[string]string {
	dir = realPath(dir)
	loops := map[string]string{}
	files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, bf := range files {
		b, err := os.ReadFile(bf)
		if err != nil {
			continue
		}
		p := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), " (deleted)")
		if strings.HasPrefix(p, dir+"/") {
			loops["/dev/"+filepath.Base(filepath.Dir(filepath.Dir(bf)))] = p
		}
	}
	return loops
}

// detachLoop detaches a loop device (or, if it is in use, marks it to
// clear itself when it is not).
func detachLoop(dev string) error {
	f, err := os.OpenFile(dev, os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.IoctlSetInt(int(f.Fd()), unix.LOOP_CLR_FD, 0); err != nil && !errors.Is(err, unix.ENXIO) {
		return fmt.Errorf("detach %s: %w", dev, err)
	}
	return nil
}

// realPath resolves p's symbolic links, as the kernel reports paths.
func realPath(p string) string {
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return filepath.Clean(p)
}

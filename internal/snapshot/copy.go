package snapshot

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// copyTree copies src into the existing directory dst preserving what a
// layer holds: file modes, ownership, times, xattrs (overlay's own
// excepted unless overlayXattrs: a copy of an overlay upper dir needs its
// opaque markers), hardlinks, symlinks, device nodes and fifos. Nothing
// is followed.
func copyTree(src, dst string, overlayXattrs bool) error {
	links := map[uint64]string{} // inode → first copy, for hardlinks
	var dirs []string
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		st := info.Sys().(*syscall.Stat_t)
		mode := info.Mode()
		switch {
		case rel == ".":
		case mode.IsDir():
			if err := os.Mkdir(target, 0o700); err != nil {
				return err
			}
		case mode.IsRegular():
			if first, ok := links[st.Ino]; ok && st.Nlink > 1 {
				return os.Link(first, target)
			}
			if err := copyFile(p, target); err != nil {
				return err
			}
			if st.Nlink > 1 {
				links[st.Ino] = target
			}
		case mode&os.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := os.Symlink(l, target); err != nil {
				return err
			}
		case mode&(os.ModeDevice|os.ModeCharDevice|os.ModeNamedPipe) != 0:
			if err := unix.Mknod(target, st.Mode, int(st.Rdev)); err != nil {
				return err
			}
		default:
			return fmt.Errorf("copy %s: unsupported file type %v", p, mode.Type())
		}
		if err := unix.Lchown(target, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
		if mode&os.ModeSymlink == 0 {
			if err := unix.Chmod(target, st.Mode&0o7777); err != nil {
				return err
			}
		}
		if err := copyXattrs(p, target, overlayXattrs); err != nil {
			return err
		}
		if mode.IsDir() {
			dirs = append(dirs, p, target)
			return nil
		}
		return setTimes(target, st)
	})
	if err != nil {
		return err
	}
	// Directory times last: their contents changed them.
	for i := len(dirs) - 2; i >= 0; i -= 2 {
		var st unix.Stat_t
		if err := unix.Lstat(dirs[i], &st); err == nil {
			unix.UtimesNanoAt(unix.AT_FDCWD, dirs[i+1], []unix.Timespec{st.Atim, st.Mtim}, unix.AT_SYMLINK_NOFOLLOW)
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	// io.Copy uses copy_file_range: a reflink where the filesystem can.
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

func setTimes(p string, st *syscall.Stat_t) error {
	ts := []unix.Timespec{unix.NsecToTimespec(st.Atim.Nano()), unix.NsecToTimespec(st.Mtim.Nano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
}

func copyXattrs(src, dst string, overlayXattrs bool) error {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(src, buf)
	if err != nil {
		if err == unix.ENOTSUP {
			return nil
		}
		return err
	}
	val := make([]byte, 64<<10)
	for _, name := range splitNull(buf[:n]) {
		if !overlayXattrs && strings.HasPrefix(name, "trusted.overlay.") {
			continue
		}
		m, err := unix.Lgetxattr(src, name, val)
		if err != nil {
			continue
		}
		if err := unix.Lsetxattr(dst, name, val[:m], 0); err != nil && err != unix.ENOTSUP {
			return fmt.Errorf("xattr %s on %s: %w", name, dst, err)
		}
	}
	return nil
}

func splitNull(b []byte) []string {
	var out []string
	start := 0
	for i, c := range b {
		if c == 0 {
			if i > start {
				out = append(out, string(b[start:i]))
			}
			start = i + 1
		}
	}
	return out
}

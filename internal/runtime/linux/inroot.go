package linux

import (
	"errors"
	"fmt"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Paths inside a container's rootfs are resolved with openat2(2) and
// RESOLVE_IN_ROOT, so that "..", absolute symlinks and relative symlinks
// can never lead outside the rootfs, whatever the image or another
// container sharing a volume put there (the CVE-2021-30465 class).
// Mount targets are then named by the O_PATH file descriptor
// (/proc/self/fd/N), never by a path that could be swapped after the check.

const inRootResolve = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// OpenInRoot opens p (absolute or relative, interpreted inside root) with
// the given open flags. It retries the EAGAIN openat2 returns when a
// concurrent rename races the lookup.
func OpenInRoot(rootfd int, p string, flags int) (int, error) {
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: inRootResolve}
	for i := 0; ; i++ {
		fd, err := unix.Openat2(rootfd, p, &how)
		if err == unix.EAGAIN && i < 32 {
			continue
		}
		if err == unix.EINTR {
			continue
		}
		return fd, err
	}
}

// errLoop is returned when symlinks keep pointing at missing paths.
var errLoop = errors.New("too many levels of symbolic links")

// MkdirAllInRoot makes sure directory p exists inside root, creating the
// missing components (mode perm), and returns an O_PATH descriptor of it.
// A dangling symlink on the way is followed and its target created inside
// root, as mkdir -p would inside a chroot.
func MkdirAllInRoot(rootfd int, p string, perm uint32) (int, error) {
	p = path.Clean("/" + p)
	for hops := 0; hops < 40; hops++ {
		fd, err := OpenInRoot(rootfd, p, unix.O_PATH|unix.O_DIRECTORY)
		if err == nil {
			return fd, nil
		}
		if err != unix.ENOENT {
			return -1, &pathErr{"open", p, err}
		}
		// Find the deepest existing ancestor, then create one level.
		comps := strings.Split(strings.TrimPrefix(p, "/"), "/")
		parent := -1
		i := len(comps) - 1
		for ; i >= 0; i-- {
			fd, err := OpenInRoot(rootfd, "/"+strings.Join(comps[:i], "/"), unix.O_PATH|unix.O_DIRECTORY)
			if err == nil {
				parent = fd
				break
			}
			if err != unix.ENOENT {
				return -1, &pathErr{"open", "/" + strings.Join(comps[:i], "/"), err}
			}
		}
		if parent < 0 {
			return -1, &pathErr{"open", "/", unix.ENOENT}
		}
		name := comps[i]
		err = unix.Mkdirat(parent, name, perm)
		if err == unix.EEXIST {
			// Something is there but did not resolve to a directory: a
			// dangling symlink, which we follow.
			target, lerr := readlinkat(parent, name)
			if lerr != nil {
				unix.Close(parent)
				return -1, &pathErr{"mkdir", "/" + strings.Join(comps[:i+1], "/"), unix.ENOTDIR}
			}
			dir := "/" + strings.Join(comps[:i], "/")
			if !path.IsAbs(target) {
				target = path.Join(dir, target)
			}
			p = path.Clean("/" + path.Join(append([]string{target}, comps[i+1:]...)...))
			unix.Close(parent)
			continue
		}
		unix.Close(parent)
		if err != nil {
			return -1, &pathErr{"mkdir", "/" + strings.Join(comps[:i+1], "/"), err}
		}
		hops-- // progress made; does not count as a symlink hop
	}
	return -1, &pathErr{"mkdir", p, errLoop}
}

// MkfileInRoot makes sure a file exists at p inside root (creating parent
// directories and an empty regular file as needed) and returns an O_PATH
// descriptor of it. It is used for bind-mounting files.
func MkfileInRoot(rootfd int, p string) (int, error) {
	p = path.Clean("/" + p)
	for hops := 0; hops < 40; hops++ {
		fd, err := OpenInRoot(rootfd, p, unix.O_PATH)
		if err == nil {
			return fd, nil
		}
		if err != unix.ENOENT {
			return -1, &pathErr{"open", p, err}
		}
		dir, name := path.Split(p)
		dfd, err := MkdirAllInRoot(rootfd, dir, 0o755)
		if err != nil {
			return -1, err
		}
		// Re-open the parent for writing (O_PATH cannot create).
		wfd, err := unix.Openat(dfd, ".", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
		unix.Close(dfd)
		if err != nil {
			return -1, &pathErr{"open", dir, err}
		}
		f, err := unix.Openat(wfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
		if err == nil {
			unix.Close(f)
			unix.Close(wfd)
			continue
		}
		if err == unix.EEXIST {
			target, lerr := readlinkat(wfd, name)
			unix.Close(wfd)
			if lerr != nil {
				continue // raced with a creator; retry the open
			}
			if !path.IsAbs(target) {
				target = path.Join(dir, target)
			}
			p = path.Clean("/" + target)
			continue
		}
		unix.Close(wfd)
		return -1, &pathErr{"create", p, err}
	}
	return -1, &pathErr{"create", p, errLoop}
}

func readlinkat(dirfd int, name string) (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// FdPath names an open descriptor for syscalls that take a path.
func FdPath(fd int) string { return fmt.Sprintf("/proc/self/fd/%d", fd) }

// pathErr is like os.PathError but prints the in-root path the user wrote.
type pathErr struct {
	op, path string
	err      error
}

func (e *pathErr) Error() string { return e.op + " " + e.path + ": " + e.err.Error() }
func (e *pathErr) Unwrap() error { return e.err }

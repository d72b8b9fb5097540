package archive

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hako-dev/hako/internal/errdefs"
	"golang.org/x/sys/unix"
)

// ErrUnsafePath is wrapped by every error about an entry whose name, link
// target or parent directory would lead outside the target directory.
var ErrUnsafePath = fmt.Errorf("unsafe path: %w", errdefs.ErrInvalidArgument)

// cleanName turns a tar member name into a path relative to the target
// directory: leading slashes are dropped (as docker does), "." and empty
// components vanish, and ".." is resolved lexically — an error if it climbs
// above the top. The target directory itself is ".".
func cleanName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("name contains a NUL byte: %w", errdefs.ErrInvalidArgument)
	}
	rel := strings.TrimLeft(name, "/")
	if isCleanRel(rel) {
		return rel, nil
	}
	parts := make([]string, 0, 8)
	for c := range strings.SplitSeq(rel, "/") {
		switch c {
		case "", ".":
		case "..":
			if len(parts) == 0 {
				if rel != name {
					return "", fmt.Errorf("absolute name climbs out of the target directory: %w", ErrUnsafePath)
				}
				return "", fmt.Errorf("name climbs out of the target directory: %w", ErrUnsafePath)
			}
			parts = parts[:len(parts)-1]
		default:
			parts = append(parts, c)
		}
	}
	if len(parts) == 0 {
		return ".", nil
	}
	return strings.Join(parts, "/"), nil
}

// isCleanRel is cleanName's fast path: a non-empty relative name without
// empty, "." or ".." components.
func isCleanRel(name string) bool {
	if name == "" {
		return false
	}
	for c := range strings.SplitSeq(name, "/") {
		if c == "" || c == "." || c == ".." {
			return false
		}
	}
	return true
}

// splitRel splits a clean relative path into its parent directory (".")
// and its last component.
func splitRel(rel string) (dir, base string) {
	i := strings.LastIndexByte(rel, '/')
	if i < 0 {
		return ".", rel
	}
	return rel[:i], rel[i+1:]
}

func joinRel(dir, base string) string {
	if dir == "." {
		return base
	}
	return dir + "/" + base
}

// useOpenat2 is false on kernels older than 5.6 (and in tests of the
// fallback); the os.Root walk is used then.
var useOpenat2 = true

// root is the target directory of one Apply. Every operation on an entry
// happens relative to a directory fd from dirFD, on a single last
// component that is never followed, so no name can lead outside.
//
// Directories are resolved with openat2(RESOLVE_BENEATH|
// RESOLVE_NO_MAGICLINKS): the kernel follows symlinks only while they stay
// beneath the root, and refuses absolute symlinks and ".." above it. Where
// openat2 is missing, os.Root's O_NOFOLLOW walk gives the same answer.
type root struct {
	dir   string
	fd    int      // O_PATH fd of dir
	osr   *os.Root // the fallback resolver, when openat2 is unavailable
	cache map[string]int
	stale []int // fds dropped from cache, closed by release
}

// maxCached bounds the directory fd cache.
const maxCached = 128

func openRoot(dir string) (*root, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	r := &root{dir: dir, fd: fd, cache: map[string]int{}}
	fallback := !useOpenat2
	if !fallback {
		probe, err := unix.Openat2(fd, ".", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC})
		if err == nil {
			unix.Close(probe)
		}
		fallback = errors.Is(err, unix.ENOSYS)
	}
	if fallback {
		if r.osr, err = os.OpenRoot(dir); err != nil {
			unix.Close(fd)
			return nil, err
		}
	}
	return r, nil
}

func (r *root) close() {
	r.invalidate()
	r.release()
	if r.osr != nil {
		r.osr.Close()
	}
	unix.Close(r.fd)
}

// invalidate forgets every cached directory fd; called whenever something
// is removed, since that can change what a cached path names. The fds stay
// open until release, because the current entry may still hold one.
func (r *root) invalidate() {
	for _, fd := range r.cache {
		r.stale = append(r.stale, fd)
	}
	clear(r.cache)
}

// release closes the fds invalidate dropped; called between entries.
func (r *root) release() {
	for _, fd := range r.stale {
		unix.Close(fd)
	}
	r.stale = r.stale[:0]
	if len(r.cache) > maxCached {
		r.invalidate()
		r.release()
	}
}

// dirFD returns a borrowed O_PATH fd for the directory rel, which must be
// clean and relative. The fd is valid until the next release.
func (r *root) dirFD(rel string) (int, error) {
	if rel == "." {
		return r.fd, nil
	}
	if fd, ok := r.cache[rel]; ok {
		return fd, nil
	}
	fd, err := r.openBeneath(rel)
	if err != nil {
		return -1, err
	}
	r.cache[rel] = fd
	return fd, nil
}

func (r *root) openBeneath(rel string) (int, error) {
	if r.osr != nil {
		f, err := r.osr.OpenFile(rel, os.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "escapes") {
				return -1, fmt.Errorf("%q goes through a symlink that leads outside the target directory: %w", rel, ErrUnsafePath)
			}
			return -1, err
		}
		defer f.Close()
		fd, err := unix.Dup(int(f.Fd()))
		if err != nil {
			return -1, fmt.Errorf("dup: %w", err)
		}
		unix.CloseOnExec(fd)
		return fd, nil
	}
	how := unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	}
	for tries := 0; ; tries++ {
		fd, err := unix.Openat2(r.fd, rel, &how)
		switch {
		case err == nil:
			return fd, nil
		case err == unix.EAGAIN && tries < 32:
			// A rename or mount raced with the lookup; the kernel asks us
			// to try again.
			continue
		case err == unix.EXDEV:
			return -1, fmt.Errorf("%q goes through a symlink that leads outside the target directory: %w", rel, ErrUnsafePath)
		case err == unix.ELOOP:
			return -1, fmt.Errorf("%q: too many levels of symlinks", rel)
		}
		return -1, &os.PathError{Op: "open", Path: rel, Err: err}
	}
}

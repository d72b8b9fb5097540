package archive

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/hako-dev/hako/internal/errdefs"
	"golang.org/x/sys/unix"
)

// whiteout carries out the whiteout entry base in directory dir.
//
// The spec says a whiteout applies to the lower layers only: what this
// layer adds stays, whether it comes before or after the whiteout in the
// stream. The added and parents sets make that hold in any order.
func (a *applier) whiteout(dir, base string) error {
	if base == whiteoutOpaque {
		if a.opts.Whiteouts == WhiteoutOverlay {
			return a.opaqueOverlay(dir)
		}
		return a.opaqueDirect(dir)
	}
	if len(base) >= len(whiteoutMetaPrefix) && base[:len(whiteoutMetaPrefix)] == whiteoutMetaPrefix {
		return nil // aufs bookkeeping (.wh..wh.plnk and the like): no meaning in OCI
	}
	name := base[len(whiteoutPrefix):]
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("invalid whiteout name %q: %w", base, errdefs.ErrInvalidArgument)
	}
	rel := joinRel(dir, name)
	if a.opts.Whiteouts == WhiteoutOverlay {
		return a.whiteoutOverlay(dir, name, rel)
	}
	pfd, err := a.root.dirFD(dir)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil // nothing below to hide
	}
	if err != nil {
		return err
	}
	a.root.invalidate()
	return a.removeLower(pfd, name, rel)
}

// removeLower removes base (path rel) from pfd, sparing what this layer
// added: an added non-directory stays; an added directory, or one holding
// added entries, stays but loses its other contents.
func (a *applier) removeLower(pfd int, base, rel string) error {
	if !a.added[rel] && !a.parents[rel] {
		if err := removeAllAt(pfd, base); err != nil {
			return fmt.Errorf("remove %q: %w", rel, err)
		}
		return nil
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err == unix.ENOTDIR || err == unix.ELOOP || err == unix.ENOENT {
		return nil // an added non-directory
	}
	if err != nil {
		return fmt.Errorf("open %q: %w", rel, err)
	}
	defer unix.Close(fd)
	return a.removeLowerChildren(fd, rel)
}

func (a *applier) removeLowerChildren(fd int, rel string) error {
	names, err := readDirNames(fd)
	if err != nil {
		return fmt.Errorf("read directory %q: %w", rel, err)
	}
	for _, n := range names {
		if err := a.removeLower(fd, n, joinRel(rel, n)); err != nil {
			return err
		}
	}
	return nil
}

// opaqueDirect empties dir of its lower contents.
func (a *applier) opaqueDirect(dir string) error {
	dfd, err := a.root.dirFD(dir)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	if err != nil {
		return err
	}
	fd, err := unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %q: %w", dir, err)
	}
	defer unix.Close(fd)
	a.root.invalidate()
	return a.removeLowerChildren(fd, dir)
}

// whiteoutOverlay makes name in dir a whiteout device, unless this layer
// put something there: then that entry already hides the lower one, and
// if it is a directory it must be opaque so as not to merge with it.
func (a *applier) whiteoutOverlay(dir, name, rel string) error {
	pfd, err := a.parent(dir)
	if err != nil {
		return err
	}
	if a.added[rel] || a.parents[rel] {
		var st unix.Stat_t
		if err := unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return nil
		}
		return a.setOpaqueAt(pfd, name)
	}
	a.whiteouts[rel] = true
	err = unix.Mknodat(pfd, name, unix.S_IFCHR, 0)
	if err == unix.EEXIST {
		if err = a.removeAt(pfd, name); err == nil {
			err = unix.Mknodat(pfd, name, unix.S_IFCHR, 0)
		}
	}
	if err != nil {
		return fmt.Errorf("whiteout %q: mknod: %w", rel, err)
	}
	if a.rootUID >= 0 && a.rootGID >= 0 {
		if err := unix.Fchownat(pfd, name, a.rootUID, a.rootGID, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("whiteout %q: chown: %w", rel, err)
		}
	}
	return nil
}

// opaqueOverlay marks dir, created if need be, opaque.
func (a *applier) opaqueOverlay(dir string) error {
	if dir == "." {
		return setOpaqueAt(a.root.fd, ".")
	}
	up, base := splitRel(dir)
	pfd, err := a.parent(dir) // creates dir
	if err != nil {
		return err
	}
	_ = pfd
	ufd, err := a.root.dirFD(up)
	if err != nil {
		return err
	}
	return a.setOpaqueAt(ufd, base)
}

func (a *applier) setOpaqueAt(pfd int, base string) error { return setOpaqueAt(pfd, base) }

func setOpaqueAt(pfd int, base string) error {
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opaque directory: open: %w", err)
	}
	defer unix.Close(fd)
	return setOpaque(fd)
}

const overlayOpaqueXattr = "trusted.overlay.opaque"

func setOpaque(fd int) error {
	if err := unix.Fsetxattr(fd, overlayOpaqueXattr, []byte("y"), 0); err != nil {
		return fmt.Errorf("opaque directory: set xattr %s: %w", overlayOpaqueXattr, err)
	}
	return nil
}

// removeAllAt removes name in dirfd and, if it is a directory, everything
// in it, without following any symlink.
func removeAllAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return err
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	names, err := readDirNames(fd)
	if err == nil {
		for _, n := range names {
			if err = removeAllAt(fd, n); err != nil {
				break
			}
		}
	}
	unix.Close(fd)
	if err != nil {
		return err
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && err != unix.ENOENT {
		return err
	}
	return nil
}

// readDirNames lists the directory open as fd, leaving fd open.
func readDirNames(fd int) ([]string, error) {
	dup, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(dup), ".")
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err == io.EOF {
		err = nil
	}
	return names, err
}

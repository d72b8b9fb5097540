package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/moby/moby/api/types/container"
	"golang.org/x/sys/unix"
)

// `docker cp` in both directions: the Engine API's HEAD, GET and PUT
// /containers/{id}/archive?path=P, on a container's mounted root
// directory.
//
// P is read as docker reads it: absolute in the container, cleaned
// lexically, a trailing "/" or "/." kept. Every symlink on the way is
// followed as if the root directory were "/" (openat2 RESOLVE_IN_ROOT, or
// the same walk done here on kernels before 5.6): a link to /etc/shadow
// means root/etc/shadow, and ".." stops at root. A final symlink is not
// followed — it is what is described or archived — unless P ends in "/"
// or "/.". Trees are read and written one component at a time relative to
// directory fds, never following a symlink, so a container changing its
// files meanwhile cannot make us read or write outside its root.

// StatPath describes path inside root as docker's HEAD archive does
// (the X-Docker-Container-Path-Stat header). Name is the base name of the
// path as given ("." for "dir/."; "/" for the root); LinkTarget, for a
// final symlink, is the absolute path inside root it leads to, missing
// components included. A missing path is an error wrapping
// errdefs.ErrNotFound.
func StatPath(root, path string) (container.PathStat, error) {
	t, err := openTarget(root, path)
	if err != nil {
		return container.PathStat{}, err
	}
	defer t.close()
	st := t.st
	ps := container.PathStat{
		Name:  t.name,
		Size:  st.Size,
		Mode:  fileMode(&st),
		Mtime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec),
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		resolved, err := resolveInRoot(t.rootfd, t.abs)
		if err != nil {
			return container.PathStat{}, fmt.Errorf("stat %s: resolve symlink: %w", path, err)
		}
		ps.LinkTarget = "/" + strings.TrimPrefix(resolved, ".")
	}
	return ps, nil
}

// Lstat returns the stat(2) of path inside root, resolved as StatPath
// resolves it, for what PathStat leaves out (owner, raw mode bits).
func Lstat(root, path string) (unix.Stat_t, error) {
	t, err := openTarget(root, path)
	if err != nil {
		return unix.Stat_t{}, err
	}
	defer t.close()
	return t.st, nil
}

// TarPath writes path inside root as a tar, as docker's GET archive does:
// the top entry is named after path's base name as given and the rest
// below it ("etc/", "etc/hosts"), except that a path ending in "/." names
// them "./" and "./hosts" — the directory's content, which the client
// unpacks into its destination — and the root "/" names them "/" and
// "/etc/" (the client rebases both). A final symlink is archived as a
// symlink unless path ends in "/" or "/."; symlinks below the top are
// never followed. Entries carry owner, mode, mtime (whole seconds) and
// xattrs; hardlinks inside the tree stay hardlinks; sockets are left out.
func TarPath(w io.Writer, root, path string) error {
	t, err := openTarget(root, path)
	if err != nil {
		return err
	}
	defer t.close()
	e := newTarEmitter(w)
	isDir, err := e.entry(t.dirfd, t.base, t.name)
	if err == nil && isDir {
		prefix := t.name + "/"
		if t.name == "/" {
			prefix = "/"
		}
		err = e.subtree(t.dirfd, t.base, prefix)
	}
	if err != nil {
		return fmt.Errorf("archive %s: %w", path, err)
	}
	return e.close()
}

// target is the entry a path names inside a root directory.
type target struct {
	rootfd int
	abs    string // the path as docker reads it
	name   string // its base name, as docker reports it
	dirfd  int    // the directory holding it
	base   string // its name in dirfd; "." when it is dirfd itself
	st     unix.Stat_t
}

func openTarget(root, path string) (_ *target, retErr error) {
	abs, err := containerPath(path)
	if err != nil {
		return nil, err
	}
	rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("container root: %w", &os.PathError{Op: "open", Path: root, Err: err})
	}
	t := &target{rootfd: rootfd, dirfd: -1, abs: abs, name: filepath.Base(abs)}
	defer func() {
		if retErr != nil {
			t.close()
		}
	}()
	dir, base := filepath.Split(abs)
	if base == "" || base == "." {
		t.base = "."
		dir = abs // follow a final symlink
	} else {
		t.base = base
	}
	t.dirfd, err = openInRoot(rootfd, dir, unix.O_PATH|unix.O_DIRECTORY)
	if err == nil {
		err = unix.Fstatat(t.dirfd, t.base, &t.st, unix.AT_SYMLINK_NOFOLLOW)
	}
	switch {
	case err == nil:
		return t, nil
	case errors.Is(err, unix.ENOENT):
		return nil, fmt.Errorf("no such file or directory in the container: %s: %w", path, errdefs.ErrNotFound)
	case errors.Is(err, unix.ENOTDIR) && t.base == ".":
		return nil, fmt.Errorf("%s: not a directory: %w", path, errdefs.ErrInvalidArgument)
	case errors.Is(err, unix.ENOTDIR):
		return nil, fmt.Errorf("no such file or directory in the container: %s (a parent is not a directory): %w", path, errdefs.ErrNotFound)
	case errors.Is(err, unix.ELOOP):
		return nil, fmt.Errorf("%s: too many levels of symlinks: %w", path, errdefs.ErrInvalidArgument)
	}
	return nil, fmt.Errorf("stat %s: %w", path, err)
}

func (t *target) close() {
	if t.dirfd >= 0 {
		unix.Close(t.dirfd)
	}
	unix.Close(t.rootfd)
}

// containerPath reads an archive request's path as docker does: absolute
// in the container, cleaned lexically, keeping a trailing "/." or "/".
func containerPath(p string) (string, error) {
	if p == "" {
		return "", fmt.Errorf("path is empty: %w", errdefs.ErrInvalidArgument)
	}
	if strings.IndexByte(p, 0) >= 0 {
		return "", fmt.Errorf("path contains a NUL byte: %w", errdefs.ErrInvalidArgument)
	}
	abs := filepath.Join("/", p)
	if filepath.Base(p) == "." {
		if !strings.HasSuffix(abs, "/") {
			abs += "/"
		}
		abs += "."
	}
	if strings.HasSuffix(p, "/") && !strings.HasSuffix(abs, "/") {
		abs += "/"
	}
	return abs, nil
}

// fileMode is st's mode as Go's os.FileMode, which PathStat carries.
func fileMode(st *unix.Stat_t) os.FileMode {
	m := os.FileMode(st.Mode & 0o777)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		m |= os.ModeDevice
	case unix.S_IFCHR:
		m |= os.ModeDevice | os.ModeCharDevice
	case unix.S_IFDIR:
		m |= os.ModeDir
	case unix.S_IFIFO:
		m |= os.ModeNamedPipe
	case unix.S_IFLNK:
		m |= os.ModeSymlink
	case unix.S_IFSOCK:
		m |= os.ModeSocket
	}
	if st.Mode&unix.S_ISUID != 0 {
		m |= os.ModeSetuid
	}
	if st.Mode&unix.S_ISGID != 0 {
		m |= os.ModeSetgid
	}
	if st.Mode&unix.S_ISVTX != 0 {
		m |= os.ModeSticky
	}
	return m
}

// openInRoot opens p inside the directory rootfd as if rootfd were "/":
// every symlink, the final one included, is followed inside it and ".."
// stops at it. flags are openat's (O_NOFOLLOW is not honoured: use a
// parent directory and a last name for that).
func openInRoot(rootfd int, p string, flags int) (int, error) {
	rel := strings.TrimLeft(p, "/")
	if rel == "" {
		rel = "."
	}
	if useOpenat2 {
		how := unix.OpenHow{Flags: uint64(flags) | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS}
		for tries := 0; ; tries++ {
			fd, err := unix.Openat2(rootfd, rel, &how)
			if err == unix.EAGAIN && tries < 32 {
				continue // a rename raced with the lookup
			}
			if err != unix.ENOSYS {
				return fd, err
			}
			break
		}
	}
	resolved, err := resolveInRoot(rootfd, rel)
	if err != nil {
		return -1, err
	}
	return openNoFollow(rootfd, resolved, flags)
}

// resolveInRoot follows p inside rootfd as RESOLVE_IN_ROOT does and
// returns the clean path it leads to, relative to rootfd ("." for the
// root). Missing components are kept as they are (".." among them
// removes the one before), so a dangling symlink resolves to where its
// target would be.
func resolveInRoot(rootfd int, p string) (string, error) {
	var names []string
	var fds []int // fds[i] is an O_PATH fd on names[:i+1], or -1 if missing
	defer func() {
		for _, fd := range fds {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	}()
	pop := func() {
		if fd := fds[len(fds)-1]; fd >= 0 {
			unix.Close(fd)
		}
		names, fds = names[:len(names)-1], fds[:len(fds)-1]
	}
	todo := strings.Split(p, "/")
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(names) > 0 {
				pop()
			}
			continue
		}
		cur := rootfd
		if n := len(fds); n > 0 {
			cur = fds[n-1]
		}
		if cur < 0 { // below a missing component
			names, fds = append(names, c), append(fds, -1)
			continue
		}
		var st unix.Stat_t
		err := unix.Fstatat(cur, c, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == unix.ENOENT || err == unix.ENOTDIR {
			names, fds = append(names, c), append(fds, -1)
			continue
		}
		if err != nil {
			return "", &os.PathError{Op: "lstat", Path: strings.Join(append(names, c), "/"), Err: err}
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			if links++; links > 40 {
				return "", fmt.Errorf("%s: %w", p, unix.ELOOP)
			}
			l, err := readlinkAt(cur, c)
			if err != nil {
				return "", err
			}
			if strings.HasPrefix(l, "/") {
				for len(names) > 0 {
					pop()
				}
			}
			todo = append(strings.Split(l, "/"), todo...)
			continue
		}
		fd, err := unix.Openat(cur, c, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return "", &os.PathError{Op: "open", Path: strings.Join(append(names, c), "/"), Err: err}
		}
		names, fds = append(names, c), append(fds, fd)
	}
	if len(names) == 0 {
		return ".", nil
	}
	return strings.Join(names, "/"), nil
}

// openNoFollow opens the clean relative path rel below rootfd without
// following any symlink on the way.
func openNoFollow(rootfd int, rel string, flags int) (int, error) {
	if rel == "." {
		return unix.Openat(rootfd, ".", flags|unix.O_CLOEXEC, 0)
	}
	dir, base := splitRel(rel)
	c := &dirChain{root: rootfd}
	defer c.close()
	pfd, err := c.open(dir)
	if err != nil {
		return -1, err
	}
	return unix.Openat(pfd, base, flags|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
}

// ExtractOptions tunes ExtractToWithOptions.
type ExtractOptions struct {
	// NoOverwriteDirNonDir refuses to replace an existing directory with
	// a non-directory or the reverse (docker's noOverwriteDirNonDir).
	NoOverwriteDirNonDir bool
	// Owner, when set, owns every entry written instead of the IDs the
	// tar gives: docker's copyUIDGID=1, with the IDs of the container's
	// user, which the caller looks up in the container.
	Owner *Owner
}

// Owner is a pair of IDs.
type Owner struct{ UID, GID int }

// ExtractTo unpacks the tar read from r (plain, gzip or zstd) into the
// directory path inside root, as docker's PUT archive does; see
// ExtractToWithOptions. The tar's own IDs are kept (docker's default,
// copyUIDGID=0).
func ExtractTo(root, path string, r io.Reader, noOverwriteDirNonDir bool) error {
	return ExtractToWithOptions(root, path, r, ExtractOptions{NoOverwriteDirNonDir: noOverwriteDirNonDir})
}

// ExtractToWithOptions unpacks the tar read from r into the directory
// path inside root. path is resolved inside root, a final symlink
// included (so one may point at the directory); a missing directory is
// an error wrapping errdefs.ErrNotFound, a non-directory one wrapping
// errdefs.ErrInvalidArgument ("extraction point is not a directory").
//
// Entries are named relative to that directory; a leading "/" is dropped
// and a ".." that climbs above it is refused (ErrUnsafePath). Missing
// parents are created (0755, root). An existing entry is replaced, except
// that a directory entry merges into an existing directory; the top
// entry "." leaves the directory itself alone. Symlinks on the way, from
// the container or from earlier entries, are followed inside root only,
// and a symlink is written with whatever target the tar gives, since it
// is data until followed. A hardlink's target is an entry name, resolved
// the same way. Owner, mode, times and xattrs are set as in the tar
// (overlay's own xattrs never; xattrs the filesystem refuses are skipped,
// as docker does). ".wh." names are ordinary files here: this is a copy,
// not a layer.
func ExtractToWithOptions(root, path string, r io.Reader, opts ExtractOptions) error {
	abs, err := containerPath(path)
	if err != nil {
		return err
	}
	rootfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("container root: %w", &os.PathError{Op: "open", Path: root, Err: err})
	}
	defer unix.Close(rootfd)
	dfd, err := openInRoot(rootfd, abs, unix.O_PATH|unix.O_DIRECTORY)
	switch {
	case err == nil:
		unix.Close(dfd)
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("extract to %s: no such directory in the container: %w", path, errdefs.ErrNotFound)
	case errors.Is(err, unix.ENOTDIR):
		return fmt.Errorf("extract to %s: extraction point is not a directory: %w", path, errdefs.ErrInvalidArgument)
	default:
		return fmt.Errorf("extract to %s: %w", path, err)
	}
	stream, _, err := Decompress(r)
	if err != nil {
		return fmt.Errorf("extract to %s: %w", path, err)
	}
	defer stream.Close()
	x := &extractor{
		rootfd:   rootfd,
		dest:     strings.TrimLeft(filepath.Clean(abs), "/"),
		opts:     opts,
		meta:     &applier{opts: ApplyOptions{IgnoreXattrErrors: true}},
		cache:    map[string]int{},
		dirTimes: map[string]*tar.Header{},
		buf:      make([]byte, 128<<10),
	}
	defer x.invalidate()
	tr := tar.NewReader(stream)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("extract to %s: read archive: %w", path, errors.Join(err, errdefs.ErrInvalidArgument))
		}
		if err := x.entry(hdr, tr); err != nil {
			return fmt.Errorf("extract to %s: entry %q: %w", path, hdr.Name, err)
		}
	}
	return x.fixDirTimes()
}

// extractor is the state of one ExtractTo.
type extractor struct {
	rootfd   int
	dest     string // the target directory, relative to root, unresolved
	opts     ExtractOptions
	meta     *applier // sets owners, modes, xattrs and times
	cache    map[string]int
	dirTimes map[string]*tar.Header
	buf      []byte
}

func (x *extractor) entry(hdr *tar.Header, body io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	if len(x.cache) >= maxCached {
		x.invalidate() // between entries, when no fd is borrowed
	}
	rel, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if rel == "." {
		if hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("a %s cannot replace the target directory: %w", typeName(hdr.Typeflag), errdefs.ErrInvalidArgument)
		}
		return nil
	}
	if x.opts.Owner != nil {
		h := *hdr
		h.Uid, h.Gid = x.opts.Owner.UID, x.opts.Owner.GID
		hdr = &h
	}
	dir, base := splitRel(rel)
	pfd, err := x.parent(dir)
	if err != nil {
		return err
	}
	isDir := hdr.Typeflag == tar.TypeDir
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil {
		wasDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		if x.opts.NoOverwriteDirNonDir && wasDir && !isDir {
			return fmt.Errorf("cannot overwrite directory %q with a %s: %w", rel, typeName(hdr.Typeflag), errdefs.ErrInvalidArgument)
		}
		if x.opts.NoOverwriteDirNonDir && !wasDir && isDir {
			return fmt.Errorf("cannot overwrite non-directory %q with a directory: %w", rel, errdefs.ErrInvalidArgument)
		}
		if !(wasDir && isDir) {
			if err := removeAllAt(pfd, base); err != nil {
				return fmt.Errorf("replace existing %q: %w", rel, err)
			}
			// Cached directories may have been below it.
			x.invalidate()
			if pfd, err = x.parent(dir); err != nil {
				return err
			}
		}
	} else if err != unix.ENOENT {
		return &os.PathError{Op: "lstat", Path: rel, Err: err}
	}

	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.dir(pfd, base, rel, hdr)
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
		return x.file(pfd, base, hdr, body)
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return fmt.Errorf("symlink: %w", err)
		}
		return x.meta.finish(pfd, base, -1, hdr)
	case tar.TypeLink:
		return x.hardlink(pfd, base, rel, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return x.node(pfd, base, hdr)
	}
	return fmt.Errorf("unsupported entry type %q: %w", hdr.Typeflag, errdefs.ErrInvalidArgument)
}

func (x *extractor) dir(pfd int, base, rel string, hdr *tar.Header) error {
	if err := unix.Mkdirat(pfd, base, 0o700); err != nil && err != unix.EEXIST {
		return fmt.Errorf("mkdir: %w", err)
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	defer unix.Close(fd)
	x.dirTimes[rel] = hdr
	return x.meta.finish(pfd, base, fd, hdr)
}

func (x *extractor) file(pfd int, base string, hdr *tar.Header, body io.Reader) error {
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	f := os.NewFile(uintptr(fd), base)
	defer f.Close()
	if isSparse(hdr) {
		_, err = copySparse(f, body, x.buf)
	} else {
		_, err = io.CopyBuffer(fileWriter{f}, body, x.buf)
	}
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := x.meta.finish(pfd, base, fd, hdr); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

func (x *extractor) hardlink(pfd int, base, rel string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
	}
	if target == "." || target == rel {
		return fmt.Errorf("hardlink to %q: %w", hdr.Linkname, errdefs.ErrInvalidArgument)
	}
	tdir, tbase := splitRel(target)
	tfd, err := x.dirFD(tdir)
	if err == nil {
		// No AT_SYMLINK_FOLLOW: a symlink is linked, never its target.
		err = unix.Linkat(tfd, tbase, pfd, base, 0)
	}
	if err != nil {
		return fmt.Errorf("hardlink to %q: %w", hdr.Linkname, err)
	}
	return nil
}

// node makes a device or a fifo. Its mode is set through an O_PATH fd on
// it, not its name: a container swapping it for a symlink meanwhile must
// not make us chmod what the symlink points at.
func (x *extractor) node(pfd int, base string, hdr *tar.Header) error {
	mode := uint32(unix.S_IFIFO)
	switch hdr.Typeflag {
	case tar.TypeChar:
		mode = unix.S_IFCHR
	case tar.TypeBlock:
		mode = unix.S_IFBLK
	}
	dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
	if err := unix.Mknodat(pfd, base, mode|0o600, dev); err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	fd, err := unix.Openat(pfd, base, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != mode {
		return fmt.Errorf("%q was replaced while being created", base)
	}
	// finish changes no mode on a symlink, and does everything else
	// without following one.
	h := *hdr
	h.Typeflag = tar.TypeSymlink
	if err := x.meta.finish(pfd, base, -1, &h); err != nil {
		return err
	}
	perm := uint32(hdr.Mode) & 0o7777
	if err := unix.Chmod("/proc/self/fd/"+strconv.Itoa(fd), perm); err != nil {
		return fmt.Errorf("chmod %#o: %w", perm, err)
	}
	return nil
}

// parent returns a borrowed fd on the directory dir (relative to the
// target directory), resolved inside root and created, with its missing
// ancestors, if need be.
func (x *extractor) parent(dir string) (int, error) {
	fd, err := x.dirFD(dir)
	if err == nil || dir == "." || !(errors.Is(err, unix.ENOENT)) {
		return fd, err
	}
	up, base := splitRel(dir)
	ufd, err := x.parent(up)
	if err != nil {
		return -1, err
	}
	if err := unix.Mkdirat(ufd, base, 0o755); err != nil && err != unix.EEXIST {
		return -1, &os.PathError{Op: "mkdir", Path: dir, Err: err}
	}
	fd, err = x.dirFD(dir)
	if errors.Is(err, unix.ENOENT) {
		return -1, fmt.Errorf("parent %q is a symlink to a missing directory: %w", dir, errdefs.ErrInvalidArgument)
	}
	return fd, err
}

// dirFD returns a borrowed O_PATH fd on the directory dir (relative to
// the target directory), resolved inside root.
func (x *extractor) dirFD(dir string) (int, error) {
	if fd, ok := x.cache[dir]; ok {
		return fd, nil
	}
	fd, err := openInRoot(x.rootfd, joinRel(x.dest, dir), unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		if errors.Is(err, unix.ENOTDIR) {
			return -1, fmt.Errorf("parent %q is not a directory: %w", dir, errdefs.ErrInvalidArgument)
		}
		return -1, fmt.Errorf("parent %q: %w", dir, err)
	}
	x.cache[dir] = fd
	return fd, nil
}

// invalidate forgets the cached directories: something was removed, and
// a cached path may name something else now.
func (x *extractor) invalidate() {
	for _, fd := range x.cache {
		unix.Close(fd)
	}
	clear(x.cache)
}

// fixDirTimes sets the directories' times once nothing more is written
// into them.
func (x *extractor) fixDirTimes() error {
	for rel, hdr := range x.dirTimes {
		dir, base := splitRel(rel)
		pfd, err := x.dirFD(dir)
		if err != nil {
			continue // replaced by a later entry
		}
		var st unix.Stat_t
		if unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			continue
		}
		if err := setTimes(pfd, base, hdr); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
	}
	return nil
}

package archive

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// WriteOverlayDiff writes the changes of the overlay upper directory
// upper over its lower directories lowers (top first) as an uncompressed
// layer tar (OCI image-spec layer.md, as docker writes them): every Add
// and Modify of OverlayChanges as an entry from upper, each whiteout as a
// ".wh.NAME" entry and each opaque directory followed by its
// ".wh..wh..opq" entry. Entries come in path order, directories before
// their contents; files hardlinked together inside the layer stay so;
// xattrs are PAX records, except overlay's own and security.selinux (a
// host label, not content). Times are whole seconds, names not looked up,
// so the same tree gives the same bytes.
func WriteOverlayDiff(w io.Writer, upper string, lowers []string) error {
	cs, err := overlayChanges(upper, lowers)
	if err != nil {
		return err
	}
	return writeChanges(w, upper, cs)
}

// WriteDirDiff writes the changes of the tree changed over the tree base
// (DirChanges) as an uncompressed layer tar, like WriteOverlayDiff.
func WriteDirDiff(w io.Writer, base, changed string) error {
	cs, err := dirChanges(base, changed)
	if err != nil {
		return err
	}
	return writeChanges(w, changed, cs)
}

// WriteTree writes the whole tree dir as a tar (`docker export`): every
// entry below dir, named relative to it ("etc/", "etc/hosts"), with its
// owner, mode, times and xattrs as on disk and no whiteout conversion.
// Sockets are left out, as docker does.
func WriteTree(w io.Writer, dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("archive: %w", &os.PathError{Op: "open", Path: dir, Err: err})
	}
	defer unix.Close(fd)
	e := newTarEmitter(w)
	if err := e.tree(fd, ""); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	return e.close()
}

// writeChanges writes the layer holding the changes cs of the tree dir.
func writeChanges(w io.Writer, dir string, cs []change) error {
	rfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("diff: %w", &os.PathError{Op: "open", Path: dir, Err: err})
	}
	defer unix.Close(rfd)
	dirs := &dirChain{root: rfd}
	defer dirs.close()
	e := newTarEmitter(w)
	for _, c := range cs {
		parent, base := splitRel(c.rel)
		switch {
		case c.kind == ChangeDelete && c.covered:
			continue
		case c.kind == ChangeDelete:
			err = e.marker(joinRel(parent, whiteoutPrefix+base))
		default:
			var pfd int
			if pfd, err = dirs.open(parent); err == nil {
				_, err = e.entry(pfd, base, c.rel)
			}
			if err == nil && c.opaque {
				err = e.marker(c.rel + "/" + whiteoutOpaque)
			}
		}
		if err != nil {
			return fmt.Errorf("diff %q: %w", c.rel, err)
		}
	}
	return e.close()
}

// tarEmitter writes tree entries to a tar stream.
type tarEmitter struct {
	tw    *tar.Writer
	links map[[2]uint64]string // (dev, inode) → the name first written
	buf   []byte
}

func newTarEmitter(w io.Writer) *tarEmitter {
	return &tarEmitter{tw: tar.NewWriter(w), links: map[[2]uint64]string{}, buf: make([]byte, 128<<10)}
}

func (e *tarEmitter) close() error {
	if err := e.tw.Close(); err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	return nil
}

// marker writes an empty whiteout entry.
func (e *tarEmitter) marker(name string) error {
	return e.tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o600, ModTime: time.Unix(0, 0), Format: tar.FormatPAX})
}

// tree writes every entry below the directory open as fd, in name order,
// named prefix+name.
func (e *tarEmitter) tree(fd int, prefix string) error {
	names, err := readDirNames(fd)
	if err != nil {
		return fmt.Errorf("read directory %q: %w", prefix, err)
	}
	slices.Sort(names)
	for _, n := range names {
		name := prefix + n
		isDir, err := e.entry(fd, n, name)
		if err != nil {
			return err
		}
		if isDir {
			if err := e.subtree(fd, n, name+"/"); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e *tarEmitter) subtree(pfd int, base, prefix string) error {
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: prefix, Err: err}
	}
	defer unix.Close(fd)
	return e.tree(fd, prefix)
}

// entry writes the entry base of the directory dirfd (base "." for dirfd
// itself) under the name name, and reports whether it is a directory.
// Nothing is followed: a symlink is written as one.
func (e *tarEmitter) entry(dirfd int, base, name string) (isDir bool, retErr error) {
	var st unix.Stat_t
	if err := unix.Fstatat(dirfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return false, &os.PathError{Op: "lstat", Path: name, Err: err}
	}
	hdr := &tar.Header{Name: name, Format: tar.FormatPAX}
	var f *os.File
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		if !strings.HasSuffix(hdr.Name, "/") {
			hdr.Name += "/"
		}
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		l, err := readlinkAt(dirfd, base)
		if err != nil {
			return false, err
		}
		hdr.Linkname = l
	case unix.S_IFCHR, unix.S_IFBLK:
		hdr.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			hdr.Typeflag = tar.TypeBlock
		}
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	case unix.S_IFREG:
		key := [2]uint64{st.Dev, st.Ino}
		if first, ok := e.links[key]; ok && st.Nlink > 1 {
			hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
			setHeaderStat(hdr, &st)
			return false, e.tw.WriteHeader(hdr)
		}
		fd, err := unix.Openat(dirfd, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return false, &os.PathError{Op: "open", Path: name, Err: err}
		}
		f = os.NewFile(uintptr(fd), name)
		defer f.Close()
		var fst unix.Stat_t
		if err := unix.Fstat(fd, &fst); err != nil {
			return false, &os.PathError{Op: "stat", Path: name, Err: err}
		}
		if fst.Dev != st.Dev || fst.Ino != st.Ino {
			return false, fmt.Errorf("%q was replaced while being archived", name)
		}
		st = fst
		hdr.Typeflag, hdr.Size = tar.TypeReg, st.Size
		if st.Nlink > 1 {
			e.links[key] = name
		}
	default: // a socket: nothing a tar can hold
		return false, nil
	}
	setHeaderStat(hdr, &st)
	xattrs, err := readXattrs(procPath(dirfd, base))
	if err != nil {
		return false, fmt.Errorf("%q: %w", name, err)
	}
	for k, v := range xattrs {
		if k == "security.selinux" {
			continue
		}
		if hdr.PAXRecords == nil {
			hdr.PAXRecords = map[string]string{}
		}
		hdr.PAXRecords[paxXattr+k] = v
	}
	if err := e.tw.WriteHeader(hdr); err != nil {
		return false, fmt.Errorf("%q: %w", name, err)
	}
	if f != nil {
		n, err := io.CopyBuffer(e.tw, io.LimitReader(f, hdr.Size), e.buf)
		if err != nil {
			return false, fmt.Errorf("%q: %w", name, err)
		}
		if n != hdr.Size {
			return false, fmt.Errorf("%q shrank while being archived", name)
		}
	}
	return hdr.Typeflag == tar.TypeDir, nil
}

// setHeaderStat copies owner, mode bits and mtime (whole seconds, as
// docker writes them) into hdr.
func setHeaderStat(hdr *tar.Header, st *unix.Stat_t) {
	hdr.Mode = int64(st.Mode & 0o7777)
	hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
	hdr.ModTime = time.Unix(st.Mtim.Sec, 0)
}

// dirChain opens directories of a tree by relative path without following
// any symlink, keeping open the chain of the last one's ancestors: fed
// paths in sorted order, it opens each directory once.
type dirChain struct {
	root int // O_PATH fd of the tree
	rels []string
	fds  []int // fds[i] is open on rels[i]; each rels[i] is below rels[i-1]
}

func (c *dirChain) open(rel string) (int, error) {
	if rel == "." {
		return c.root, nil
	}
	for n := len(c.rels); n > 0; n = len(c.rels) {
		top := c.rels[n-1]
		if top == rel {
			return c.fds[n-1], nil
		}
		if strings.HasPrefix(rel, top+"/") {
			break
		}
		unix.Close(c.fds[n-1])
		c.rels, c.fds = c.rels[:n-1], c.fds[:n-1]
	}
	cur, done := c.root, "."
	if n := len(c.rels); n > 0 {
		cur, done = c.fds[n-1], c.rels[n-1]
	}
	rest := rel
	if done != "." {
		rest = rel[len(done)+1:]
	}
	for comp := range strings.SplitSeq(rest, "/") {
		fd, err := unix.Openat(cur, comp, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: joinRel(done, comp), Err: err}
		}
		done = joinRel(done, comp)
		c.rels, c.fds = append(c.rels, done), append(c.fds, fd)
		cur = fd
	}
	return cur, nil
}

func (c *dirChain) close() {
	for _, fd := range c.fds {
		unix.Close(fd)
	}
	c.rels, c.fds = nil, nil
}

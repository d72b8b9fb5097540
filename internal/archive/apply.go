package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/hako-dev/hako/internal/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// WhiteoutMode says how Apply carries out the layer's whiteouts.
type WhiteoutMode int

const (
	// WhiteoutDirect is for a plain directory that already holds the lower
	// layers (the vfs snapshotter): ".wh.NAME" deletes NAME, and
	// ".wh..wh..opq" empties its directory, sparing what this layer adds.
	WhiteoutDirect WhiteoutMode = iota
	// WhiteoutOverlay is for an overlayfs layer (upper) directory, whose
	// lower layers live elsewhere: ".wh.NAME" becomes a 0:0 character
	// device NAME, and ".wh..wh..opq" sets trusted.overlay.opaque="y" on
	// its directory.
	WhiteoutOverlay
)

// ApplyOptions tunes Apply. The zero value unpacks as root, with whiteouts
// applied directly, IDs unchanged, devices allowed and xattr errors fatal.
type ApplyOptions struct {
	// Whiteouts selects how whiteout entries are carried out.
	Whiteouts WhiteoutMode
	// UIDMappings and GIDMappings map the layer's IDs (container IDs) to
	// the IDs written to disk (host IDs), as in a user namespace. Empty
	// means identity; an ID outside a non-empty mapping is an error.
	UIDMappings, GIDMappings []specs.LinuxIDMapping
	// NoDevices refuses character and block device entries with an error
	// (fifos are still created). Set it when unpacking rootless, where
	// mknod cannot work, or for untrusted layers.
	NoDevices bool
	// IgnoreXattrErrors skips security.* and trusted.* xattrs that the
	// filesystem or our privileges refuse (ENOTSUP, EPERM, EACCES) instead
	// of failing. Off by default: silently dropping security.capability
	// breaks binaries such as ping. Errors on other namespaces (user.*)
	// always fail.
	IgnoreXattrErrors bool
}

// Apply unpacks the layer read from r — a tar stream, plain or compressed
// with gzip or zstd — onto dir, and returns the number of bytes of regular
// file content it wrote. See the package documentation for the format and
// the guarantees. On error dir may hold part of the layer; nothing outside
// dir has been touched. Apply reads r to its end, so a digest computed
// while reading covers the whole blob.
func Apply(ctx context.Context, dir string, r io.Reader, opts ApplyOptions) (size int64, retErr error) {
	if opts.Whiteouts != WhiteoutDirect && opts.Whiteouts != WhiteoutOverlay {
		return 0, fmt.Errorf("layer: unknown whiteout mode %d: %w", opts.Whiteouts, errdefs.ErrInvalidArgument)
	}
	tarStream, _, err := Decompress(&sourceReader{r})
	if err != nil {
		return 0, readErr(err)
	}
	defer tarStream.Close()
	rt, err := openRoot(dir)
	if err != nil {
		return 0, fmt.Errorf("layer: target directory: %w", err)
	}
	defer rt.close()

	a := &applier{
		ctx:       ctx,
		opts:      opts,
		root:      rt,
		added:     map[string]bool{},
		parents:   map[string]bool{},
		whiteouts: map[string]bool{},
		dirTimes:  map[string]*tar.Header{},
	}
	if a.rootUID, err = mapID(0, opts.UIDMappings); err != nil {
		a.rootUID = -1
	}
	if a.rootGID, err = mapID(0, opts.GIDMappings); err != nil {
		a.rootGID = -1
	}
	bufp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bufp)
	a.buf = *bufp

	ra := newReadahead(tarStream)
	defer ra.Close()
	in := &streamReader{ctx: ctx, r: ra}
	tr := tar.NewReader(in)
	for {
		if err := ctx.Err(); err != nil {
			return a.size, fmt.Errorf("layer: %w", err)
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return a.size, fmt.Errorf("layer: %w", readErr(err))
		}
		err = a.entry(hdr, tr)
		a.root.release()
		if err != nil {
			if isReadErr(err) {
				err = readErr(err)
			}
			return a.size, fmt.Errorf("layer entry %q: %w", hdr.Name, err)
		}
	}
	// Read what follows the end-of-archive blocks, so that the compressed
	// stream is checked to its end (gzip's CRC) and a digesting r sees it.
	if _, err := io.CopyBuffer(io.Discard, in, a.buf); err != nil {
		return a.size, fmt.Errorf("layer: after the tar end: %w", readErr(err))
	}
	if err := a.fixDirTimes(); err != nil {
		return a.size, err
	}
	return a.size, nil
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// applier is the state of one Apply.
type applier struct {
	ctx  context.Context
	opts ApplyOptions
	root *root
	buf  []byte
	size int64
	// added holds every path this layer created and parents every proper
	// ancestor of one: whiteouts apply to lower layers only, so they spare
	// both, whatever order the entries come in.
	added, parents map[string]bool
	// whiteouts holds the paths of the whiteout devices this layer made
	// (overlay mode); a directory later created there is made opaque.
	whiteouts map[string]bool
	// dirTimes holds each directory's header: its times are set last,
	// when nothing more will be written into it.
	dirTimes         map[string]*tar.Header
	rootUID, rootGID int // the host IDs of container root, or -1
}

const (
	whiteoutPrefix     = ".wh."
	whiteoutMetaPrefix = ".wh..wh."
	whiteoutOpaque     = ".wh..wh..opq"
)

func (a *applier) entry(hdr *tar.Header, body io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	rel, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	dir, base := splitRel(rel)
	if strings.Contains(dir, whiteoutPrefix) {
		for c := range strings.SplitSeq(dir, "/") {
			if strings.HasPrefix(c, whiteoutPrefix) {
				return fmt.Errorf("whiteout %q cannot hold other entries: %w", c, errdefs.ErrInvalidArgument)
			}
		}
	}
	if rel != "." && strings.HasPrefix(base, whiteoutPrefix) {
		return a.whiteout(dir, base)
	}
	if rel == "." {
		if hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("a %s cannot replace the target directory: %w", typeName(hdr.Typeflag), errdefs.ErrInvalidArgument)
		}
		return a.dir(a.root.fd, ".", rel, hdr)
	}

	pfd, err := a.parent(dir)
	if err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		err = a.dir(pfd, base, rel, hdr)
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse, tar.TypeCont:
		err = a.file(pfd, base, hdr, body)
	case tar.TypeSymlink:
		err = a.symlink(pfd, base, hdr)
	case tar.TypeLink:
		err = a.hardlink(pfd, base, rel, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		err = a.mknod(pfd, base, hdr)
	default:
		err = fmt.Errorf("unsupported entry type %q: %w", hdr.Typeflag, errdefs.ErrInvalidArgument)
	}
	if err != nil {
		return err
	}
	a.markAdded(rel)
	return nil
}

func (a *applier) markAdded(rel string) {
	a.added[rel] = true
	for d := rel; ; {
		d, _ = splitRel(d)
		if d == "." || a.parents[d] {
			return
		}
		a.parents[d] = true
	}
}

// parent returns a borrowed fd on the directory rel, creating it and its
// missing ancestors (mode 0755, owned by container root) as tar does.
func (a *applier) parent(rel string) (int, error) {
	fd, err := a.root.dirFD(rel)
	if err == nil || rel == "." || !(errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR)) {
		return fd, err
	}
	up, base := splitRel(rel)
	ufd, err := a.parent(up)
	if err != nil {
		return -1, err
	}
	if err := a.implicitDir(ufd, base, rel); err != nil {
		return -1, err
	}
	return a.root.dirFD(rel)
}

func (a *applier) implicitDir(pfd int, base, rel string) error {
	var st unix.Stat_t
	err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case err == unix.ENOENT:
	case err != nil:
		return &os.PathError{Op: "lstat", Path: rel, Err: err}
	case st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return nil
	case a.whiteouts[rel]:
		// A whiteout of this layer stands where the layer puts entries:
		// the directory replaces it, opaque.
		if err := a.removeAt(pfd, base); err != nil {
			return err
		}
	case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return fmt.Errorf("parent %q is a symlink to a missing directory", rel)
	default:
		return fmt.Errorf("parent %q is not a directory", rel)
	}
	if err := unix.Mkdirat(pfd, base, 0o755); err != nil {
		return &os.PathError{Op: "mkdir", Path: rel, Err: err}
	}
	if err := unix.Fchmodat(pfd, base, 0o755, 0); err != nil {
		return &os.PathError{Op: "chmod", Path: rel, Err: err}
	}
	if len(a.opts.UIDMappings)+len(a.opts.GIDMappings) > 0 && a.rootUID >= 0 && a.rootGID >= 0 {
		if err := unix.Fchownat(pfd, base, a.rootUID, a.rootGID, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "chown", Path: rel, Err: err}
		}
	}
	if a.whiteouts[rel] {
		return a.setOpaqueAt(pfd, base)
	}
	return nil
}

// removeAt removes base in pfd, whatever it is, and forgets cached
// directories, which may have been under it.
func (a *applier) removeAt(pfd int, base string) error {
	a.root.invalidate()
	if err := removeAllAt(pfd, base); err != nil {
		return fmt.Errorf("replace existing %q: %w", base, err)
	}
	return nil
}

func (a *applier) dir(pfd int, base, rel string, hdr *tar.Header) error {
	if rel != "." {
		err := unix.Mkdirat(pfd, base, 0o700)
		if err == unix.EEXIST {
			var st unix.Stat_t
			if err = unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
				if err = a.removeAt(pfd, base); err == nil {
					err = unix.Mkdirat(pfd, base, 0o700)
				}
			}
		}
		if err != nil {
			return fmt.Errorf("mkdir: %w", err)
		}
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	defer unix.Close(fd)
	if err := a.finish(pfd, base, fd, hdr); err != nil {
		return err
	}
	if a.opts.Whiteouts == WhiteoutOverlay && a.whiteouts[rel] {
		if err := setOpaque(fd); err != nil {
			return err
		}
	}
	a.dirTimes[rel] = hdr
	return nil
}

func (a *applier) file(pfd int, base string, hdr *tar.Header, body io.Reader) (retErr error) {
	const flags = unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(pfd, base, flags, 0o600)
	if err == unix.EEXIST {
		if err = a.removeAt(pfd, base); err == nil {
			fd, err = unix.Openat(pfd, base, flags, 0o600)
		}
	}
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	f := os.NewFile(uintptr(fd), base)
	defer func() {
		if err := f.Close(); err != nil && retErr == nil {
			retErr = fmt.Errorf("close: %w", err)
		}
	}()
	var n int64
	if isSparse(hdr) {
		n, err = copySparse(f, body, a.buf)
	} else {
		n, err = io.CopyBuffer(fileWriter{f}, body, a.buf)
	}
	a.size += n
	if err != nil {
		if isReadErr(err) {
			return err
		}
		return fmt.Errorf("write: %w", err)
	}
	return a.finish(pfd, base, fd, hdr)
}

func (a *applier) symlink(pfd int, base string, hdr *tar.Header) error {
	if hdr.Linkname == "" {
		return fmt.Errorf("symlink with an empty target: %w", errdefs.ErrInvalidArgument)
	}
	// The target is stored as it is: it is only data until something
	// follows it, and every lookup Apply makes refuses to follow it out.
	err := unix.Symlinkat(hdr.Linkname, pfd, base)
	if err == unix.EEXIST {
		if err = a.removeAt(pfd, base); err == nil {
			err = unix.Symlinkat(hdr.Linkname, pfd, base)
		}
	}
	if err != nil {
		return fmt.Errorf("symlink: %w", err)
	}
	return a.finish(pfd, base, -1, hdr)
}

// hardlink links base to an entry already in dir. The link takes the
// target's metadata: applying the link header's own would change the
// target too.
func (a *applier) hardlink(pfd int, base, rel string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
	}
	if target == "." {
		return fmt.Errorf("hardlink to the target directory: %w", errdefs.ErrInvalidArgument)
	}
	if target == rel {
		return nil
	}
	tdir, tbase := splitRel(target)
	tfd, err := a.root.dirFD(tdir)
	if err == nil {
		err = unix.Linkat(tfd, tbase, pfd, base, 0)
	}
	if err == unix.EEXIST {
		if err = a.removeAt(pfd, base); err == nil {
			err = unix.Linkat(tfd, tbase, pfd, base, 0)
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
		if strings.HasPrefix(hdr.Linkname, "/") {
			return fmt.Errorf("hardlink target %q (absolute: taken inside the target directory) does not exist in the layer or below it: %w", hdr.Linkname, errdefs.ErrInvalidArgument)
		}
		return fmt.Errorf("hardlink target %q does not exist in the layer or below it: %w", hdr.Linkname, errdefs.ErrInvalidArgument)
	case err == unix.EPERM:
		return fmt.Errorf("hardlink target %q is a directory: %w", hdr.Linkname, errdefs.ErrInvalidArgument)
	}
	return fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
}

func (a *applier) mknod(pfd int, base string, hdr *tar.Header) error {
	var mode uint32
	switch hdr.Typeflag {
	case tar.TypeChar:
		mode = unix.S_IFCHR
	case tar.TypeBlock:
		mode = unix.S_IFBLK
	default:
		mode = unix.S_IFIFO
	}
	if mode != unix.S_IFIFO && a.opts.NoDevices {
		return fmt.Errorf("device nodes are not allowed here (NoDevices): %w", errdefs.ErrPermissionDenied)
	}
	dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
	mode |= uint32(hdr.Mode) & 0o7777
	err := unix.Mknodat(pfd, base, mode, dev)
	if err == unix.EEXIST {
		if err = a.removeAt(pfd, base); err == nil {
			err = unix.Mknodat(pfd, base, mode, dev)
		}
	}
	if err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	return a.finish(pfd, base, -1, hdr)
}

func typeName(t byte) string {
	switch t {
	case tar.TypeReg, tar.TypeRegA:
		return "regular file"
	case tar.TypeLink:
		return "hardlink"
	case tar.TypeSymlink:
		return "symlink"
	case tar.TypeChar, tar.TypeBlock:
		return "device"
	case tar.TypeFifo:
		return "fifo"
	}
	return fmt.Sprintf("entry of type %q", t)
}

// isSparse reports a GNU sparse file (old GNU or PAX format), whose holes
// archive/tar hands us as zeros.
func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	_, ok := hdr.PAXRecords["GNU.sparse.major"]
	_, ok2 := hdr.PAXRecords["GNU.sparse.numblocks"]
	return ok || ok2
}

// copySparse copies a sparse file, leaving holes where its content is
// zero, so that a small layer cannot fill the disk with a huge hole.
func copySparse(f *os.File, r io.Reader, buf []byte) (int64, error) {
	var off int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if !allZero(buf[:n]) {
				if _, werr := f.WriteAt(buf[:n], off); werr != nil {
					return off, fmt.Errorf("write: %w", werr)
				}
			}
			off += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return off, err
		}
	}
	if err := f.Truncate(off); err != nil {
		return off, fmt.Errorf("truncate: %w", err)
	}
	return off, nil
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// fileWriter hides os.File's ReadFrom, so io.CopyBuffer uses our buffer.
type fileWriter struct{ f *os.File }

func (w fileWriter) Write(p []byte) (int, error) { return w.f.Write(p) }

// streamReader is the decompressed layer as the tar reader sees it: it
// stops on cancellation and marks its own errors, so they read as a bad
// layer rather than a failing disk.
type streamReader struct {
	ctx context.Context
	r   io.Reader
}

func (s *streamReader) Read(p []byte) (int, error) {
	if err := s.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = &streamError{err}
	}
	return n, err
}

type streamError struct{ err error }

func (e *streamError) Error() string { return "read layer stream: " + e.err.Error() }
func (e *streamError) Unwrap() error { return e.err }

func isReadErr(err error) bool {
	var se *streamError
	return errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, tar.ErrHeader)
}

// sourceReader marks the errors of the caller's reader, so that they are
// not mistaken for a corrupt layer.
type sourceReader struct{ r io.Reader }

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		err = &sourceError{err}
	}
	return n, err
}

type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

// readErr words a failure to read the layer for people, and files it as
// invalid input unless the caller's reader or context failed: a tar
// reader's unexpected EOF means the blob was cut short.
func readErr(err error) error {
	var se *sourceError
	switch {
	case err == nil, errdefs.IsInvalidArgument(err), errors.As(err, &se),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w (truncated layer?): %w", err, errdefs.ErrInvalidArgument)
	}
	return fmt.Errorf("%w (corrupt layer?): %w", err, errdefs.ErrInvalidArgument)
}

package archive

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hako-dev/hako/internal/errdefs"
	"golang.org/x/sys/unix"
)

// ChangeKind says how a path changed; the values are docker's
// (container.ChangeType), so the Engine API can send them as they are.
type ChangeKind uint8

const (
	ChangeModify ChangeKind = 0
	ChangeAdd    ChangeKind = 1
	ChangeDelete ChangeKind = 2
)

func (k ChangeKind) String() string {
	switch k {
	case ChangeModify:
		return "C"
	case ChangeAdd:
		return "A"
	case ChangeDelete:
		return "D"
	}
	return fmt.Sprintf("ChangeKind(%d)", uint8(k))
}

// Change is one changed path of a container's filesystem, as
// `docker diff` lists it.
type Change struct {
	Path string // absolute inside the container: "/etc/hosts"
	Kind ChangeKind
}

func (c Change) String() string { return c.Kind.String() + " " + c.Path }

// change is a Change with what a layer tar needs to carry it out.
type change struct {
	rel  string // clean, relative to the tree
	kind ChangeKind
	// opaque marks a directory that hides everything the lower layers
	// had in it (".wh..wh..opq" follows its entry).
	opaque bool
	// covered marks a deletion carried out by an opaque parent: listed,
	// but no whiteout entry of its own.
	covered bool
}

func publicChanges(cs []change) []Change {
	out := make([]Change, len(cs))
	for i, c := range cs {
		out[i] = Change{Path: "/" + c.rel, Kind: c.kind}
	}
	return out
}

// comparePaths orders paths component by component ("a/b" before "a-b"),
// so that a directory's subtree follows it without a break.
func comparePaths(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] == b[i] {
			continue
		}
		switch {
		case a[i] == '/':
			return -1
		case b[i] == '/':
			return 1
		case a[i] < b[i]:
			return -1
		}
		return 1
	}
	return len(a) - len(b)
}

func sortChanges(cs []change) {
	slices.SortFunc(cs, func(x, y change) int { return comparePaths(x.rel, y.rel) })
}

// OverlayChanges lists what the overlay upper directory upper changed
// relative to its lower directories lowers (top first, as in overlay's
// lowerdir= option), sorted by path.
//
// A whiteout (a 0:0 character device, or a file carrying the
// trusted.overlay.whiteout xattr) is a deletion of what the lowers held
// there; an opaque directory deletes every lower entry below it that the
// upper does not replace. An upper entry that the lowers also have is a
// Modify, any other an Add. A directory the lowers have is listed as a
// Modify when its type, mode or owner changed, when it is opaque, or when
// anything below it changed — as docker lists the parents of a change.
// Upper directories made with overlay's redirect_dir or metacopy features
// are refused (ErrNotImplemented): mount without them.
func OverlayChanges(upper string, lowers []string) ([]Change, error) {
	cs, err := overlayChanges(upper, lowers)
	if err != nil {
		return nil, err
	}
	return publicChanges(cs), nil
}

func overlayChanges(upper string, lowers []string) ([]change, error) {
	fd, err := unix.Open(upper, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("overlay changes: %w", &os.PathError{Op: "open", Path: upper, Err: err})
	}
	defer unix.Close(fd)
	var stack []string
	for _, l := range lowers {
		stack = append(stack, l)
		if opaque, err := isOpaque(l); err != nil {
			return nil, fmt.Errorf("overlay changes: lower %s: %w", l, err)
		} else if opaque {
			break
		}
	}
	w := &overlayWalker{}
	if err := w.dir(fd, ".", stack, false); err != nil {
		return nil, fmt.Errorf("overlay changes: %w", err)
	}
	sortChanges(w.changes)
	return w.changes, nil
}

type overlayWalker struct {
	changes []change
}

// dir lists the changes under the upper directory open as fd (path rel).
// stack holds the lower directories that make up rel's lower view, top
// first; opaque says rel hides them.
func (w *overlayWalker) dir(fd int, rel string, stack []string, opaque bool) error {
	names, err := readDirNames(fd)
	if err != nil {
		return fmt.Errorf("read directory %q: %w", rel, err)
	}
	slices.Sort(names)
	present := make(map[string]bool, len(names))
	for _, name := range names {
		crel := joinRel(rel, name)
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "lstat", Path: crel, Err: err}
		}
		if wo, err := isWhiteoutAt(fd, name, &st); err != nil {
			return fmt.Errorf("%q: %w", crel, err)
		} else if wo {
			if opaque {
				continue // the opaque directory hides the lowers already
			}
			if _, found, err := lookupLower(stack, name); err != nil {
				return err
			} else if found {
				w.changes = append(w.changes, change{rel: crel, kind: ChangeDelete})
			}
			continue
		}
		present[name] = true
		if err := refuseOverlayFeatures(fd, name, crel); err != nil {
			return err
		}
		lst, found, err := lookupLower(stack, name)
		if err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			kind := ChangeAdd
			if found {
				kind = ChangeModify
			}
			w.changes = append(w.changes, change{rel: crel, kind: kind})
			continue
		}
		if err := w.subdir(fd, name, crel, &st, stack, lst, found); err != nil {
			return err
		}
	}
	if opaque {
		// Whatever the lowers show here and the upper does not replace
		// is gone.
		lowerNames, err := lowerView(stack)
		if err != nil {
			return err
		}
		for _, n := range lowerNames {
			if !present[n] {
				w.changes = append(w.changes, change{rel: joinRel(rel, n), kind: ChangeDelete, covered: true})
			}
		}
	}
	return nil
}

func (w *overlayWalker) subdir(pfd int, name, rel string, st *unix.Stat_t, stack []string, lst *unix.Stat_t, found bool) error {
	opaque, err := isOpaqueAt(pfd, name)
	if err != nil {
		return fmt.Errorf("%q: %w", rel, err)
	}
	var sub []string
	if found && lst.Mode&unix.S_IFMT == unix.S_IFDIR {
		if sub, err = lowerStack(stack, name); err != nil {
			return err
		}
	}
	if len(sub) == 0 {
		opaque = false // nothing below to hide
	}
	fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: rel, Err: err}
	}
	defer unix.Close(fd)
	at := len(w.changes)
	if err := w.dir(fd, rel, sub, opaque); err != nil {
		return err
	}
	switch {
	case !found:
		w.changes = append(w.changes, change{rel: rel, kind: ChangeAdd})
	case opaque || len(w.changes) > at || dirMetaDiffers(st, lst):
		w.changes = append(w.changes, change{rel: rel, kind: ChangeModify, opaque: opaque})
	}
	return nil
}

// lookupLower finds name in the lower view made by stack: the first lower
// that has it decides, and a whiteout there means it is not found.
func lookupLower(stack []string, name string) (*unix.Stat_t, bool, error) {
	for _, l := range stack {
		p := filepath.Join(l, name)
		var st unix.Stat_t
		err := unix.Lstat(p, &st)
		if err == unix.ENOENT {
			continue
		}
		if err != nil {
			return nil, false, &os.PathError{Op: "lstat", Path: p, Err: err}
		}
		wo, err := isWhiteout(p, &st)
		if err != nil || wo {
			return nil, false, err
		}
		return &st, true, nil
	}
	return nil, false, nil
}

// lowerStack returns the lower directories that make up name's lower view:
// the directories named name from the top down, up to the first opaque one,
// whiteout or non-directory.
func lowerStack(stack []string, name string) ([]string, error) {
	var sub []string
	for _, l := range stack {
		p := filepath.Join(l, name)
		var st unix.Stat_t
		err := unix.Lstat(p, &st)
		if err == unix.ENOENT {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "lstat", Path: p, Err: err}
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			break // a whiteout or a file hides everything below
		}
		sub = append(sub, p)
		if opaque, err := isOpaque(p); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		} else if opaque {
			break
		}
	}
	return sub, nil
}

// lowerView lists the names visible in the lower view made by stack.
func lowerView(stack []string) ([]string, error) {
	decided := map[string]bool{}
	var names []string
	for _, l := range stack {
		ents, err := os.ReadDir(l)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			n := e.Name()
			if decided[n] {
				continue
			}
			decided[n] = true
			p := filepath.Join(l, n)
			var st unix.Stat_t
			if err := unix.Lstat(p, &st); err != nil {
				return nil, &os.PathError{Op: "lstat", Path: p, Err: err}
			}
			if wo, err := isWhiteout(p, &st); err != nil {
				return nil, err
			} else if !wo {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	return names, nil
}

// dirMetaDiffers compares what `docker diff` notices on a directory: not
// its size or times, which change with its entries.
func dirMetaDiffers(a, b *unix.Stat_t) bool {
	return a.Mode != b.Mode || a.Uid != b.Uid || a.Gid != b.Gid
}

// Overlay's own xattrs, in the trusted namespace (as root) and the user
// namespace (userxattr mounts).
var overlayXattrPrefixes = []string{"trusted.overlay.", "user.overlay."}

func isOverlayXattr(name string) bool {
	return strings.HasPrefix(name, overlayXattrPrefixes[0]) || strings.HasPrefix(name, overlayXattrPrefixes[1])
}

// getOverlayXattr reads overlay's attribute suffix ("opaque") of path in
// either namespace; nil when absent.
func getOverlayXattr(path, suffix string) ([]byte, error) {
	for _, prefix := range overlayXattrPrefixes {
		v, err := getXattr(path, prefix+suffix)
		if err == unix.ENODATA || err == unix.ENOTSUP {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get xattr %s%s: %w", prefix, suffix, err)
		}
		return v, nil
	}
	return nil, nil
}

// isWhiteout reports whether path (lstat st) is an overlay whiteout: a
// 0:0 character device, or an empty file with the whiteout xattr (the
// form overlayfs uses in layers it stacks, kernel 6.7+).
func isWhiteout(path string, st *unix.Stat_t) (bool, error) {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		return st.Rdev == 0, nil
	case unix.S_IFREG:
		if st.Size != 0 {
			return false, nil
		}
		v, err := getOverlayXattr(path, "whiteout")
		return v != nil, err
	}
	return false, nil
}

func isWhiteoutAt(dirfd int, name string, st *unix.Stat_t) (bool, error) {
	return isWhiteout(procPath(dirfd, name), st)
}

// isOpaque reports whether the directory path is an opaque overlay
// directory ("y"; "x" only says it holds xattr whiteouts).
func isOpaque(path string) (bool, error) {
	v, err := getOverlayXattr(path, "opaque")
	return bytes.Equal(v, []byte("y")), err
}

func isOpaqueAt(dirfd int, name string) (bool, error) { return isOpaque(procPath(dirfd, name)) }

// refuseOverlayFeatures fails on an upper entry whose content lives
// elsewhere (a renamed directory, a metadata-only copy-up): reading the
// upper directory alone would give a wrong diff.
func refuseOverlayFeatures(dirfd int, name, rel string) error {
	names, err := listXattrNames(procPath(dirfd, name))
	if err != nil {
		return fmt.Errorf("%q: %w", rel, err)
	}
	for _, n := range names {
		if !isOverlayXattr(n) {
			continue
		}
		if attr := n[strings.LastIndexByte(n, '.')+1:]; attr == "redirect" || attr == "metacopy" {
			return fmt.Errorf("%q uses overlay's %s feature, which diffs do not support (mount with redirect_dir=off,metacopy=off): %w", rel, attr, errdefs.ErrNotImplemented)
		}
	}
	return nil
}

// listXattrNames lists the extended attributes of path, not following a
// final symlink.
func listXattrNames(path string) ([]string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Llistxattr(path, buf)
		switch {
		case err == unix.ERANGE:
			sz, err := unix.Llistxattr(path, nil)
			if err != nil {
				return nil, fmt.Errorf("list xattrs: %w", err)
			}
			buf = make([]byte, max(sz, 2*len(buf)))
			continue
		case err == unix.ENOTSUP:
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("list xattrs: %w", err)
		}
		var names []string
		for b := range bytes.SplitSeq(buf[:n], []byte{0}) {
			if len(b) > 0 {
				names = append(names, string(b))
			}
		}
		return names, nil
	}
}

// readXattrs returns path's extended attributes, overlay's own excepted,
// or nil when it has none.
func readXattrs(path string) (map[string]string, error) {
	names, err := listXattrNames(path)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	var m map[string]string
	for _, n := range names {
		if isOverlayXattr(n) {
			continue
		}
		v, err := getXattr(path, n)
		if err == unix.ENODATA {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("get xattr %s: %w", n, err)
		}
		if m == nil {
			m = map[string]string{}
		}
		m[n] = string(v)
	}
	return m, nil
}

func getXattr(path, name string) ([]byte, error) {
	buf := make([]byte, 128)
	for {
		n, err := unix.Lgetxattr(path, name, buf)
		if err == unix.ERANGE {
			sz, err := unix.Lgetxattr(path, name, nil)
			if err != nil {
				return nil, err
			}
			buf = make([]byte, max(sz, 2*len(buf)))
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

// DirChanges lists what the tree changed changed relative to the tree
// base — a vfs container's copy of its parent snapshot — sorted by path.
// An entry is a Modify when its type, mode, owner, device number, link
// target or xattrs differ, or, for a non-directory, its size or mtime;
// a directory is also listed as a Modify when anything below it changed.
// Everything below an added directory is an Add; only the top of a
// deleted tree is a Delete (as docker lists them).
func DirChanges(base, changed string) ([]Change, error) {
	cs, err := dirChanges(base, changed)
	if err != nil {
		return nil, err
	}
	return publicChanges(cs), nil
}

func dirChanges(base, changed string) ([]change, error) {
	bfd, err := unix.Open(base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("changes: %w", &os.PathError{Op: "open", Path: base, Err: err})
	}
	defer unix.Close(bfd)
	cfd, err := unix.Open(changed, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("changes: %w", &os.PathError{Op: "open", Path: changed, Err: err})
	}
	defer unix.Close(cfd)
	var cs []change
	if err := dirDiff(bfd, cfd, ".", &cs); err != nil {
		return nil, fmt.Errorf("changes: %w", err)
	}
	sortChanges(cs)
	return cs, nil
}

// dirDiff compares the directories open as bfd (base) and cfd (changed).
func dirDiff(bfd, cfd int, rel string, cs *[]change) error {
	bnames, err := readDirNames(bfd)
	if err != nil {
		return fmt.Errorf("read directory %q: %w", rel, err)
	}
	cnames, err := readDirNames(cfd)
	if err != nil {
		return fmt.Errorf("read directory %q: %w", rel, err)
	}
	slices.Sort(cnames)
	gone := make(map[string]bool, len(bnames))
	for _, n := range bnames {
		gone[n] = true
	}
	for _, name := range cnames {
		crel := joinRel(rel, name)
		delete(gone, name)
		var st, bst unix.Stat_t
		if err := unix.Fstatat(cfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "lstat", Path: crel, Err: err}
		}
		isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		err := unix.Fstatat(bfd, name, &bst, unix.AT_SYMLINK_NOFOLLOW)
		if err == unix.ENOENT {
			*cs = append(*cs, change{rel: crel, kind: ChangeAdd})
			if isDir {
				if err := addedTree(cfd, name, crel, cs); err != nil {
					return err
				}
			}
			continue
		}
		if err != nil {
			return &os.PathError{Op: "lstat", Path: crel, Err: err}
		}
		differs, err := entryDiffers(bfd, cfd, name, &bst, &st)
		if err != nil {
			return fmt.Errorf("%q: %w", crel, err)
		}
		switch {
		case isDir && bst.Mode&unix.S_IFMT == unix.S_IFDIR:
			at := len(*cs)
			if err := subdirDiff(bfd, cfd, name, crel, cs); err != nil {
				return err
			}
			if differs || len(*cs) > at {
				*cs = append(*cs, change{rel: crel, kind: ChangeModify})
			}
		case differs:
			*cs = append(*cs, change{rel: crel, kind: ChangeModify})
			if isDir { // was not one
				if err := addedTree(cfd, name, crel, cs); err != nil {
					return err
				}
			}
		}
	}
	for _, n := range bnames {
		if gone[n] {
			*cs = append(*cs, change{rel: joinRel(rel, n), kind: ChangeDelete})
		}
	}
	return nil
}

func subdirDiff(bpfd, cpfd int, name, rel string, cs *[]change) error {
	const flags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	bfd, err := unix.Openat(bpfd, name, flags, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: rel, Err: err}
	}
	defer unix.Close(bfd)
	cfd, err := unix.Openat(cpfd, name, flags, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: rel, Err: err}
	}
	defer unix.Close(cfd)
	return dirDiff(bfd, cfd, rel, cs)
}

// addedTree lists everything below the added directory name in pfd as
// added.
func addedTree(pfd int, name, rel string, cs *[]change) error {
	fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: rel, Err: err}
	}
	defer unix.Close(fd)
	names, err := readDirNames(fd)
	if err != nil {
		return fmt.Errorf("read directory %q: %w", rel, err)
	}
	for _, n := range names {
		crel := joinRel(rel, n)
		*cs = append(*cs, change{rel: crel, kind: ChangeAdd})
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "lstat", Path: crel, Err: err}
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if err := addedTree(fd, n, crel, cs); err != nil {
				return err
			}
		}
	}
	return nil
}

// entryDiffers compares name in the two directories.
func entryDiffers(bfd, cfd int, name string, b, c *unix.Stat_t) (bool, error) {
	if b.Mode != c.Mode || b.Uid != c.Uid || b.Gid != c.Gid || b.Rdev != c.Rdev {
		return true, nil
	}
	if c.Mode&unix.S_IFMT != unix.S_IFDIR && (b.Size != c.Size || b.Mtim != c.Mtim) {
		return true, nil
	}
	if c.Mode&unix.S_IFMT == unix.S_IFLNK {
		bl, err := readlinkAt(bfd, name)
		if err != nil {
			return false, err
		}
		cl, err := readlinkAt(cfd, name)
		if err != nil || bl != cl {
			return true, err
		}
	}
	bx, err := readXattrs(procPath(bfd, name))
	if err != nil {
		return false, err
	}
	cx, err := readXattrs(procPath(cfd, name))
	if err != nil {
		return false, err
	}
	return !maps.Equal(bx, cx), nil
}

func readlinkAt(dirfd int, name string) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", &os.PathError{Op: "readlink", Path: name, Err: err}
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, 2*len(buf))
	}
}

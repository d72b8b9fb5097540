package cli

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/docker/go-units"
	"github.com/hako-dev/hako/internal/client"
	"github.com/spf13/cobra"
)

// cp follows docker's rules (DEST is created or copied into):
//
//	SRC file, DEST missing     → DEST is the file (its parent must exist;
//	                             DEST ending in "/" is an error)
//	SRC file, DEST file        → overwritten
//	SRC file, DEST directory   → DEST/basename(SRC)
//	SRC dir,  DEST missing     → DEST is created with SRC's content
//	SRC dir,  DEST file        → error
//	SRC dir,  DEST directory   → DEST/basename(SRC), or SRC's content
//	                             right in DEST when SRC ends in "/."
//
// Both directions move tar streams (GET and PUT /containers/{id}/archive);
// "-" is a tar stream on stdin or stdout.

func newCp(c *CLI) *cobra.Command {
	var follow, archive, quiet bool
	cmd := &cobra.Command{
		Use:   "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n  hako cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
		Short: "copy files/folders between a container and the local filesystem",
		Long: `Copy files/folders between a container and the local filesystem.

Use '-' as the source to read a tar archive from stdin and extract it to a
directory in the container, '-' as the destination to write a tar archive
of the container's source to stdout.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := ctxOf(cmd)
			if args[0] == "" || args[1] == "" {
				return &StatusError{Status: 1, Err: errors.New("source and destination cannot be empty")}
			}
			if !cmd.Flags().Changed("quiet") {
				quiet = !outIsTerminal(c)
			}
			srcCtr, srcPath := splitCpArg(args[0])
			dstCtr, dstPath := splitCpArg(args[1])
			var err error
			switch {
			case srcCtr != "" && dstCtr != "":
				return &StatusError{Status: 1, Err: errors.New("copying between containers is not supported")}
			case srcCtr == "" && dstCtr == "":
				return &StatusError{Status: 1, Err: errors.New("must specify at least one container source")}
			}
			cl, err := c.client(ctx)
			if err != nil {
				return err
			}
			var summary string
			if srcCtr != "" {
				summary, err = copyFromContainer(ctx, c, cl, srcCtr, srcPath, dstPath, follow)
			} else {
				summary, err = copyToContainer(ctx, c, cl, srcPath, cmd.InOrStdin(), dstCtr, dstPath, follow, archive)
			}
			if err != nil {
				return daemonError(c, err)
			}
			if !quiet && summary != "" {
				fmt.Fprintln(c.Err, summary)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&follow, "follow-link", "L", false, "always follow a symbolic link in SRC_PATH")
	f.BoolVarP(&archive, "archive", "a", false, "archive mode (copy all uid/gid information)")
	f.BoolVarP(&quiet, "quiet", "q", false, "suppress the summary (the default when stdout is not a terminal)")
	return cmd
}

func outIsTerminal(c *CLI) bool {
	f, ok := c.Out.(interface{ Fd() uintptr })
	return ok && isTerminal(f.Fd())
}

// splitCpArg splits CONTAINER:PATH; an absolute path, or one whose part
// before ":" starts with ".", is local.
func splitCpArg(arg string) (ctr, p string) {
	if filepath.IsAbs(arg) {
		return "", arg
	}
	ctr, p, ok := strings.Cut(arg, ":")
	if !ok || strings.HasPrefix(ctr, ".") {
		return "", arg
	}
	return ctr, p
}

// splitDirEntry splits p into its directory and last element; a path
// ending in "/." names its directory's content, whose last element is ".".
func splitDirEntry(p string) (dir, base string) {
	cleaned := path.Clean(p)
	if p == "." || strings.HasSuffix(p, "/.") || cleaned == "/" {
		return cleaned, "."
	}
	return path.Dir(cleaned), path.Base(cleaned)
}

// assertsDir is true for a path written as a directory: "x/", "x/.".
func assertsDir(p string) bool {
	return strings.HasSuffix(p, "/") || p == "." || strings.HasSuffix(p, "/.")
}

// copyTarget is where a copy lands: the directory an archive is extracted
// in, and the name its top entry takes there ("." for a directory's
// content).
type copyTarget struct {
	dir, top string
}

// planCopy applies cp's rules to a source (a directory or not, with its
// last element srcBase) and a destination.
func planCopy(srcIsDir bool, srcBase, dst string, dstExists, dstIsDir bool) (copyTarget, error) {
	dir, base := splitDirEntry(dst)
	switch {
	case dstExists && dstIsDir:
		return copyTarget{dir: path.Clean(dst), top: srcBase}, nil
	case dstExists && srcIsDir:
		return copyTarget{}, fmt.Errorf("cannot copy a directory to a file: %s", dst)
	case dstExists:
		return copyTarget{dir: dir, top: base}, nil
	case srcIsDir:
		return copyTarget{dir: dir, top: base}, nil
	case assertsDir(dst):
		return copyTarget{}, fmt.Errorf("destination directory %s does not exist", dst)
	}
	return copyTarget{dir: dir, top: base}, nil
}

// rebaser renames an archive's entries from its top name to another.
func rebaser(from, to string) func(string) string {
	return func(name string) string {
		name = path.Clean("/" + name)[1:]
		if name == "" {
			name = "."
		}
		if from == "." {
			return path.Join(to, name)
		}
		if name == from || strings.HasPrefix(name, from+"/") {
			return path.Join(to, name[len(from):])
		}
		return name
	}
}

func copyFromContainer(ctx context.Context, c *CLI, cl *client.Client, ctr, src, dst string, follow bool) (string, error) {
	top := ""
	if follow {
		if st, err := cl.ContainerStatPath(ctx, ctr, src); err == nil && st.Mode&os.ModeSymlink != 0 {
			// Copy what the link points to, under the link's name.
			_, top = splitDirEntry(src)
			target := st.LinkTarget
			if !path.IsAbs(target) {
				srcDir, _ := splitDirEntry(src)
				target = path.Join(srcDir, target)
			}
			src = target
		}
	}
	rc, st, err := cl.CopyFromContainer(ctx, ctr, src)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	if dst == "-" {
		_, err := io.Copy(c.Out, rc)
		return "", err
	}
	_, archTop := splitDirEntry(src)
	if top == "" {
		top = archTop
	}
	abs, err := absKeepingSlash(dst)
	if err != nil {
		return "", err
	}
	exists, isDir, resolved, err := localDest(abs)
	if err != nil {
		return "", err
	}
	t, err := planCopy(st.Mode.IsDir(), top, resolved, exists, isDir)
	if err != nil {
		return "", err
	}
	cr := &countingReader{r: rc}
	if err := untar(cr, t.dir, rebaser(archTop, t.top)); err != nil {
		return "", err
	}
	size := cr.n
	if !st.Mode.IsDir() {
		size = st.Size
	}
	return fmt.Sprintf("Successfully copied %s to %s", units.HumanSizeWithPrecision(float64(size), 3), abs), nil
}

func copyToContainer(ctx context.Context, c *CLI, cl *client.Client, src string, stdin io.Reader, ctr, dst string, follow, archive bool) (string, error) {
	dstExists, dstIsDir := false, false
	resolved := dst
	if st, err := cl.ContainerStatPath(ctx, ctr, dst); err == nil {
		if st.Mode&os.ModeSymlink != 0 {
			target := st.LinkTarget
			if !path.IsAbs(target) {
				d, _ := splitDirEntry(dst)
				target = path.Join(d, target)
			}
			resolved = target
			st, err = cl.ContainerStatPath(ctx, ctr, target)
		}
		if err == nil {
			if !st.Mode.IsDir() && !st.Mode.IsRegular() {
				return "", fmt.Errorf("destination \"%s:%s\" must be a directory or a regular file", ctr, dst)
			}
			dstExists, dstIsDir = true, st.Mode.IsDir()
		}
	}
	if src == "-" {
		if !dstIsDir {
			return "", fmt.Errorf("destination \"%s:%s\" must be a directory", ctr, dst)
		}
		return "", cl.CopyToContainer(ctx, ctr, resolved, stdin, true, archive)
	}
	abs, err := absKeepingSlash(src)
	if err != nil {
		return "", err
	}
	stat := os.Lstat
	if follow {
		stat = os.Stat
	}
	fi, err := stat(abs)
	if err != nil {
		return "", err
	}
	if assertsDir(src) && !fi.IsDir() {
		return "", fmt.Errorf("%s: not a directory", src)
	}
	_, base := splitDirEntry(abs)
	t, err := planCopy(fi.IsDir(), base, resolved, dstExists, dstIsDir)
	if err != nil {
		return "", err
	}
	pr, pw := io.Pipe()
	var size int64
	go func() {
		var err error
		size, err = writeTar(pw, path.Clean(abs), t.top, follow)
		pw.CloseWithError(err)
	}()
	err = cl.CopyToContainer(ctx, ctr, t.dir, pr, true, archive)
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Successfully copied %s to %s:%s", units.HumanSizeWithPrecision(float64(size), 3), ctr, resolved), nil
}

// absKeepingSlash is filepath.Abs keeping a trailing "/" or "/.".
func absKeepingSlash(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	switch {
	case p == "." || strings.HasSuffix(p, "/."):
		return strings.TrimSuffix(abs, "/") + "/.", nil
	case strings.HasSuffix(p, "/") && abs != "/":
		return abs + "/", nil
	}
	return abs, nil
}

// localDest describes a local destination, following symlinks at its
// end. A missing one needs an existing parent.
func localDest(p string) (exists, isDir bool, resolved string, err error) {
	for range 10 {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			parent, _ := splitDirEntry(p)
			if _, err := os.Stat(parent); err != nil {
				return false, false, "", fmt.Errorf("destination directory %s: %w", parent, fs.ErrNotExist)
			}
			return false, false, p, nil
		}
		if err != nil {
			return false, false, "", err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			if assertsDir(p) && !fi.IsDir() {
				return false, false, "", fmt.Errorf("%s: not a directory", p)
			}
			return true, fi.IsDir(), p, nil
		}
		target, err := os.Readlink(p)
		if err != nil {
			return false, false, "", err
		}
		if !filepath.IsAbs(target) {
			d, _ := splitDirEntry(p)
			target = filepath.Join(d, target)
		}
		p = target
	}
	return false, false, "", fmt.Errorf("%s: too many levels of symbolic links", p)
}

// writeTar writes src (a file, or a directory and everything under it)
// as a tar stream whose top entry is named top ("." for a directory's
// content only). Symlinks are stored, not followed, except src itself
// with follow. It returns the size of the files' content.
func writeTar(w io.Writer, src, top string, follow bool) (int64, error) {
	if follow {
		var err error
		if src, err = filepath.EvalSymlinks(src); err != nil {
			return 0, err
		}
	}
	tw := tar.NewWriter(w)
	links := map[[2]uint64]string{} // hard links: (dev, inode) → first name
	var size int64
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		name := path.Join(top, filepath.ToSlash(rel))
		if name == "." {
			return nil // the destination directory itself is left as it is
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if fi.Mode()&os.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		hdr.Name = name
		if fi.IsDir() {
			hdr.Name += "/"
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && fi.Mode().IsRegular() && st.Nlink > 1 {
			k := [2]uint64{uint64(st.Dev), st.Ino}
			if first, ok := links[k]; ok {
				hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			} else {
				links[k] = name
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		n, err := io.Copy(tw, f)
		size += n
		return err
	})
	if err != nil {
		return size, err
	}
	return size, tw.Close()
}

// untar extracts a tar stream into dir, renaming entries with rename.
// Nothing lands outside dir: entries that climb out are refused and
// symlinks are never followed while extracting (os.Root). A directory
// does not replace a non-directory nor the reverse, as for docker.
// Owners are not changed: the files belong to the user running cp.
func untar(r io.Reader, dir string, rename func(string) string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	type dirTime struct {
		name  string
		mtime time.Time
	}
	var dirs []dirTime
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		name := rename(hdr.Name)
		if name == "." {
			continue // the destination directory: left as it is
		}
		if name == ".." || strings.HasPrefix(name, "../") || path.IsAbs(name) {
			return fmt.Errorf("archive entry %q: outside the destination", hdr.Name)
		}
		if d := path.Dir(name); d != "." {
			if err := root.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		mode := hdr.FileInfo().Mode().Perm() | hdr.FileInfo().Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
		old, err := root.Lstat(name)
		exists := err == nil
		isDirEntry := hdr.Typeflag == tar.TypeDir
		switch {
		case exists && old.IsDir() && !isDirEntry:
			return fmt.Errorf("cannot overwrite directory %q with non-directory %q", filepath.Join(dir, name), hdr.Name)
		case exists && !old.IsDir() && isDirEntry:
			return fmt.Errorf("cannot overwrite non-directory %q with directory %q", filepath.Join(dir, name), hdr.Name)
		case exists && !isDirEntry:
			if err := root.Remove(name); err != nil {
				return err
			}
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if !exists {
				if err := root.Mkdir(name, 0o700); err != nil {
					return err
				}
			}
			if err := root.Chmod(name, mode); err != nil {
				return err
			}
			dirs = append(dirs, dirTime{name, hdr.ModTime})
		case tar.TypeReg:
			f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = root.Chmod(name, mode)
			}
			if err == nil {
				err = root.Chtimes(name, hdr.AccessTime, hdr.ModTime)
			}
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := root.Symlink(hdr.Linkname, name); err != nil {
				return err
			}
		case tar.TypeLink:
			if err := root.Link(rename(hdr.Linkname), name); err != nil {
				return err
			}
		default:
			// Devices, fifos: not made by an unprivileged copy.
		}
	}
	// Directory times last: writing their entries changed them.
	for i := len(dirs) - 1; i >= 0; i-- {
		root.Chtimes(dirs[i].name, dirs[i].mtime, dirs[i].mtime)
	}
	return nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

package builder

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// extractContext unpacks the build context tar into dir: directories,
// regular files, symlinks and hard links. Every write goes through an
// os.Root, so neither a name with ".." nor a symlink the tar made earlier
// can reach outside dir.
func extractContext(dir string, r io.Reader) error {
	if r == nil {
		return nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	// Docker accepts a gzip-compressed context too.
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return err
		}
		defer zr.Close()
		r = zr
	} else {
		r = br
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(path.Clean("/"+hdr.Name), "/")
		if name == "" {
			continue
		}
		if err := extractEntry(root, name, hdr, tr); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
}

func extractEntry(root *os.Root, name string, hdr *tar.Header, body io.Reader) error {
	if d := path.Dir(name); d != "." {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	mode := fs.FileMode(hdr.Mode) & fs.ModePerm
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := root.MkdirAll(name, 0o755); err != nil {
			return err
		}
		return root.Chmod(name, mode|0o700)
	case tar.TypeReg:
		f, err := root.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, mode|0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		return root.Chmod(name, mode)
	case tar.TypeSymlink:
		root.Remove(name)
		return root.Symlink(hdr.Linkname, name)
	case tar.TypeLink:
		root.Remove(name)
		return root.Link(strings.TrimPrefix(path.Clean("/"+hdr.Linkname), "/"), name)
	}
	return nil
}

var errNotInContext = errors.New("no such file or directory in the build context")

// resolveInContext maps a path of the context to the host, refusing one
// that leaves the context (through .. or a symlink).
func resolveInContext(dir, p string) (string, error) {
	full := filepath.Join(dir, filepath.FromSlash(path.Clean("/"+p)))
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s: %w", p, errNotInContext)
		}
		return "", err
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	if real != root && !strings.HasPrefix(real, root+string(filepath.Separator)) {
		return "", fmt.Errorf("forbidden path outside the build context: %s", p)
	}
	return real, nil
}

// copy adds the context files sd names as one layer.
func (b *build) copy(ctx context.Context, sd instructions.SourcesAndDest, chown, instr string) error {
	if len(sd.SourceContents) > 0 {
		return fmt.Errorf("heredoc sources are not supported yet")
	}
	uid, gid, err := parseChown(chown)
	if err != nil {
		return err
	}
	dest := sd.DestPath
	dirDest := strings.HasSuffix(dest, "/") || dest == "." || strings.HasSuffix(dest, "/.") || len(sd.SourcePaths) > 1
	if !path.IsAbs(dest) {
		dest = path.Join("/", b.cfg.WorkingDir, dest)
	}
	dest = path.Clean(dest)
	type src struct{ host, name string }
	var srcs []src
	for _, p := range sd.SourcePaths {
		if c := path.Clean(p); c == ".." || strings.HasPrefix(c, "../") {
			return fmt.Errorf("forbidden path outside the build context: %s", p)
		}
		matches, err := filepath.Glob(filepath.Join(b.ctxDir, filepath.FromSlash(path.Clean("/"+p))))
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if len(matches) == 0 {
			return fmt.Errorf("COPY failed: file not found in build context: %s", p)
		}
		if len(matches) > 1 {
			dirDest = true
		}
		for _, m := range matches {
			rel, _ := filepath.Rel(b.ctxDir, m)
			host, err := resolveInContext(b.ctxDir, filepath.ToSlash(rel))
			if err != nil {
				return err
			}
			srcs = append(srcs, src{host: host, name: filepath.Base(m)})
		}
	}
	if !dirDest && b.image != "" && b.be.ImageIsDir(ctx, b.image, dest) {
		dirDest = true
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := func() error {
			// Parent directories, so the layer applies on any base.
			parents := dest
			if !dirDest {
				parents = path.Dir(dest)
			}
			var dirs []string
			for d := parents; d != "/"; d = path.Dir(d) {
				dirs = append([]string{d}, dirs...)
			}
			for _, d := range dirs {
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755}); err != nil {
					return err
				}
			}
			for _, s := range srcs {
				st, err := os.Stat(s.host)
				if err != nil {
					return err
				}
				target := dest
				if st.IsDir() {
					// A directory's contents are copied, not the directory.
				} else if dirDest {
					target = path.Join(dest, s.name)
				}
				if err := addTree(tw, s.host, target, uid, gid); err != nil {
					return err
				}
			}
			return tw.Close()
		}()
		pw.CloseWithError(err)
	}()
	id, err := b.be.BuildCommit(ctx, b.image, "", pr, b.cfg, fmt.Sprintf("%s #(nop) %s", strings.Join(b.shell, " "), instr))
	pr.CloseWithError(err)
	if err != nil {
		return err
	}
	return b.advance(id)
}

// addTree writes host (a file or a directory's tree) to tw as target.
func addTree(tw *tar.Writer, host, target string, uid, gid int) error {
	return filepath.WalkDir(host, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(host, p)
		name := path.Join(target, filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = strings.TrimPrefix(name, "/")
		if info.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = uid, gid, "", ""
		if hdr.Name == "/" || hdr.Name == "" {
			return nil
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
}

// parseChown reads --chown's numeric uid[:gid]; names would need the
// image's /etc/passwd and are not supported yet.
func parseChown(s string) (int, int, error) {
	if s == "" {
		return 0, 0, nil
	}
	u, g, hasG := strings.Cut(s, ":")
	uid, err := strconv.Atoi(u)
	if err != nil {
		return 0, 0, fmt.Errorf("--chown=%s: only numeric ids are supported yet", s)
	}
	gid := uid
	if hasG {
		if gid, err = strconv.Atoi(g); err != nil {
			return 0, 0, fmt.Errorf("--chown=%s: only numeric ids are supported yet", s)
		}
	}
	return uid, gid, nil
}

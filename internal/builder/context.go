package builder

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/gzip"
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
	br := bufio.NewReaderSize(r, 256<<10)
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
	made := map[string]bool{}
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
		if err := extractEntry(root, name, hdr, tr, made); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
}

func extractEntry(root *os.Root, name string, hdr *tar.Header, body io.Reader, made map[string]bool) error {
	if d := path.Dir(name); d != "." && !made[d] {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return err
		}
		made[d] = true
	}
	mode := fs.FileMode(hdr.Mode) & fs.ModePerm
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := root.MkdirAll(name, 0o755); err != nil {
			return err
		}
		made[name] = true
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

// resolveInContext maps a path of the context to the host, following
// symlinks inside the context only.
func resolveInContext(dir, p string) (string, error) {
	host, err := resolveInRoot(dir, p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s: %w", p, errNotInContext)
	}
	return host, err
}

// resolveInRoot maps p, a path in the tree at root (a build context or
// an image), to the host, following its symlinks as if root were "/":
// an absolute link or ".." never leaves root. The path must exist.
func resolveInRoot(root, p string) (string, error) {
	parts := strings.Split(strings.TrimPrefix(path.Clean("/"+p), "/"), "/")
	cur := ""
	for hops := 0; len(parts) > 0; {
		part := parts[0]
		parts = parts[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			if cur = path.Dir(cur); cur == "." {
				cur = ""
			}
			continue
		}
		next := path.Join(cur, part)
		host := filepath.Join(root, filepath.FromSlash(next))
		fi, err := os.Lstat(host)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		link, err := os.Readlink(host)
		if err != nil {
			return "", err
		}
		if path.IsAbs(link) {
			cur = ""
		}
		parts = append(strings.Split(link, "/"), parts...)
	}
	return filepath.Join(root, filepath.FromSlash(cur)), nil
}

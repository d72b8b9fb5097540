package builder

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hako-dev/hako/internal/archive"
)

// checksum digests what a copy puts in its layer: each entry's name,
// type, mode, owner, link target and content.
func checksum(items []item) (string, error) {
	h := sha256.New()
	for _, it := range items {
		fmt.Fprintf(h, "%s\x00%c\x00%o\x00%d:%d\x00%s\x00%d\x00", it.hdr.Name, it.hdr.Typeflag, it.hdr.Mode, it.hdr.Uid, it.hdr.Gid, it.hdr.Linkname, it.hdr.Size)
		src := it.host
		if it.archive != "" {
			src = it.archive
		}
		switch {
		case src != "":
			f, err := os.Open(src)
			if err != nil {
				return "", err
			}
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return "", err
			}
		default:
			h.Write(it.data)
		}
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeItems writes the layer tar of a copy; owner, when set, owns every
// entry (--chown).
func writeItems(w io.Writer, items []item, owner *[2]int) error {
	tw := tar.NewWriter(w)
	for _, it := range items {
		if it.archive != "" {
			if err := unpackInto(tw, it.archive, it.hdr.Name, owner); err != nil {
				return err
			}
			continue
		}
		hdr := it.hdr
		if owner != nil && !it.existing {
			hdr.Uid, hdr.Gid = owner[0], owner[1]
		}
		if err := tw.WriteHeader(&hdr); err != nil {
			return err
		}
		switch {
		case it.host != "":
			f, err := os.Open(it.host)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return err
			}
		case it.data != nil:
			if _, err := tw.Write(it.data); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// isArchive reports whether the file is a tar, plain or compressed: ADD
// unpacks those.
func isArchive(host string) bool {
	f, err := os.Open(host)
	if err != nil {
		return false
	}
	defer f.Close()
	rc, _, err := archive.Decompress(f)
	if err != nil {
		return false
	}
	defer rc.Close()
	_, err = tar.NewReader(rc).Next()
	return err == nil
}

// unpackInto copies the entries of the archive at host under dest.
func unpackInto(tw *tar.Writer, host, dest string, owner *[2]int) error {
	f, err := os.Open(host)
	if err != nil {
		return err
	}
	defer f.Close()
	rc, _, err := archive.Decompress(bufio.NewReader(f))
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("unpack %s: %w", filepath.Base(host), err)
		}
		name := path.Clean("/" + hdr.Name)
		if name == "/" {
			continue
		}
		hdr.Name = strings.TrimPrefix(path.Join(dest, name), "/")
		if hdr.Typeflag == tar.TypeDir {
			hdr.Name += "/"
		}
		if hdr.Typeflag == tar.TypeLink {
			hdr.Linkname = strings.TrimPrefix(path.Join(dest, path.Clean("/"+hdr.Linkname)), "/")
		}
		if owner != nil {
			hdr.Uid, hdr.Gid = owner[0], owner[1]
		}
		hdr.Uname, hdr.Gname = "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
}

// download fetches an ADD URL to a file under dir; the file's name is
// the URL path's last element.
func download(ctx context.Context, rawURL, dir string) (host, name string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", "", fmt.Errorf("ADD %s: %w", rawURL, err)
	}
	name = path.Base(u.Path)
	if name == "/" || name == "." || name == "" {
		return "", "", fmt.Errorf("ADD %s: cannot determine a file name from the URL; name the destination file", rawURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return "", "", fmt.Errorf("ADD %s: %w", rawURL, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("ADD %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("ADD %s: the server answered %s", rawURL, resp.Status)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	host = filepath.Join(dir, name)
	f, err := os.Create(host)
	if err != nil {
		return "", "", err
	}
	_, err = io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", "", fmt.Errorf("ADD %s: %w", rawURL, err)
	}
	mtime := time.Unix(0, 0)
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		mtime = t
	}
	return host, name, os.Chtimes(host, mtime, mtime)
}

// owner resolves --chown: uid[:gid] as numbers or names, names from the
// image's /etc/passwd and /etc/group. A user alone is also the group,
// as docker reads it.
func (b *build) owner(ctx context.Context, chown string) (*[2]int, error) {
	if chown == "" {
		return nil, nil
	}
	u, g, hasG := strings.Cut(chown, ":")
	if !hasG {
		g = u
	}
	uid, uerr := strconv.Atoi(u)
	gid, gerr := strconv.Atoi(g)
	if uerr == nil && gerr == nil {
		return &[2]int{uid, gid}, nil
	}
	if b.image == "" {
		return nil, fmt.Errorf("--chown=%s: unable to find user %s: the image has no /etc/passwd", chown, u)
	}
	dir, release, err := b.be.BuildView(ctx, b.image)
	if err != nil {
		return nil, err
	}
	defer release()
	if uerr != nil {
		if uid, err = lookupID(dir, "/etc/passwd", u); err != nil {
			return nil, fmt.Errorf("--chown=%s: unable to find user %s: %w", chown, u, err)
		}
	}
	if gerr != nil {
		if gid, err = lookupID(dir, "/etc/group", g); err != nil {
			return nil, fmt.Errorf("--chown=%s: unable to find group %s: %w", chown, g, err)
		}
	}
	return &[2]int{uid, gid}, nil
}

// lookupID finds name's id (the third field) in a passwd or group file
// of the tree at root.
func lookupID(root, file, name string) (int, error) {
	host, err := resolveInRoot(root, file)
	if err != nil {
		return 0, fmt.Errorf("no %s in the image", file)
	}
	f, err := os.Open(host)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) >= 3 && fields[0] == name {
			return strconv.Atoi(fields[2])
		}
	}
	return 0, fmt.Errorf("no matching entries in %s", file)
}

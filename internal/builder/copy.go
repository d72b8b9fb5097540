package builder

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/patternmatcher"
	"github.com/opencontainers/go-digest"
	mode "github.com/tonistiigi/dchapes-mode"
)

// copySpec is a COPY or ADD, expanded.
type copySpec struct {
	instructions.SourcesAndDest
	from, chown, chmod string
	// text is the instruction as written, for the history.
	text string
	// add is ADD: URLs are fetched, local archives unpacked (unless
	// not unpack: ADD --unpack=false).
	add, unpack bool
	// exclude are --exclude's patterns (.dockerignore's syntax), matched
	// against the paths inside a directory source, and against the name
	// of a file source (its path in the context when a wildcard found
	// it).
	exclude []string
	// checksum is ADD --checksum: the digest the one URL source must
	// have.
	checksum string
	// parents is COPY --parents: each source keeps its path (from the
	// root, or from a "/./" in it) under the destination.
	parents bool
}

func (s *copySpec) verb() string {
	if s.add {
		return "ADD"
	}
	return "COPY"
}

// item is one entry of a COPY's layer.
type item struct {
	hdr tar.Header
	// A regular file's content is at host, or is data.
	host string
	data []byte
	// archive is a tar (maybe compressed) unpacked at hdr.Name.
	archive string
	// existing is a directory of the image the entries go in, as it is:
	// --chown leaves it.
	existing bool
}

// copy adds the files s names, from the context, a stage or an image, as
// one layer. Its cache key holds a checksum of the files (names, modes,
// owners, contents); files from a stage or image are named by its ID.
func (b *build) copy(ctx context.Context, s copySpec) error {
	expanded, err := json.Marshal(s.SourcesAndDest)
	if err != nil {
		return err
	}
	chmod, err := parseChmod(s.chmod)
	if err != nil {
		return err
	}
	root, key, createdBy := b.ctxDir, "", ""
	if s.from != "" {
		id, err := b.copySource(ctx, s.from)
		if err != nil {
			return err
		}
		// The source image's ID stands for its files.
		createdBy = b.copyCreatedBy(&s, "from:"+strings.TrimPrefix(id, "sha256:")+":"+strings.Join(s.SourcePaths, ","))
		key = b.cacheKey("copy-from", id, createdBy, string(expanded), s.chown, s.chmod, strings.Join(s.exclude, "\x00"))
		if b.fromCache(ctx, key, createdBy) {
			return nil
		}
		dir, release, err := b.be.BuildView(ctx, id)
		if err != nil {
			return err
		}
		defer release()
		root = dir
	}
	tmp, err := os.MkdirTemp("", "hako-add-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	items, err := b.copyItems(ctx, root, &s, chmod, tmp)
	if err != nil {
		return err
	}
	if key == "" {
		sum, err := checksum(items)
		if err != nil {
			return err
		}
		kind := "multi:"
		if len(s.SourcePaths) == 1 && !strings.ContainsAny(s.SourcePaths[0], "*?[") {
			kind = "dir:"
			if len(items) > 0 && items[len(items)-1].hdr.Typeflag != tar.TypeDir && !strings.HasSuffix(s.SourcePaths[0], "/") {
				kind = "file:"
			}
		}
		createdBy = b.copyCreatedBy(&s, kind+sum)
		key = b.cacheKey("copy", createdBy, string(expanded), s.chown, s.chmod, sum, strings.Join(s.exclude, "\x00"))
		if b.fromCache(ctx, key, createdBy) {
			return nil
		}
	}
	owner, err := b.owner(ctx, s.chown)
	if err != nil {
		return err
	}
	return b.commitItems(ctx, items, owner, createdBy, key)
}

// copyCreatedBy is a COPY's or ADD's history entry: the instruction as
// written, and what it copied named by a checksum of it (or by the
// source image's ID), as docker's classic builder names it, so that the
// history tells the layer's content (--cache-from relies on that).
func (b *build) copyCreatedBy(s *copySpec, src string) string {
	return fmt.Sprintf("%s #(nop) %s # %s", strings.Join(b.shell(), " "), s.text, src)
}

// commitItems commits a layer of items (owned by owner when set) as the
// step createdBy with cache key key.
func (b *build) commitItems(ctx context.Context, items []item, owner *[2]int, createdBy, key string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeItems(pw, items, owner)) }()
	id, err := b.be.BuildCommit(ctx, Commit{Base: b.image, Layer: pr, Config: b.cfg, CreatedBy: createdBy, CacheKey: key})
	pr.CloseWithError(errors.New("the layer was not read to its end"))
	if err != nil {
		return err
	}
	b.image = id
	return nil
}

// copySource resolves COPY --from: an earlier stage or an image.
func (b *build) copySource(ctx context.Context, from string) (string, error) {
	from, err := b.expand(from)
	if err != nil {
		return "", err
	}
	if j := b.stageIndex(from, b.cur); j >= 0 {
		return b.stageImages[j], nil
	}
	img, err := b.be.BuildImage(ctx, from, false, b.o.Platform, b.rep.Stream)
	if err != nil {
		return "", err
	}
	return img.ID, nil
}

// copyItems lists the layer's entries: the sources, then the missing
// parent directories of where they go.
func (b *build) copyItems(ctx context.Context, root string, s *copySpec, chmod chmodFunc, tmp string) ([]item, error) {
	fromImage := root != b.ctxDir
	dest := s.DestPath
	dirDest := strings.HasSuffix(dest, "/") || dest == "." || strings.HasSuffix(dest, "/.") || len(s.SourcePaths)+len(s.SourceContents) > 1
	if !path.IsAbs(dest) {
		dest = path.Join("/", b.cfg.WorkingDir, dest)
	}
	dest = path.Clean(dest)
	var excluded func(string) bool
	if len(s.exclude) > 0 {
		pm, err := patternmatcher.New(s.exclude)
		if err != nil {
			return nil, fmt.Errorf("%s --exclude: %w", s.verb(), err)
		}
		excluded = func(rel string) bool {
			ok, _ := pm.MatchesOrParentMatches(rel)
			return ok
		}
	}
	// keep is a source's path under the destination with --parents.
	type match struct{ host, name, keep string }
	var matches []match
	var urls []string
	for _, p := range s.SourcePaths {
		if s.add && (strings.HasPrefix(p, "http://") || strings.HasPrefix(p, "https://")) {
			urls = append(urls, p)
			continue
		}
		if c := path.Clean(p); !fromImage && (c == ".." || strings.HasPrefix(c, "../")) {
			return nil, fmt.Errorf("forbidden path outside the build context: %s", p)
		}
		// found: a file matched p, even if --exclude left it out.
		found := false
		// pivot: with --parents, the part of the paths not kept.
		pivot := ""
		if s.parents {
			dirDest = true
			q := strings.TrimLeft(p, "/")
			for strings.HasPrefix(q, "./") {
				q = strings.TrimLeft(q[2:], "/")
			}
			if i := strings.Index(q, "/./"); i >= 0 {
				pivot = strings.TrimPrefix(path.Clean("/"+q[:i]), "/")
			}
		}
		names := []string{p}
		if strings.ContainsAny(p, "*?[") {
			globbed, err := filepath.Glob(filepath.Join(root, filepath.FromSlash(path.Clean("/"+p))))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			names = names[:0]
			for _, g := range globbed {
				rel, _ := filepath.Rel(root, g)
				found = true
				if excluded != nil && excluded(filepath.ToSlash(rel)) {
					continue
				}
				names = append(names, filepath.ToSlash(rel))
			}
			if len(names) > 1 {
				dirDest = true
			}
		}
		for _, n := range names {
			host, err := resolveInRoot(root, n)
			if errors.Is(err, fs.ErrNotExist) {
				break
			} else if err != nil {
				return nil, err
			}
			found = true
			name := path.Base(path.Clean("/" + n))
			if excluded != nil && name != "/" && excluded(name) {
				continue
			}
			m := match{host: host, name: name}
			if s.parents {
				m.keep = strings.TrimPrefix(path.Clean("/"+n), "/")
				if pivot != "" {
					m.keep = strings.TrimPrefix(strings.TrimPrefix(m.keep, pivot), "/")
				}
			}
			matches = append(matches, m)
		}
		if !found {
			if fromImage {
				return nil, fmt.Errorf("%s failed: %s not found in %s", s.verb(), p, s.from)
			}
			return nil, fmt.Errorf("%s failed: file not found in build context or excluded by .dockerignore: %s", s.verb(), p)
		}
	}
	if b.image != "" {
		resolved, fi := b.be.ImagePath(ctx, b.image, dest)
		dest, dirDest = resolved, dirDest || fi != nil && fi.IsDir()
	}
	target := func(name string) string {
		if dirDest {
			return path.Join(dest, name)
		}
		return dest
	}
	var items []item
	dirs := map[string]bool{}
	for _, m := range matches {
		fi, err := os.Stat(m.host)
		if err != nil {
			return nil, err
		}
		if m.keep != "" {
			m.name = m.keep
		}
		switch {
		case fi.IsDir():
			// A directory's contents are copied, not the directory (but
			// under its own path with --parents).
			under := path.Join(dest, m.keep)
			err := filepath.WalkDir(m.host, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				rel, _ := filepath.Rel(m.host, p)
				if rel == "." {
					return nil
				}
				if excluded != nil && excluded(filepath.ToSlash(rel)) {
					if d.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
				it, err := fileItem(p, path.Join(under, filepath.ToSlash(rel)), fromImage, chmod)
				items = append(items, it)
				return err
			})
			if err != nil {
				return nil, err
			}
			dirs[under] = true
		case s.add && s.unpack && !fromImage && isArchive(m.host):
			items = append(items, item{hdr: tar.Header{Name: dest}, archive: m.host})
			dirs[dest] = true
		default:
			it, err := fileItem(m.host, target(m.name), fromImage, chmod)
			if err != nil {
				return nil, err
			}
			items = append(items, it)
			dirs[path.Dir(target(m.name))] = true
		}
	}
	for _, c := range s.SourceContents {
		t := target(c.Path)
		hdr := tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(t, "/"), Mode: 0o644, Size: int64(len(c.Data))}
		if chmod != nil {
			hdr.Mode = chmod(hdr.Mode, false)
		}
		items = append(items, item{hdr: hdr, data: []byte(c.Data)})
		dirs[path.Dir(t)] = true
	}
	if s.checksum != "" && (len(urls) != 1 || len(s.SourcePaths) != 1) {
		return nil, fmt.Errorf("ADD --checksum needs one http(s) source, and only it")
	}
	for i, u := range urls {
		host, name, err := download(ctx, u, filepath.Join(tmp, strconv.Itoa(i)))
		if err != nil {
			return nil, err
		}
		if s.checksum != "" {
			if err := verifyChecksum(host, s.checksum); err != nil {
				return nil, fmt.Errorf("ADD %s: %w", u, err)
			}
		}
		it, err := fileItem(host, target(name), false, nil)
		if err != nil {
			return nil, err
		}
		it.hdr.Mode = 0o600 // docker's mode for a download
		if chmod != nil {
			it.hdr.Mode = chmod(it.hdr.Mode, false)
		}
		items = append(items, it)
		dirs[path.Dir(target(name))] = true
	}
	return append(b.parentItems(ctx, dirs), items...), nil
}

// parentItems are the directories the copy writes into, parents first:
// those the image has with their own metadata (an overlay layer's
// directory hides the mode and owner of the one below), the others as
// root's 0755 directories.
func (b *build) parentItems(ctx context.Context, dirs map[string]bool) []item {
	all := map[string]bool{}
	for d := range dirs {
		for ; d != "/" && d != "." && !all[d]; d = path.Dir(d) {
			all[d] = true
		}
	}
	var out []item
	for _, d := range slices.Sorted(maps.Keys(all)) {
		it := item{hdr: tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755}}
		if b.image != "" {
			if _, fi := b.be.ImagePath(ctx, b.image, d); fi != nil && fi.IsDir() {
				if hdr, err := tar.FileInfoHeader(fi, ""); err == nil {
					hdr.Name, hdr.Uname, hdr.Gname = it.hdr.Name, "", ""
					hdr.AccessTime, hdr.ChangeTime = hdr.ModTime, hdr.ModTime
					it = item{hdr: *hdr, existing: true}
				}
			}
		}
		out = append(out, it)
	}
	return out
}

// fileItem describes the file at host as the entry name; its owner is
// root unless keepOwner, its mode changed by chmod unless nil.
func fileItem(host, name string, keepOwner bool, chmod chmodFunc) (item, error) {
	fi, err := os.Lstat(host)
	if err != nil {
		return item{}, err
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(host); err != nil {
			return item{}, err
		}
	}
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return item{}, err
	}
	hdr.Name = strings.TrimPrefix(name, "/")
	if fi.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uname, hdr.Gname = "", ""
	hdr.AccessTime, hdr.ChangeTime = hdr.ModTime, hdr.ModTime
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && keepOwner {
		hdr.Uid, hdr.Gid = int(st.Uid), int(st.Gid)
	} else {
		hdr.Uid, hdr.Gid = 0, 0
	}
	if chmod != nil && fi.Mode()&fs.ModeSymlink == 0 {
		hdr.Mode = chmod(hdr.Mode, fi.IsDir())
	}
	it := item{hdr: *hdr}
	if fi.Mode().IsRegular() {
		it.host = host
	}
	return it, nil
}

// chmodFunc is COPY --chmod: the mode (tar's bits: permissions, setuid
// 04000, setgid 02000, sticky 01000) an entry gets for the one it has.
type chmodFunc func(mode int64, dir bool) int64

// parseChmod reads --chmod: an octal mode, which every copied entry
// gets, or a symbolic one (u+x,go-w, g=u, a+X: chmod(1)'s), applied to
// each entry's own mode, as buildkit does. nil when there is none.
func parseChmod(s string) (chmodFunc, error) {
	if s == "" {
		return nil, nil
	}
	if m, err := strconv.ParseUint(s, 8, 32); err == nil || errors.Is(err, strconv.ErrRange) || strings.Trim(s, "0123456789") == "" {
		if err != nil || m > 0o7777 {
			return nil, fmt.Errorf("invalid --chmod=%s: an octal mode is between 0 and 7777", s)
		}
		return func(int64, bool) int64 { return int64(m) }, nil
	}
	set, err := mode.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("invalid --chmod=%s: neither an octal mode (like 755) nor a symbolic one (like u+x,go-w)", s)
	}
	bits := []struct {
		tar int64
		fs  fs.FileMode
	}{{0o4000, fs.ModeSetuid}, {0o2000, fs.ModeSetgid}, {0o1000, fs.ModeSticky}}
	return func(m int64, dir bool) int64 {
		fm := fs.FileMode(m & 0o777)
		for _, b := range bits {
			if m&b.tar != 0 {
				fm |= b.fs
			}
		}
		if dir {
			fm |= fs.ModeDir // for X
		}
		fm = set.Apply(fm)
		out := int64(fm.Perm())
		for _, b := range bits {
			if fm&b.fs != 0 {
				out |= b.tar
			}
		}
		return out
	}, nil
}

// verifyChecksum checks that the file at p has the digest want
// (algorithm:hex; sha256, sha384 or sha512).
func verifyChecksum(p, want string) error {
	d, err := digest.Parse(want)
	if err != nil {
		return fmt.Errorf("invalid --checksum %q: %v", want, err)
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	got, err := d.Algorithm().FromReader(f)
	if err != nil {
		return err
	}
	if got != d {
		return fmt.Errorf("the download's digest is %s, not the --checksum %s", got, d)
	}
	return nil
}

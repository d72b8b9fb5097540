package daemon

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/hako-dev/hako/internal/builder"
	"github.com/hako-dev/hako/internal/daemon/logger/jsonfile"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/image"
	"github.com/hako-dev/hako/internal/mount"
	"github.com/hako-dev/hako/internal/registry"
	"github.com/hako-dev/hako/internal/snapshot"
	buildtypes "github.com/moby/moby/api/types/build"
	ctypes "github.com/moby/moby/api/types/container"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sys/unix"
)

// The daemon is the builder's backend (builder.Backend): RUN steps are
// ordinary containers, each step's image an ordinary commit that keeps
// its parent and cache key in the image store.

// BuildImage resolves a FROM image, pulling it when it is missing or
// pull is set.
func (d *Daemon) BuildImage(ctx context.Context, ref string, pull bool, platform string, progress func(string)) (builder.Image, error) {
	img, err := d.images.Get(ref)
	if pull || errdefs.IsNotFound(err) {
		progress(fmt.Sprintf("Pulling image %s\n", ref))
		img, err = d.PullImage(ctx, ref, platform, authn.Anonymous, func(p registry.Progress) {
			if strings.HasPrefix(p.Status, "Status:") || strings.HasPrefix(p.Status, "Digest:") {
				progress(p.Status + "\n")
			}
		})
	}
	if err != nil {
		return builder.Image{}, err
	}
	return d.buildImage(img)
}

func (d *Daemon) buildImage(img *image.Image) (builder.Image, error) {
	cfg, err := d.imageConfig(img)
	if err != nil {
		return builder.Image{}, err
	}
	return builder.Image{ID: img.ID.String(), Config: cfg.Config}, nil
}

// BuildCached finds the image of an earlier build step.
func (d *Daemon) BuildCached(ctx context.Context, key string) (builder.Image, bool) {
	img, err := d.images.Cached(key)
	if err != nil {
		return builder.Image{}, false
	}
	bi, err := d.buildImage(img)
	return bi, err == nil
}

// BuildCachedFrom is docker's classic --cache-from: when the history and
// layers of c.Base begin those of one of the images sources (local
// images; missing ones are skipped) and that image's next history entry
// is c.CreatedBy, the step's image is made from it: c.Base plus that
// entry and its layer (already stored), with c.Config. That image, like
// a built one, is recorded with c.CacheKey.
func (d *Daemon) BuildCachedFrom(ctx context.Context, sources []string, c builder.Commit) (builder.Image, bool) {
	var parent *image.Image
	var pHist []ocispec.History
	var pDiffs []digest.Digest
	if c.Base != "" {
		var err error
		if parent, err = d.images.Get(c.Base); err != nil {
			return builder.Image{}, false
		}
		pc, err := d.imageConfig(parent)
		if err != nil {
			return builder.Image{}, false
		}
		pHist, pDiffs = pc.History, pc.RootFS.DiffIDs
	}
	for _, ref := range sources {
		src, err := d.images.Get(ref)
		if err != nil {
			continue
		}
		sc, err := d.imageConfig(src)
		if err != nil || len(sc.History) <= len(pHist) || len(sc.RootFS.DiffIDs) < len(pDiffs) || len(src.Layers) != len(sc.RootFS.DiffIDs) {
			continue
		}
		if !slices.EqualFunc(pHist, sc.History[:len(pHist)], sameHistory) || !slices.Equal(pDiffs, sc.RootFS.DiffIDs[:len(pDiffs)]) {
			continue
		}
		h := sc.History[len(pHist)]
		if h.CreatedBy != c.CreatedBy {
			continue
		}
		o := registry.CommitOptions{Config: c.Config, History: &h, EmptyLayer: h.EmptyLayer}
		if parent != nil {
			o.Base = parent.Manifest
		}
		if !h.EmptyLayer {
			i := len(pDiffs)
			if i >= len(src.Layers) {
				continue
			}
			desc, err := d.layerDescriptor(src, i)
			if err != nil {
				continue
			}
			o.Reuse = &registry.ReusedLayer{Desc: desc, DiffID: sc.RootFS.DiffIDs[i]}
		}
		p, err := registry.Commit(ctx, d.content, nil, o)
		if err != nil {
			d.log().Warn("build: --cache-from image", "image", ref, "error", err)
			continue
		}
		ni := &image.Image{ID: p.Config, Manifest: p.Manifest, MediaType: p.MediaType, DiffIDs: p.DiffIDs, Created: p.Created, BuildKey: c.CacheKey}
		if parent != nil {
			ni.Parent = parent.ID
		}
		for _, l := range p.Layers {
			ni.Layers = append(ni.Layers, l.Digest)
			ni.Size += l.Size
		}
		if err := d.unpack(ctx, ni, nil); err != nil {
			d.log().Warn("build: --cache-from image", "image", ref, "error", err)
			continue
		}
		if err := d.images.Put(ni); err != nil {
			continue
		}
		bi, err := d.buildImage(ni)
		return bi, err == nil
	}
	return builder.Image{}, false
}

// sameHistory compares history entries as docker does: every field.
func sameHistory(a, b ocispec.History) bool {
	return a.CreatedBy == b.CreatedBy && a.Author == b.Author && a.Comment == b.Comment && a.EmptyLayer == b.EmptyLayer &&
		(a.Created == nil) == (b.Created == nil) && (a.Created == nil || a.Created.Equal(*b.Created))
}

// layerDescriptor is the manifest's descriptor of img's layer i.
func (d *Daemon) layerDescriptor(img *image.Image, i int) (ocispec.Descriptor, error) {
	b, err := d.content.ReadAll(img.Manifest)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return ocispec.Descriptor{}, err
	}
	if i >= len(m.Layers) {
		return ocispec.Descriptor{}, fmt.Errorf("image %s has no layer %d", img.ID, i)
	}
	return m.Layers[i], nil
}

// ImagePath resolves a path in an image's files, as the image's own
// processes would see it: the symlinks of its existing part are followed,
// inside the image. It describes the result, if it exists.
func (d *Daemon) ImagePath(ctx context.Context, ref, p string) (string, os.FileInfo) {
	img, err := d.images.Get(ref)
	if err != nil {
		return path.Clean("/" + p), nil
	}
	dirs := d.layerDirs(ctx, img)
	if d.driver != "overlay" && len(dirs) > 1 {
		dirs = dirs[:1] // vfs: the top layer's directory is the whole tree
	}
	parts := strings.Split(strings.TrimPrefix(path.Clean("/"+p), "/"), "/")
	cur := "/"
	for hops := 0; len(parts) > 0; {
		part := parts[0]
		parts = parts[1:]
		switch part {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, part)
		fi, host := lookupInLayers(dirs, next)
		switch {
		case fi == nil:
			// The rest does not exist: it is taken as it is.
			return path.Join(append([]string{next}, parts...)...), nil
		case fi.Mode()&os.ModeSymlink != 0 && hops < 40:
			hops++
			link, err := os.Readlink(host)
			if err != nil {
				return path.Join(append([]string{next}, parts...)...), nil
			}
			if path.IsAbs(link) {
				cur = "/"
			}
			parts = append(strings.Split(link, "/"), parts...)
		default:
			cur = next
		}
	}
	var fi os.FileInfo
	if cur == "/" && len(dirs) > 0 {
		fi, _ = os.Stat(dirs[len(dirs)-1])
	} else {
		fi, _ = lookupInLayers(dirs, cur)
	}
	return cur, fi
}

// lookupInLayers finds p in layer directories, top first: the top layer
// that has it, or a whiteout of it, decides.
func lookupInLayers(dirs []string, p string) (os.FileInfo, string) {
	rel := filepath.FromSlash(strings.TrimPrefix(p, "/"))
	for _, dir := range dirs {
		host := filepath.Join(dir, rel)
		fi, err := os.Lstat(host)
		if err == nil {
			// overlay's whiteout: a 0:0 character device.
			if fi.Mode()&os.ModeCharDevice != 0 {
				return nil, ""
			}
			return fi, host
		}
		if _, err := os.Lstat(filepath.Join(dir, filepath.Dir(rel), ".wh."+filepath.Base(rel))); err == nil {
			return nil, ""
		}
	}
	return nil, ""
}

const buildViewPrefix = "build-view-"

// BuildView mounts a read-only view of an image's files, for COPY
// --from and --chown's user names.
func (d *Daemon) BuildView(ctx context.Context, ref string) (string, func() error, error) {
	img, err := d.images.Get(ref)
	if err != nil {
		return "", nil, err
	}
	var buf [8]byte
	rand.Read(buf[:])
	key := buildViewPrefix + hex.EncodeToString(buf[:])
	target := filepath.Join(d.cfg.RunRoot, "build", key)
	if err := os.MkdirAll(target, 0o700); err != nil {
		return "", nil, err
	}
	chain := image.ChainIDs(img.DiffIDs)
	if len(chain) == 0 {
		// No layers: an empty tree.
		return target, func() error { return os.Remove(target) }, nil
	}
	ms, err := d.snapshots.View(ctx, key, chain[len(chain)-1].String())
	if err != nil {
		os.Remove(target)
		return "", nil, err
	}
	if err := mount.All(ms, target); err != nil {
		d.snapshots.Remove(ctx, key)
		os.Remove(target)
		return "", nil, fmt.Errorf("mount the files of image %s: %w", ref, err)
	}
	return target, func() error { return d.removeBuildView(context.WithoutCancel(ctx), key) }, nil
}

func (d *Daemon) removeBuildView(ctx context.Context, key string) error {
	target := filepath.Join(d.cfg.RunRoot, "build", key)
	if mount.IsMountPoint(target) {
		if err := mount.Unmount(target); err != nil {
			return err
		}
	}
	if err := os.Remove(target); err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := d.snapshots.Remove(ctx, key); err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// BuildTempDir is RUNROOT/build-tmp, where builds keep their temporary
// files (writable RUN --mount binds, remote contexts).
func (d *Daemon) BuildTempDir() string {
	dir := filepath.Join(d.cfg.RunRoot, "build-tmp")
	os.MkdirAll(dir, 0o700)
	return dir
}

// removeBuildViews removes the views and temporary files a build cut off
// by a crash left.
func (d *Daemon) removeBuildViews(ctx context.Context) {
	if err := builder.RemoveLeftovers(filepath.Join(d.cfg.RunRoot, "build-tmp")); err != nil {
		d.log().Warn("remove a build's leftover files", "error", err)
	}
	var keys []string
	d.snapshots.Walk(ctx, func(i snapshot.Info) error {
		if strings.HasPrefix(i.Key, buildViewPrefix) {
			keys = append(keys, i.Key)
		}
		return nil
	})
	for _, k := range keys {
		if err := d.removeBuildView(ctx, k); err != nil {
			d.log().Warn("remove a build's leftover view", "key", k, "error", err)
		}
	}
}

// BuildRun runs a RUN step's container to its end, streaming its output.
func (d *Daemon) BuildRun(ctx context.Context, cfg *ctypes.Config, o builder.RunOptions, created func(id string), out io.Writer) (int, error) {
	hc := &ctypes.HostConfig{Mounts: o.Mounts, NetworkMode: ctypes.NetworkMode(o.Host.NetworkMode), ExtraHosts: o.Host.ExtraHosts, ShmSize: o.Host.ShmSize, Resources: o.Host.Resources}
	// RUN steps keep the host's users under --userns-remap: their cache
	// and bind mounts are the host's files.
	hc.UsernsMode = "host"
	if o.NetworkNone {
		hc.NetworkMode = "none"
	}
	resp, err := d.ContainerCreate(ctx, CreateRequest{Config: cfg, HostConfig: hc})
	if err != nil {
		return 0, err
	}
	created(resp.ID)
	if len(o.Stubs) > 0 {
		defer func() {
			if err := d.removeStubs(ctx, resp.ID, o.Stubs); err != nil {
				d.log().Warn("remove the mount points of a RUN step", "container", resp.ID, "error", err)
			}
		}()
	}
	wait, err := d.ContainerWait(ctx, resp.ID, "next-exit")
	if err != nil {
		return 0, err
	}
	if err := d.ContainerStart(ctx, resp.ID); err != nil {
		return 0, err
	}
	c, err := d.containers.Get(resp.ID)
	if err != nil {
		return 0, err
	}
	stopped := make(chan struct{})
	var res ctypes.WaitResponse
	go func() {
		defer close(stopped)
		res = <-wait
	}()
	if c.LogPath != "" {
		err = jsonfile.Read(ctx, c.LogPath, jsonfile.ReadConfig{Tail: -1, Follow: true}, stopped, func(m jsonfile.Message) error {
			_, err := out.Write(m.Line)
			return err
		})
		if err != nil {
			return 0, fmt.Errorf("read the output of %s: %w", resp.ID, err)
		}
	}
	select {
	case <-stopped:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	if res.Error != nil && res.Error.Message != "" {
		return 0, fmt.Errorf("container %s: %s", resp.ID, res.Error.Message)
	}
	return int(res.StatusCode), nil
}

// removeStubs removes the directories the mounts of a RUN step made in its
// container's own layer and left empty, children first: nothing of a mount
// goes into the step's layer. A path through a symbolic link is left.
func (d *Daemon) removeStubs(ctx context.Context, id string, stubs []string) error {
	c, err := d.containers.Get(id)
	if err != nil {
		return err
	}
	return d.withLayers(ctx, c, func(upper string, _ []string) error {
		root, err := unix.Open(upper, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(root)
		for _, p := range slices.Backward(stubs) {
			how := &unix.OpenHow{Flags: unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS}
			dir, err := unix.Openat2(root, path.Dir(p), how)
			if err != nil {
				continue
			}
			err = unix.Unlinkat(dir, path.Base(p), unix.AT_REMOVEDIR)
			if err == unix.ENOTDIR {
				// The mount point of a file (a secret, a bound file): the
				// empty file the runtime made.
				var st unix.Stat_t
				if unix.Fstatat(dir, path.Base(p), &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size == 0 {
					err = unix.Unlinkat(dir, path.Base(p), 0)
				}
			}
			unix.Close(dir)
			if err != nil && err != unix.ENOENT && err != unix.ENOTEMPTY && err != unix.EEXIST && err != unix.ENOTDIR {
				return fmt.Errorf("remove %s: %w", p, err)
			}
		}
		return nil
	})
}

// BuildCache returns the directory of a RUN --mount=type=cache cache:
// ROOT/build-cache/<sha256 of id>, made with mode, uid and gid when new.
// A step holds an flock on it until release: shared, or exclusive for
// sharing=locked (and private, which buildkit answers with a second cache
// instead); BuildCachePrune takes it exclusive and skips what is in use.
func (d *Daemon) BuildCache(ctx context.Context, id string, mode fs.FileMode, uid, gid int, exclusive bool) (string, func(), error) {
	sum := sha256.Sum256([]byte(id))
	parent := d.buildCacheDir()
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", nil, err
	}
	dir := filepath.Join(parent, hex.EncodeToString(sum[:16]))
	for {
		if err := os.Mkdir(dir, 0o700); err == nil {
			// Made in place with its final mode and owner, so that no
			// step sees it otherwise; a second builder finds it made.
			if err := os.Chown(dir, uid, gid); err != nil {
				os.Remove(dir)
				return "", nil, err
			}
			if err := os.Chmod(dir, mode.Perm()); err != nil {
				os.Remove(dir)
				return "", nil, err
			}
		} else if !errors.Is(err, fs.ErrExist) {
			return "", nil, err
		}
		how := unix.LOCK_SH
		if exclusive {
			how = unix.LOCK_EX
		}
		fd, err := flockWait(ctx, dir, how)
		if errors.Is(err, fs.ErrNotExist) {
			continue // pruned meanwhile: make it again
		}
		if err != nil {
			return "", nil, err
		}
		return dir, func() { unix.Close(fd) }, nil
	}
}

// flockWait opens dir and waits for an flock of kind how on it.
func flockWait(ctx context.Context, dir string, how int) (int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	for {
		err = unix.Flock(fd, how|unix.LOCK_NB)
		if err != unix.EWOULDBLOCK {
			break
		}
		select {
		case <-ctx.Done():
			unix.Close(fd)
			return -1, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("lock %s: %w", dir, err)
	}
	// Removed by a prune between the open and the lock?
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Nlink == 0 {
		unix.Close(fd)
		return -1, &os.PathError{Op: "lock", Path: dir, Err: fs.ErrNotExist}
	}
	return fd, nil
}

func (d *Daemon) buildCacheDir() string { return filepath.Join(d.cfg.Root, "build-cache") }

// BuildCachePrune removes the caches of RUN --mount=type=cache that no
// build step uses, and returns their names and the space they took.
func (d *Daemon) BuildCachePrune(ctx context.Context) ([]string, uint64, error) {
	parent := d.buildCacheDir()
	ents, err := os.ReadDir(parent)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	var deleted []string
	var reclaimed uint64
	for _, e := range ents {
		dir := filepath.Join(parent, e.Name())
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil {
			unix.Close(fd) // in use
			continue
		}
		size := usage(dir)
		err = os.RemoveAll(dir)
		unix.Close(fd)
		if err != nil {
			return deleted, reclaimed, fmt.Errorf("remove build cache %s: %w", e.Name(), err)
		}
		deleted = append(deleted, e.Name())
		reclaimed += uint64(size)
	}
	return deleted, reclaimed, nil
}

// BuildCacheUsage describes the caches of RUN --mount=type=cache, for
// GET /system/df: size, whether a step holds one now, when it was made and
// last changed.
func (d *Daemon) BuildCacheUsage(ctx context.Context) ([]buildtypes.CacheRecord, error) {
	parent := d.buildCacheDir()
	ents, err := os.ReadDir(parent)
	if errors.Is(err, fs.ErrNotExist) {
		return []buildtypes.CacheRecord{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := []buildtypes.CacheRecord{}
	for _, e := range ents {
		dir := filepath.Join(parent, e.Name())
		var stx unix.Statx_t
		if unix.Statx(unix.AT_FDCWD, dir, 0, unix.STATX_BTIME|unix.STATX_MTIME, &stx) != nil {
			continue
		}
		mtime := time.Unix(stx.Mtime.Sec, int64(stx.Mtime.Nsec))
		created := mtime
		if stx.Mask&unix.STATX_BTIME != 0 {
			created = time.Unix(stx.Btime.Sec, int64(stx.Btime.Nsec))
		}
		inUse := false
		if fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			inUse = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil
			unix.Close(fd)
		}
		out = append(out, buildtypes.CacheRecord{
			ID: e.Name(), Type: "exec.cachemount", Description: "cached mount (RUN --mount=type=cache)",
			InUse: inUse, Size: usage(dir), CreatedAt: created, LastUsedAt: &mtime,
		})
	}
	return out, nil
}

// ContainersUsage lists every container with the size of its own layer
// and of its whole filesystem, for GET /system/df.
func (d *Daemon) ContainersUsage(ctx context.Context) ([]ctypes.Summary, error) {
	return d.ContainerList(ctx, ListOptions{All: true, Size: true})
}

// BuildCommit stores a build step's image: base plus the changes of a
// container, or plus a layer, or (neither) an empty-layer history entry;
// with base as its parent and the step's cache key.
func (d *Daemon) BuildCommit(ctx context.Context, bc builder.Commit) (string, error) {
	o := registry.CommitOptions{Config: bc.Config, CreatedBy: bc.CreatedBy}
	layer := bc.Layer
	if bc.Base != "" {
		img, err := d.images.Get(bc.Base)
		if err != nil {
			return "", err
		}
		o.Base = img.Manifest
	}
	switch {
	case bc.Container != "":
		c, err := d.containers.Get(bc.Container)
		if err != nil {
			return "", err
		}
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(d.writeDiff(ctx, c, pw)) }()
		defer pr.Close()
		layer = pr
	case layer == nil:
		o.EmptyLayer = true
		layer = strings.NewReader("")
	}
	p, err := registry.Commit(ctx, d.content, layer, o)
	if err != nil {
		return "", err
	}
	ni := &image.Image{ID: p.Config, Manifest: p.Manifest, MediaType: p.MediaType, DiffIDs: p.DiffIDs, Created: p.Created, BuildKey: bc.CacheKey}
	if bc.Base != "" {
		base, err := d.images.Get(bc.Base)
		if err != nil {
			return "", err
		}
		ni.Parent = base.ID
	}
	for _, l := range p.Layers {
		ni.Layers = append(ni.Layers, l.Digest)
		ni.Size += l.Size
	}
	if err := d.unpack(ctx, ni, nil); err != nil {
		return "", err
	}
	if err := d.images.Put(ni); err != nil {
		return "", err
	}
	return ni.ID.String(), nil
}

var _ builder.Backend = (*Daemon)(nil)

// usage is the disk space the tree at dir takes, 0 if it cannot be read.
func usage(dir string) int64 {
	u, _ := snapshot.DirUsage(dir)
	return u.Size
}

package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/hako-dev/hako/internal/archive"
	"github.com/hako-dev/hako/internal/builder"
	"github.com/hako-dev/hako/internal/daemon/logger/jsonfile"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/image"
	"github.com/hako-dev/hako/internal/mount"
	"github.com/hako-dev/hako/internal/registry"
	"github.com/hako-dev/hako/internal/snapshot"
	ctypes "github.com/moby/moby/api/types/container"
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

// removeBuildViews removes the views a build cut off by a crash left.
func (d *Daemon) removeBuildViews(ctx context.Context) {
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
func (d *Daemon) BuildRun(ctx context.Context, cfg *ctypes.Config, created func(id string), out io.Writer) (int, error) {
	resp, err := d.ContainerCreate(ctx, CreateRequest{Config: cfg, HostConfig: &ctypes.HostConfig{}})
	if err != nil {
		return 0, err
	}
	created(resp.ID)
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
		go func() {
			pw.CloseWithError(d.withLayers(ctx, c, func(upper string, lowers []string) error {
				if d.driver == "overlay" {
					return archive.WriteOverlayDiff(pw, upper, lowers)
				}
				base := ""
				if len(lowers) > 0 {
					base = lowers[0]
				}
				return archive.WriteDirDiff(pw, base, upper)
			}))
		}()
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

package daemon

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/hako-dev/hako/internal/archive"
	"github.com/hako-dev/hako/internal/daemon/container"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/image"
	"github.com/hako-dev/hako/internal/mount"
	"github.com/hako-dev/hako/internal/reference"
	"github.com/hako-dev/hako/internal/registry"
	ctypes "github.com/moby/moby/api/types/container"
	eventtypes "github.com/moby/moby/api/types/events"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func (d *Daemon) layerDirs(ctx context.Context, img *image.Image) []string {
	return image.LayerDirs(ctx, d.snapshots, img)
}

// withRoot runs fn on the container's filesystem as its processes see it:
// through /proc/PID/root while it runs (mounts and volumes included), on
// its root filesystem, mounted for the call, otherwise.
func (d *Daemon) withRoot(ctx context.Context, ref string, fn func(root string) error) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	c.Lock()
	if c.Running() && c.State.Pid > 0 {
		root := fmt.Sprintf("/proc/%d/root", c.State.Pid)
		c.Unlock()
		return fn(root)
	}
	defer c.Unlock()
	if c.State.Status == container.StatusRemoving || c.State.Status == container.StatusDead {
		return fmt.Errorf("container %s is being removed: %w", c.ID, errdefs.ErrConflict)
	}
	mounted := mount.IsMountPoint(d.rootfsDir(c.ID))
	if err := d.mountRootfs(ctx, c); err != nil {
		return err
	}
	if !mounted && c.State.Status != container.StatusCreated {
		defer d.unmountRootfs(c)
	}
	return fn(d.rootfsDir(c.ID))
}

// ContainerStatPath describes a path in a container (HEAD archive).
func (d *Daemon) ContainerStatPath(ctx context.Context, ref, path string) (*ctypes.PathStat, error) {
	var st ctypes.PathStat
	err := d.withRoot(ctx, ref, func(root string) error {
		var err error
		st, err = archive.StatPath(root, path)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &st, nil
}

// ContainerArchive writes a tar of path in a container (GET archive);
// start is called with the path's stat before the first byte.
func (d *Daemon) ContainerArchive(ctx context.Context, ref, path string, start func(*ctypes.PathStat) io.Writer) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	return d.withRoot(ctx, ref, func(root string) error {
		st, err := archive.StatPath(root, path)
		if err != nil {
			return err
		}
		return shifted(start(&st), c.IDMap, func(w io.Writer) error { return archive.TarPath(w, root, path) })
	})
}

// ContainerExtract extracts a tar into the directory path of a container
// (PUT archive).
//
// Unless copyUIDGID (docker cp -a), what is extracted is the container
// root's, as docker makes it.
func (d *Daemon) ContainerExtract(ctx context.Context, ref, path string, r io.Reader, noOverwriteDirNonDir, copyUIDGID bool) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	if c.HostConfig.ReadonlyRootfs {
		return fmt.Errorf("container rootfs is marked read-only: %w", errdefs.ErrConflict)
	}
	return d.withRoot(ctx, ref, func(root string) error {
		if !copyUIDGID {
			r = rootOwned(r)
		}
		return archive.ExtractTo(root, path, unshifted(r, c.IDMap), noOverwriteDirNonDir)
	})
}

// ContainerExport writes a tar of a container's whole filesystem.
func (d *Daemon) ContainerExport(ctx context.Context, ref string, w io.Writer) error {
	c, err := d.containers.Get(ref)
	if err != nil {
		return err
	}
	c.Lock()
	defer c.Unlock()
	mounted := mount.IsMountPoint(d.rootfsDir(c.ID))
	if err := d.mountRootfs(ctx, c); err != nil {
		return err
	}
	if !mounted && !c.Running() && c.State.Status != container.StatusCreated {
		defer d.unmountRootfs(c)
	}
	if err := shifted(w, c.IDMap, func(w io.Writer) error { return archive.WriteTree(w, d.rootfsDir(c.ID)) }); err != nil {
		return err
	}
	d.containerEvent(c, eventtypes.ActionExport, nil)
	return nil
}

// writeDiff writes the layer tar of what c changed in its filesystem
// (with its own IDs, for a remapped container).
func (d *Daemon) writeDiff(ctx context.Context, c *container.Container, w io.Writer) error {
	return d.withLayers(ctx, c, func(upper string, lowers []string) error {
		return shifted(w, c.IDMap, func(w io.Writer) error {
			if d.driver == "overlay" {
				return archive.WriteOverlayDiff(w, upper, lowers)
			}
			base := ""
			if len(lowers) > 0 {
				base = lowers[0]
			}
			return archive.WriteDirDiff(w, base, upper)
		})
	})
}

// ContainerChanges lists what a container changed in its filesystem.
func (d *Daemon) ContainerChanges(ctx context.Context, ref string) ([]ctypes.FilesystemChange, error) {
	c, err := d.containers.Get(ref)
	if err != nil {
		return nil, err
	}
	var changes []archive.Change
	err = d.withLayers(ctx, c, func(upper string, lowers []string) error {
		var err error
		if d.driver == "overlay" {
			changes, err = archive.OverlayChanges(upper, lowers)
		} else {
			base := ""
			if len(lowers) > 0 {
				base = lowers[0]
			}
			changes, err = archive.DirChanges(base, upper)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	out := []ctypes.FilesystemChange{}
	for _, ch := range changes {
		out = append(out, ctypes.FilesystemChange{Path: ch.Path, Kind: ctypes.ChangeType(ch.Kind)})
	}
	return out, nil
}

// withLayers gives fn the container's own directory and the image's
// layer directories, top first (vfs: the parent snapshot's full copy).
func (d *Daemon) withLayers(ctx context.Context, c *container.Container, fn func(upper string, lowers []string) error) error {
	upper, err := d.snapshots.Dir(ctx, c.SnapshotKey)
	if err != nil {
		return err
	}
	img, err := d.images.Get(c.Image)
	if err != nil {
		return fmt.Errorf("the image of container %s: %w", c.ID, err)
	}
	var lowers []string
	if d.driver == "overlay" {
		lowers = d.containerLowers(ctx, c, img)
	} else if chain := image.ChainIDs(img.DiffIDs); len(chain) > 0 {
		dir, err := d.snapshots.Dir(ctx, chain[len(chain)-1].String())
		if err != nil {
			return err
		}
		lowers = []string{dir}
	}
	return fn(upper, lowers)
}

// ContainerCommit makes an image of a container: its image plus a layer
// of its changes, with its configuration (and the -c changes).
func (d *Daemon) ContainerCommit(ctx context.Context, ref string, o CommitOptions) (string, error) {
	c, err := d.containers.Get(ref)
	if err != nil {
		return "", err
	}
	var names []string
	if o.Repo != "" {
		target := o.Repo
		if o.Tag != "" {
			target += ":" + o.Tag
		}
		r, err := reference.Parse(target)
		if err != nil {
			return "", err
		}
		names = append(names, r.String())
	} else if o.Tag != "" {
		return "", fmt.Errorf("a tag needs a repository: %w", errdefs.ErrInvalidArgument)
	}
	img, err := d.images.Get(c.Image)
	if err != nil {
		return "", fmt.Errorf("the image of container %s: %w", c.ID, err)
	}
	imgCfg, err := d.imageConfig(img)
	if err != nil {
		return "", err
	}
	cfg := commitConfig(c.Config, &imgCfg.Config.ImageConfig, o.Config)
	if err := image.ApplyChanges(&cfg, o.Changes); err != nil {
		return "", err
	}
	if o.Pause {
		if err := d.ContainerPause(ctx, c.ID); err == nil {
			defer d.ContainerUnpause(context.WithoutCancel(ctx), c.ID)
		}
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(d.writeDiff(ctx, c, pw)) }()
	createdBy := strings.Join(append([]string{c.Path}, c.Args...), " ")
	// docker's own fields carry over from the image.
	full := imgCfg.Config
	full.ImageConfig = cfg
	p, err := registry.Commit(ctx, d.content, pr, registry.CommitOptions{Base: img.Manifest, Config: full, Author: o.Author, Comment: o.Comment, CreatedBy: createdBy})
	pr.CloseWithError(err)
	if err != nil {
		return "", err
	}
	ni := &image.Image{ID: p.Config, Manifest: p.Manifest, MediaType: p.MediaType, DiffIDs: p.DiffIDs, Created: p.Created}
	for _, l := range p.Layers {
		ni.Layers = append(ni.Layers, l.Digest)
		ni.Size += l.Size
	}
	if err := d.unpack(ctx, ni, nil); err != nil {
		return "", err
	}
	if err := d.images.Put(ni, names...); err != nil {
		return "", err
	}
	d.containerEvent(c, eventtypes.ActionCommit, map[string]string{"comment": o.Comment, "imageID": ni.ID.String(), "imageRef": strings.Join(names, ",")})
	return ni.ID.String(), nil
}

// commitConfig is the new image's runtime configuration: the
// container's, overridden by what the request's config sets.
func commitConfig(cc *ctypes.Config, base *ocispec.ImageConfig, over *ctypes.Config) ocispec.ImageConfig {
	out := *base
	src := cc
	if over != nil && (len(over.Cmd) > 0 || len(over.Entrypoint) > 0 || len(over.Env) > 0 || over.User != "" || over.WorkingDir != "" || len(over.Labels) > 0) {
		merged := *cc
		if len(over.Cmd) > 0 {
			merged.Cmd = over.Cmd
		}
		if len(over.Entrypoint) > 0 {
			merged.Entrypoint = over.Entrypoint
		}
		if len(over.Env) > 0 {
			merged.Env = over.Env
		}
		if over.User != "" {
			merged.User = over.User
		}
		if over.WorkingDir != "" {
			merged.WorkingDir = over.WorkingDir
		}
		if len(over.Labels) > 0 {
			merged.Labels = over.Labels
		}
		src = &merged
	}
	out.User, out.Env, out.Entrypoint, out.Cmd, out.WorkingDir = src.User, src.Env, src.Entrypoint, src.Cmd, src.WorkingDir
	out.StopSignal = src.StopSignal
	if len(src.Labels) > 0 {
		out.Labels = src.Labels
	}
	if len(src.ExposedPorts) > 0 {
		out.ExposedPorts = map[string]struct{}{}
		for p := range src.ExposedPorts {
			out.ExposedPorts[p.String()] = struct{}{}
		}
	}
	if len(src.Volumes) > 0 {
		out.Volumes = src.Volumes
	}
	return out
}

var _ = filepath.Join

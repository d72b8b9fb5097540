package daemon

import (
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/hako-dev/hako/internal/archive"
	"github.com/hako-dev/hako/internal/builder"
	"github.com/hako-dev/hako/internal/daemon/logger/jsonfile"
	"github.com/hako-dev/hako/internal/image"
	"github.com/hako-dev/hako/internal/registry"
	ctypes "github.com/moby/moby/api/types/container"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The daemon is the builder's backend (builder.Backend): RUN steps are
// ordinary containers, each step's image an ordinary commit.

// BuildImage resolves a FROM image.
func (d *Daemon) BuildImage(ctx context.Context, ref string) (string, ocispec.ImageConfig, error) {
	img, err := d.images.Get(ref)
	if err != nil {
		return "", ocispec.ImageConfig{}, err
	}
	cfg, err := d.imageConfig(img)
	if err != nil {
		return "", ocispec.ImageConfig{}, err
	}
	return img.ID.String(), cfg.Config.ImageConfig, nil
}

// ImageIsDir reports whether path is a directory in an image: the top
// layer that has the path (or a whiteout for it) decides.
func (d *Daemon) ImageIsDir(ctx context.Context, ref, p string) bool {
	img, err := d.images.Get(ref)
	if err != nil {
		return false
	}
	rel := filepath.FromSlash(strings.TrimPrefix(path.Clean("/"+p), "/"))
	if rel == "" {
		return true
	}
	for _, dir := range d.layerDirs(ctx, img) {
		fi, err := os.Lstat(filepath.Join(dir, rel))
		if err == nil {
			// overlay's whiteout: a 0:0 character device.
			if fi.Mode()&os.ModeCharDevice != 0 {
				return false
			}
			return fi.IsDir()
		}
		wh := filepath.Join(dir, filepath.Dir(rel), ".wh."+filepath.Base(rel))
		if _, err := os.Lstat(wh); err == nil {
			return false
		}
	}
	return false
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

// BuildCommit stores a build step's image: base plus the changes of
// container, or plus layer, or (neither) an empty-layer history entry.
func (d *Daemon) BuildCommit(ctx context.Context, base, container string, layer io.Reader, cfg ocispec.ImageConfig, createdBy string) (string, error) {
	o := registry.CommitOptions{Config: cfg, CreatedBy: createdBy}
	if base != "" {
		img, err := d.images.Get(base)
		if err != nil {
			return "", err
		}
		o.Base = img.Manifest
	}
	switch {
	case container != "":
		c, err := d.containers.Get(container)
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
	ni := &image.Image{ID: p.Config, Manifest: p.Manifest, MediaType: p.MediaType, DiffIDs: p.DiffIDs, Created: p.Created}
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

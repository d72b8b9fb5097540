package registry

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/hako-dev/hako/internal/archive"
	"github.com/hako-dev/hako/internal/content"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// SaveItem is one image to save: its stored manifest and the names to
// record for it (full references; none for an image saved by ID).
type SaveItem struct {
	Manifest digest.Digest
	Names    []string
}

// SaveDockerArchive writes images as a docker-archive tarball
// (manifest.json, configs, layers), the format of `docker save`.
func SaveDockerArchive(cs *content.Store, items []SaveItem, w io.Writer) error {
	refs := map[name.Reference]v1.Image{}
	for _, it := range items {
		img, err := LocalImage(cs, it.Manifest)
		if err != nil {
			return err
		}
		tagged := false
		for _, n := range it.Names {
			if t, err := name.NewTag(n); err == nil {
				refs[t] = img
				tagged = true
			}
		}
		if !tagged {
			d, err := img.Digest()
			if err != nil {
				return err
			}
			ref, err := name.NewDigest("hako.local/untagged@" + d.String())
			if err != nil {
				return err
			}
			refs[ref] = img
		}
	}
	return tarball.MultiRefWrite(refs, w)
}

// SaveOCILayout writes images as a tar of an OCI image layout (oci-layout,
// index.json, blobs/), each manifest annotated with its name as docker
// and containerd do.
func SaveOCILayout(cs *content.Store, items []SaveItem, w io.Writer) error {
	dir, err := os.MkdirTemp("", "hako-save-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	for _, it := range items {
		img, err := LocalImage(cs, it.Manifest)
		if err != nil {
			return err
		}
		names := it.Names
		if len(names) == 0 {
			names = []string{""}
		}
		for _, n := range names {
			var opts []layout.Option
			if n != "" {
				ann := map[string]string{"io.containerd.image.name": n}
				if t, err := name.NewTag(n); err == nil {
					ann["org.opencontainers.image.ref.name"] = t.TagStr()
				}
				opts = append(opts, layout.WithAnnotations(ann))
			}
			if err := p.AppendImage(img, opts...); err != nil {
				return err
			}
		}
	}
	return archive.WriteDir(w, dir, nil)
}

// Loaded is one image read from an archive, now in the content store.
type Loaded struct {
	Pulled
	// Names are the full references the archive gave the image.
	Names []string
}

// Load reads a docker-archive or OCI-layout tarball (as `docker save` and
// `skopeo copy` write them) and stores its images' blobs in cs. Layers
// kept uncompressed in the archive are stored gzip-compressed, so image
// IDs (config digests) are kept but manifests may be rewritten.
func Load(ctx context.Context, cs *content.Store, r io.Reader) ([]Loaded, error) {
	dir, err := os.MkdirTemp("", "hako-load-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	if err := untarFlat(r, dir); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err == nil {
		if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
			return loadOCI(ctx, cs, dir)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err != nil {
		return nil, fmt.Errorf("load: neither a docker archive (manifest.json) nor an OCI layout (index.json): %w", errdefs.ErrInvalidArgument)
	}
	return loadDocker(ctx, cs, dir)
}

// untarFlat extracts the archive's regular files (the formats hold
// nothing else that matters) into dir, refusing names that leave it.
func untarFlat(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("load: read archive: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		clean := filepath.Clean("/" + h.Name)[1:]
		if clean == "" || strings.HasPrefix(h.Name, "/") || strings.Contains("/"+h.Name+"/", "/../") {
			return fmt.Errorf("load: archive entry %q leaves the archive: %w", h.Name, errdefs.ErrInvalidArgument)
		}
		p := filepath.Join(dir, clean)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o700); err != nil {
				return err
			}
		case tar.TypeReg, tar.TypeRegA:
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			f.Close()
			if err != nil {
				return fmt.Errorf("load: %s: %w", h.Name, err)
			}
		case tar.TypeSymlink:
			// docker save links duplicate layers: refuse anything not a
			// plain relative link inside.
			if filepath.IsAbs(h.Linkname) || strings.Contains("/"+filepath.Join(filepath.Dir(clean), h.Linkname), "/../") {
				return fmt.Errorf("load: archive symlink %q -> %q leaves the archive: %w", h.Name, h.Linkname, errdefs.ErrInvalidArgument)
			}
			os.MkdirAll(filepath.Dir(p), 0o700)
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
		}
	}
}

// loadDocker stores the images of an extracted docker-archive. Layers are
// stored as they are in the archive (docker save writes them
// uncompressed), under an OCI manifest made here; the config, and so the
// image ID, is kept byte for byte.
func loadDocker(ctx context.Context, cs *content.Store, dir string) ([]Loaded, error) {
	mf, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var entries []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(mf, &entries); err != nil {
		return nil, fmt.Errorf("load: manifest.json: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	var out []Loaded
	for _, e := range entries {
		l, err := loadDockerImage(ctx, cs, dir, e.Config, e.Layers)
		if err != nil {
			return nil, err
		}
		l.Names = append(l.Names, e.RepoTags...)
		out = append(out, *l)
	}
	return out, nil
}

func loadDockerImage(ctx context.Context, cs *content.Store, dir, configPath string, layerPaths []string) (*Loaded, error) {
	inside := func(p string) (string, error) {
		full := filepath.Join(dir, filepath.Clean("/"+p))
		if !strings.HasPrefix(full, dir+"/") {
			return "", fmt.Errorf("load: manifest.json names %q outside the archive: %w", p, errdefs.ErrInvalidArgument)
		}
		return full, nil
	}
	cfgFile, err := inside(configPath)
	if err != nil {
		return nil, err
	}
	rawCfg, err := os.ReadFile(cfgFile)
	if err != nil {
		return nil, fmt.Errorf("load: config %s: %v: %w", configPath, err, errdefs.ErrInvalidArgument)
	}
	var cf v1.ConfigFile
	if err := json.Unmarshal(rawCfg, &cf); err != nil {
		return nil, fmt.Errorf("load: config %s: %v: %w", configPath, err, errdefs.ErrInvalidArgument)
	}
	if len(cf.RootFS.DiffIDs) != len(layerPaths) {
		return nil, fmt.Errorf("load: %s has %d layers but its config %d diff IDs: %w", configPath, len(layerPaths), len(cf.RootFS.DiffIDs), errdefs.ErrInvalidArgument)
	}
	l := &Loaded{}
	l.Config = digest.FromBytes(rawCfg)
	l.Created = cf.Created.Time
	if err := cs.WriteBlob(ctx, bytes.NewReader(rawCfg), l.Config, int64(len(rawCfg))); err != nil {
		return nil, err
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: l.Config, Size: int64(len(rawCfg))}}
	m.SchemaVersion = 2
	for i, lp := range layerPaths {
		file, err := inside(lp)
		if err != nil {
			return nil, err
		}
		d, size, mt, err := describeLayerFile(file)
		if err != nil {
			return nil, fmt.Errorf("load: layer %s: %w", lp, err)
		}
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		err = cs.WriteBlob(ctx, f, d, size)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("load: layer %s: %w", lp, err)
		}
		m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: mt, Digest: d, Size: size})
		l.Layers = append(l.Layers, Layer{Digest: d, Size: size, MediaType: mt})
		l.DiffIDs = append(l.DiffIDs, digest.Digest(cf.RootFS.DiffIDs[i].String()))
	}
	rawM, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	l.Manifest, l.MediaType = digest.FromBytes(rawM), ocispec.MediaTypeImageManifest
	if err := cs.WriteBlob(ctx, bytes.NewReader(rawM), l.Manifest, int64(len(rawM))); err != nil {
		return nil, err
	}
	return l, nil
}

// describeLayerFile hashes a layer file and names its media type by its
// compression.
func describeLayerFile(p string) (digest.Digest, int64, string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, "", err
	}
	defer f.Close()
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	mt := ocispec.MediaTypeImageLayer
	switch {
	case n >= 2 && head[0] == 0x1f && head[1] == 0x8b:
		mt = ocispec.MediaTypeImageLayerGzip
	case n == 4 && bytes.Equal(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		mt = ocispec.MediaTypeImageLayerZstd
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", 0, "", err
	}
	h := digest.Canonical.Digester()
	size, err := io.Copy(h.Hash(), f)
	if err != nil {
		return "", 0, "", err
	}
	return h.Digest(), size, mt, nil
}

func loadOCI(ctx context.Context, cs *content.Store, dir string) ([]Loaded, error) {
	p, err := layout.FromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("load: OCI layout: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("load: OCI layout: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []Loaded
	for _, desc := range im.Manifests {
		var img v1.Image
		switch {
		case desc.MediaType.IsImage():
			img, err = idx.Image(desc.Digest)
		case desc.MediaType.IsIndex():
			child, err2 := idx.ImageIndex(desc.Digest)
			if err2 != nil {
				return nil, err2
			}
			img, err = pickPlatform(child, HostPlatform())
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("load: %s: %w", desc.Digest, err)
		}
		l, err := storeImage(ctx, cs, img)
		if err != nil {
			return nil, err
		}
		n := desc.Annotations["io.containerd.image.name"]
		if n == "" {
			n = desc.Annotations["org.opencontainers.image.ref.name"]
		}
		if n != "" {
			if ref, err := name.ParseReference(n); err == nil {
				l.Names = append(l.Names, ref.Name())
			}
		}
		out = append(out, *l)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("load: the OCI layout holds no image: %w", errdefs.ErrInvalidArgument)
	}
	return out, nil
}

func pickPlatform(idx v1.ImageIndex, p v1.Platform) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	for _, d := range im.Manifests {
		if d.Platform != nil && d.Platform.Satisfies(p) {
			return idx.Image(d.Digest)
		}
	}
	return nil, fmt.Errorf("no image for platform %s: %w", p.String(), errdefs.ErrNotFound)
}

// storeImage copies img's config, layers (compressed) and manifest into cs.
func storeImage(ctx context.Context, cs *content.Store, img v1.Image) (*Loaded, error) {
	l := &Loaded{}
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	l.Config = digest.Digest(cfgName.String())
	if err := cs.WriteBlob(ctx, bytes.NewReader(rawCfg), l.Config, int64(len(rawCfg))); err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	l.Created = cf.Created.Time
	for _, d := range cf.RootFS.DiffIDs {
		l.DiffIDs = append(l.DiffIDs, digest.Digest(d.String()))
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	for _, layer := range layers {
		d, err := layer.Digest()
		if err != nil {
			return nil, err
		}
		size, err := layer.Size()
		if err != nil {
			return nil, err
		}
		mt, _ := layer.MediaType()
		dg := digest.Digest(d.String())
		l.Layers = append(l.Layers, Layer{Digest: dg, Size: size, MediaType: string(mt)})
		if cs.Exists(dg) {
			continue
		}
		rc, err := layer.Compressed()
		if err != nil {
			return nil, err
		}
		err = cs.WriteBlob(ctx, rc, dg, size)
		rc.Close()
		if err != nil && !errors.Is(err, errdefs.ErrAlreadyExists) {
			return nil, fmt.Errorf("layer %s: %w", dg, err)
		}
	}
	raw, err := img.RawManifest()
	if err != nil {
		return nil, err
	}
	md, err := img.Digest()
	if err != nil {
		return nil, err
	}
	mt, _ := img.MediaType()
	l.Manifest, l.MediaType = digest.Digest(md.String()), string(mt)
	if err := cs.WriteBlob(ctx, bytes.NewReader(raw), l.Manifest, int64(len(raw))); err != nil {
		return nil, err
	}
	return l, nil
}

package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hako-dev/hako/internal/content"
	"github.com/klauspost/compress/gzip"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// CommitOptions describe the image Commit makes.
type CommitOptions struct {
	// Base is the manifest of the image the container runs ("" for
	// none); the new image is Base plus one layer.
	Base digest.Digest
	// Config replaces the base image's runtime configuration, docker's
	// fields (Healthcheck, OnBuild, Shell) included.
	Config dockerspec.DockerOCIImageConfig
	// Author and Comment go into the image and its history entry;
	// CreatedBy is the history's command.
	Author, Comment, CreatedBy string
	// EmptyLayer records a history entry without a layer (nothing
	// changed).
	EmptyLayer bool
	// History, when set, is the new history entry as it is (its time is
	// the image's), instead of one made now from the fields above.
	History *ocispec.History
	// Reuse, when set, is a layer blob already in the store to add
	// (with its DiffID) instead of storing the layer stream.
	Reuse *ReusedLayer
}

// ReusedLayer is a stored layer blob and its uncompressed digest.
type ReusedLayer struct {
	Desc   ocispec.Descriptor
	DiffID digest.Digest
}

// Commit stores layer (an uncompressed layer tar, consumed) gzip
// compressed and writes an image config and manifest that add it to the
// base image, as `docker commit` does.
func Commit(ctx context.Context, cs *content.Store, layer io.Reader, o CommitOptions) (*Pulled, error) {
	var base ocispec.Manifest
	var cfg dockerspec.DockerOCIImage
	if o.Base != "" {
		b, err := cs.ReadAll(o.Base)
		if err != nil {
			return nil, fmt.Errorf("base manifest: %w", err)
		}
		if err := json.Unmarshal(b, &base); err != nil {
			return nil, fmt.Errorf("base manifest: %w", err)
		}
		cb, err := cs.ReadAll(base.Config.Digest)
		if err != nil {
			return nil, fmt.Errorf("base config: %w", err)
		}
		// Unknown fields of the base config are dropped, as docker
		// does; the known ones carry over.
		if err := json.Unmarshal(cb, &cfg); err != nil {
			return nil, fmt.Errorf("base config: %w", err)
		}
	} else {
		p := HostPlatform()
		cfg.Platform = ocispec.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant}
		cfg.RootFS.Type = "layers"
	}
	now := time.Now().UTC()
	cfg.Created = &now
	cfg.Author = o.Author
	cfg.Config = o.Config
	layers := append([]ocispec.Descriptor(nil), base.Layers...)
	h := ocispec.History{Created: &now, Author: o.Author, Comment: o.Comment, CreatedBy: o.CreatedBy, EmptyLayer: o.EmptyLayer}
	if o.History != nil {
		h = *o.History
		if h.Created != nil {
			cfg.Created = h.Created
			now = *h.Created
		}
	}
	var newLayers []Layer
	switch {
	case o.Reuse != nil:
		if !cs.Exists(o.Reuse.Desc.Digest) {
			return nil, fmt.Errorf("layer %s is not in the store", o.Reuse.Desc.Digest)
		}
		layers = append(layers, o.Reuse.Desc)
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, o.Reuse.DiffID)
	case h.EmptyLayer:
		if layer != nil {
			io.Copy(io.Discard, layer)
		}
	default:
		l, diffID, err := storeLayer(ctx, cs, layer)
		if err != nil {
			return nil, err
		}
		layers = append(layers, ocispec.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size})
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, diffID)
		newLayers = append(newLayers, l)
	}
	cfg.History = append(cfg.History, h)
	rawCfg, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cfgDigest := digest.FromBytes(rawCfg)
	if err := cs.WriteBlob(ctx, bytes.NewReader(rawCfg), cfgDigest, int64(len(rawCfg))); err != nil {
		return nil, err
	}
	m := ocispec.Manifest{
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: cfgDigest, Size: int64(len(rawCfg))},
		Layers:    layers,
	}
	m.SchemaVersion = 2
	rawM, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	md := digest.FromBytes(rawM)
	if err := cs.WriteBlob(ctx, bytes.NewReader(rawM), md, int64(len(rawM))); err != nil {
		return nil, err
	}
	p := &Pulled{Manifest: md, MediaType: ocispec.MediaTypeImageManifest, Config: cfgDigest, DiffIDs: cfg.RootFS.DiffIDs, Created: now}
	for _, l := range layers {
		p.Layers = append(p.Layers, Layer{Digest: l.Digest, Size: l.Size, MediaType: l.MediaType})
	}
	_ = newLayers
	return p, nil
}

// storeLayer compresses an uncompressed layer tar into the content store
// and returns its descriptor and diff ID.
func storeLayer(ctx context.Context, cs *content.Store, r io.Reader) (Layer, digest.Digest, error) {
	tmp, err := os.CreateTemp("", "hako-layer-")
	if err != nil {
		return Layer{}, "", err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	compressed := sha256.New()
	zw, _ := gzip.NewWriterLevel(io.MultiWriter(tmp, compressed), gzip.BestSpeed)
	uncompressed := sha256.New()
	if _, err := io.Copy(io.MultiWriter(zw, uncompressed), r); err != nil {
		return Layer{}, "", fmt.Errorf("layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return Layer{}, "", err
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return Layer{}, "", err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return Layer{}, "", err
	}
	d := sum(compressed)
	if err := cs.WriteBlob(ctx, tmp, d, size); err != nil {
		return Layer{}, "", err
	}
	return Layer{Digest: d, Size: size, MediaType: ocispec.MediaTypeImageLayerGzip}, sum(uncompressed), nil
}

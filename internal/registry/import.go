package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"time"

	"github.com/hako-dev/hako/internal/archive"
	"github.com/hako-dev/hako/internal/content"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Import makes a one-layer image from a root filesystem tarball
// (compressed or not), as `docker import` does: the layer is stored
// gzip-compressed, the config gets the host platform, cfg (the changes
// given with -c, may be nil) and a history entry with comment.
func Import(ctx context.Context, cs *content.Store, r io.Reader, cfg *ocispec.ImageConfig, comment string) (*Pulled, error) {
	tr, _, err := archive.Decompress(r)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer tr.Close()
	// Compress to a temp file while hashing both forms: the layer digest
	// is only known at the end.
	tmp, err := os.CreateTemp("", "hako-import-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	compressed := sha256.New()
	zw := gzip.NewWriter(io.MultiWriter(tmp, compressed))
	uncompressed := sha256.New()
	n, err := io.Copy(io.MultiWriter(zw, uncompressed), &tarCheck{r: tr})
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	if n == 0 {
		return nil, fmt.Errorf("import: the archive is empty: %w", errdefs.ErrInvalidArgument)
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	layerDigest := sum(compressed)
	diffID := sum(uncompressed)
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if err := cs.WriteBlob(ctx, tmp, layerDigest, size); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	p := HostPlatform()
	img := ocispec.Image{
		Created:  &now,
		Platform: ocispec.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
		History:  []ocispec.History{{Created: &now, CreatedBy: "hako import", Comment: comment}},
	}
	if cfg != nil {
		img.Config = *cfg
	}
	rawCfg, err := json.Marshal(img)
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
		Layers:    []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: layerDigest, Size: size}},
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
	return &Pulled{
		Manifest: md, MediaType: ocispec.MediaTypeImageManifest, Config: cfgDigest,
		Layers:  []Layer{{Digest: layerDigest, Size: size, MediaType: ocispec.MediaTypeImageLayerGzip}},
		DiffIDs: []digest.Digest{diffID}, Created: now,
	}, nil
}

func sum(h hash.Hash) digest.Digest { return digest.NewDigest(digest.SHA256, h) }

// tarCheck refuses a stream that does not start like a tar archive.
type tarCheck struct {
	r       io.Reader
	checked bool
}

func (t *tarCheck) Read(p []byte) (int, error) {
	if t.checked {
		return t.r.Read(p)
	}
	head := make([]byte, 512)
	n, err := io.ReadFull(t.r, head)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return 0, err
	}
	head = head[:n]
	if n < 512 || string(head[257:262]) != "ustar" && !bytes.Equal(head, make([]byte, 512)) {
		return 0, fmt.Errorf("not a tar archive: %w", errdefs.ErrInvalidArgument)
	}
	t.checked = true
	t.r = io.MultiReader(bytes.NewReader(head), t.r)
	return t.r.Read(p)
}

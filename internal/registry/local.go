package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/hako-dev/hako/internal/content"
	"github.com/opencontainers/go-digest"
)

// LocalImage is a stored image as a go-containerregistry v1.Image, for
// push, save and export: its manifest, config and layers are read from
// the content store as they are (compressed layers stay compressed).
func LocalImage(cs *content.Store, manifest digest.Digest) (v1.Image, error) {
	raw, err := cs.ReadAll(manifest)
	if err != nil {
		return nil, err
	}
	var m struct {
		MediaType string `json:"mediaType"`
		Config    struct {
			Digest digest.Digest `json:"digest"`
		} `json:"config"`
		Layers []struct {
			MediaType string        `json:"mediaType"`
			Digest    digest.Digest `json:"digest"`
			Size      int64         `json:"size"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", manifest, err)
	}
	li := &localImage{cs: cs, raw: raw, mediaType: types.MediaType(m.MediaType), config: m.Config.Digest, layers: map[digest.Digest]*localLayer{}}
	if li.mediaType == "" {
		li.mediaType = types.OCIManifestSchema1
	}
	for _, l := range m.Layers {
		li.layers[l.Digest] = &localLayer{cs: cs, d: l.Digest, size: l.Size, mt: types.MediaType(l.MediaType)}
	}
	return partial.CompressedToImage(li)
}

type localImage struct {
	cs        *content.Store
	raw       []byte
	mediaType types.MediaType
	config    digest.Digest
	layers    map[digest.Digest]*localLayer
}

func (i *localImage) RawConfigFile() ([]byte, error)      { return i.cs.ReadAll(i.config) }
func (i *localImage) MediaType() (types.MediaType, error) { return i.mediaType, nil }
func (i *localImage) RawManifest() ([]byte, error)        { return i.raw, nil }

func (i *localImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	d := digest.Digest(h.String())
	if d == i.config {
		b, err := i.cs.ReadAll(d)
		if err != nil {
			return nil, err
		}
		return &bytesLayer{b: b, h: h}, nil
	}
	l, ok := i.layers[d]
	if !ok {
		return nil, fmt.Errorf("layer %s is not in the manifest", h)
	}
	return l, nil
}

type localLayer struct {
	cs   *content.Store
	d    digest.Digest
	size int64
	mt   types.MediaType
}

func (l *localLayer) Digest() (v1.Hash, error)            { return v1.NewHash(l.d.String()) }
func (l *localLayer) Compressed() (io.ReadCloser, error)  { return l.cs.Open(l.d) }
func (l *localLayer) Size() (int64, error)                { return l.size, nil }
func (l *localLayer) MediaType() (types.MediaType, error) { return l.mt, nil }

// bytesLayer serves the config blob where go-containerregistry asks for
// it as a layer (pushing it).
type bytesLayer struct {
	b []byte
	h v1.Hash
}

func (l *bytesLayer) Digest() (v1.Hash, error) { return l.h, nil }
func (l *bytesLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.b)), nil
}
func (l *bytesLayer) Size() (int64, error) { return int64(len(l.b)), nil }
func (l *bytesLayer) MediaType() (types.MediaType, error) {
	return types.OCIConfigJSON, nil
}

package image

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"strings"

	"github.com/hako-dev/hako/internal/archive"
	"github.com/hako-dev/hako/internal/content"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/snapshot"
	"github.com/opencontainers/go-digest"
)

// ChainIDs returns the chain ID of each layer (image-spec config.md):
// the first layer's is its diff ID, each next one is
// sha256(parent chain ID + " " + diff ID). Snapshots of layers are keyed
// by them, so a layer stack shared by two images is unpacked once.
func ChainIDs(diffIDs []digest.Digest) []digest.Digest {
	out := make([]digest.Digest, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		out[i] = digest.FromString(out[i-1].String() + " " + d.String())
	}
	return out
}

// Unpack makes sure each layer of img is a committed snapshot keyed by its
// chain ID, applying the layer blobs not yet unpacked. Each layer's
// uncompressed content must hash to its diff ID, or the layer is refused.
// overlay says the snapshotter stacks layers (whiteouts become overlay
// whiteouts) rather than copying them.
func Unpack(ctx context.Context, cs *content.Store, sn snapshot.Snapshotter, img *Image, overlay bool) error {
	if len(img.Layers) != len(img.DiffIDs) {
		return fmt.Errorf("image %s: %d layers but %d diff IDs in its config: %w", img.ID, len(img.Layers), len(img.DiffIDs), errdefs.ErrInvalidArgument)
	}
	chain := ChainIDs(img.DiffIDs)
	parent := ""
	for i, layer := range img.Layers {
		key := chain[i].String()
		if _, err := sn.Stat(ctx, key); err == nil {
			parent = key
			continue
		}
		if err := unpackLayer(ctx, cs, sn, layer, img.DiffIDs[i], key, parent, overlay); err != nil {
			return err
		}
		parent = key
	}
	return nil
}

func unpackLayer(ctx context.Context, cs *content.Store, sn snapshot.Snapshotter, layer, diffID digest.Digest, key, parent string, overlay bool) (retErr error) {
	tmp := "extract-" + key
	// A leftover of a crashed unpack is discarded.
	sn.Remove(ctx, tmp)
	if _, err := sn.Prepare(ctx, tmp, parent); err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			sn.Remove(ctx, tmp)
		}
	}()
	dir, err := sn.Dir(ctx, tmp)
	if err != nil {
		return err
	}
	blob, err := cs.Open(layer)
	if err != nil {
		return err
	}
	defer blob.Close()
	tr, _, err := archive.Decompress(blob)
	if err != nil {
		return fmt.Errorf("layer %s: %w", layer, err)
	}
	defer tr.Close()
	h := sha256.New()
	mode := archive.WhiteoutDirect
	if overlay {
		mode = archive.WhiteoutOverlay
	}
	// The tee sees what Apply reads, and then the rest of the stream.
	tee := io.TeeReader(tr, h)
	if _, err := archive.Apply(ctx, dir, tee, archive.ApplyOptions{Whiteouts: mode}); err != nil {
		return fmt.Errorf("layer %s: %w", layer, err)
	}
	io.Copy(h, tr)
	if got := digest.NewDigest(digest.SHA256, h); got != diffID {
		return fmt.Errorf("layer %s: uncompressed content is %s, the config says %s: %w", layer, got, diffID, errdefs.ErrInvalidArgument)
	}
	return sn.Commit(ctx, key, tmp)
}

// LayerDirs returns the directories of an image's unpacked layers, top
// first, for inspection (docker's GraphDriver data).
func LayerDirs(ctx context.Context, sn snapshot.Snapshotter, img *Image) []string {
	var dirs []string
	chain := ChainIDs(img.DiffIDs)
	for i := len(chain) - 1; i >= 0; i-- {
		if d, err := sn.Dir(ctx, chain[i].String()); err == nil {
			dirs = append(dirs, d)
		}
	}
	return dirs
}

// GCSnapshots removes committed layer snapshots no image uses, children
// first. inUse holds the chain IDs of the remaining images.
func GCSnapshots(ctx context.Context, sn snapshot.Snapshotter, inUse map[string]bool) error {
	for {
		var infos []snapshot.Info
		if err := sn.Walk(ctx, func(i snapshot.Info) error { infos = append(infos, i); return nil }); err != nil {
			return err
		}
		parents := map[string]bool{}
		for _, i := range infos {
			parents[i.Parent] = true
		}
		removed := 0
		for _, i := range infos {
			if i.Kind != snapshot.Committed || inUse[i.Key] || parents[i.Key] || !strings.HasPrefix(i.Key, "sha256:") {
				continue
			}
			if err := sn.Remove(ctx, i.Key); err != nil && !errdefs.IsNotFound(err) {
				return err
			}
			removed++
		}
		if removed == 0 {
			return nil
		}
	}
}

package registry

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/hako-dev/hako/internal/content"
	"github.com/hako-dev/hako/internal/reference"
	"github.com/opencontainers/go-digest"
)

// Push uploads the stored image whose manifest is manifest to ref (a
// tag), skipping blobs the registry has, and returns the pushed manifest
// digest (unchanged: the manifest is pushed byte for byte).
func Push(ctx context.Context, cs *content.Store, manifest digest.Digest, ref reference.Ref, o Options) (digest.Digest, error) {
	// Only the first host that may push is used, as containerd does: a
	// push half-done on one host is not retried on another.
	first := true
	return viaEndpoints(ctx, ref, o, func(ep Endpoint) bool {
		ok := ep.Push && first
		first = first && !ep.Push
		return ok
	}, func(o Options) (digest.Digest, error) { return push(ctx, cs, manifest, ref, o) })
}

func push(ctx context.Context, cs *content.Store, manifest digest.Digest, ref reference.Ref, o Options) (digest.Digest, error) {
	img, err := LocalImage(cs, manifest)
	if err != nil {
		return "", err
	}
	nr, err := o.nameRef(ref)
	if err != nil {
		return "", err
	}
	progress := serialize(o.Progress)
	progress(Progress{Status: "The push refers to repository [" + ref.Name() + "]"})
	updates := make(chan v1.Update, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for u := range updates {
			progress(Progress{Status: "Pushing", Current: u.Complete, Total: u.Total})
		}
	}()
	opts := append(o.remote(ctx), remote.WithProgress(updates), remote.WithJobs(max(o.Jobs, 3)))
	err = remote.Write(nr, img, opts...)
	<-done
	if err != nil {
		return "", fmt.Errorf("push %s: %w", ref.Familiar(), remoteErr(ref, err))
	}
	layers, _ := img.Layers()
	for _, l := range layers {
		if d, err := l.Digest(); err == nil {
			progress(Progress{ID: d.Hex[:12], Status: "Pushed"})
		}
	}
	size, _ := img.Size()
	progress(Progress{Status: fmt.Sprintf("%s: digest: %s size: %d", tagOrDigest(ref), manifest, size)})
	return manifest, nil
}

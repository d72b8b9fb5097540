// Package registry moves images between OCI-distribution registries and
// the content store, through google/go-containerregistry: the manifest
// (picked from an index by platform), the config and the layers, each
// verified against its digest, layers fetched in parallel and skipped when
// already stored.
package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	goruntime "runtime"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/hako-dev/hako/internal/content"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/reference"
	"github.com/opencontainers/go-digest"
)

// Progress is one step of a pull or push, for docker's JSON progress
// stream: ID is a short layer digest ("" for image-wide messages).
type Progress struct {
	ID      string
	Status  string
	Current int64
	Total   int64
}

// Options tune a pull or push.
type Options struct {
	// Platform picks the manifest from an index; zero means the host's.
	Platform v1.Platform
	// Auth authenticates to the registry; nil means anonymous.
	Auth authn.Authenticator
	// Insecure allows plain HTTP (loopback and private addresses use it
	// anyway, as go-containerregistry decides).
	Insecure bool
	// Progress, when set, receives progress (from several goroutines,
	// serialized).
	Progress func(Progress)
	// Jobs is how many layers move at once (default 3, as docker).
	Jobs int
	// Endpoints, when set, are where the registry is reached instead of
	// its own address (mirrors from HostsDir, tried in order).
	Endpoints []Endpoint

	transport http.RoundTripper
}

// Pulled describes a pulled image.
type Pulled struct {
	Manifest  digest.Digest
	MediaType string
	// Index is the digest of the index the manifest was picked from, if
	// the reference named one.
	Index   digest.Digest
	Config  digest.Digest
	Layers  []Layer
	DiffIDs []digest.Digest
	Created time.Time
}

// Layer is one layer blob.
type Layer struct {
	Digest    digest.Digest
	Size      int64
	MediaType string
}

// HostPlatform is the platform of this machine.
func HostPlatform() v1.Platform {
	p := v1.Platform{OS: "linux", Architecture: goruntime.GOARCH}
	if p.Architecture == "arm64" {
		p.Variant = "v8"
	}
	return p
}

// ParsePlatform reads "os/arch[/variant]".
func ParsePlatform(s string) (v1.Platform, error) {
	if s == "" {
		return HostPlatform(), nil
	}
	p, err := v1.ParsePlatform(s)
	if err != nil || p.OS == "" || p.Architecture == "" {
		return v1.Platform{}, fmt.Errorf("invalid platform %q (want os/arch[/variant]): %w", s, errdefs.ErrInvalidArgument)
	}
	return *p, nil
}

func (o *Options) remote(ctx context.Context) []remote.Option {
	auth := o.Auth
	if auth == nil {
		auth = authn.Anonymous
	}
	p := o.Platform
	if p.OS == "" {
		p = HostPlatform()
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(auth), remote.WithPlatform(p)}
	if o.transport != nil {
		opts = append(opts, remote.WithTransport(o.transport))
	}
	return opts
}

// viaEndpoints runs op once per endpoint that can serve it (want picks
// them), through a transport that sends the registry's requests there,
// until one succeeds; without endpoints, op runs once as usual. The
// error is the last endpoint's (the registry's own when it is listed).
func viaEndpoints[T any](ctx context.Context, ref reference.Ref, o Options, want func(Endpoint) bool, op func(Options) (T, error)) (T, error) {
	var zero T
	if len(o.Endpoints) == 0 {
		return op(o)
	}
	nr, err := o.nameRef(ref)
	if err != nil {
		return zero, err
	}
	upstream := nr.Context().RegistryStr()
	var last error
	for _, ep := range o.Endpoints {
		if !want(ep) {
			continue
		}
		oo := o
		oo.transport = newEndpointTransport(upstream, ep)
		v, err := op(oo)
		if err == nil || ctx.Err() != nil {
			return v, err
		}
		last = err
	}
	if last == nil {
		return zero, fmt.Errorf("%s: no configured registry host may be used for this (check the capabilities in hosts.toml): %w", ref.Familiar(), errdefs.ErrInvalidArgument)
	}
	return zero, last
}

func (o *Options) nameRef(ref reference.Ref) (name.Reference, error) {
	var opts []name.Option
	if o.Insecure {
		opts = append(opts, name.Insecure)
	}
	s := ref.String()
	if ref.Digest() != "" && ref.Tag() != "" {
		// name.ParseReference takes a tag or a digest, not both: the
		// digest is what counts.
		s = ref.Name() + "@" + ref.Digest().String()
	}
	r, err := name.ParseReference(s, opts...)
	if err != nil {
		return nil, fmt.Errorf("reference %s: %v: %w", ref, err, errdefs.ErrInvalidArgument)
	}
	return r, nil
}

// Pull fetches ref into cs.
func Pull(ctx context.Context, cs *content.Store, ref reference.Ref, o Options) (*Pulled, error) {
	progress := serialize(o.Progress)
	progress(Progress{Status: "Pulling from " + ref.FamiliarName(), ID: tagOrDigest(ref)})
	o.Progress = progress
	byDigest := ref.Digest() != ""
	return viaEndpoints(ctx, ref, o, func(ep Endpoint) bool { return ep.Pull && (ep.Resolve || byDigest) },
		func(o Options) (*Pulled, error) { return pull(ctx, cs, ref, o) })
}

func pull(ctx context.Context, cs *content.Store, ref reference.Ref, o Options) (*Pulled, error) {
	nr, err := o.nameRef(ref)
	if err != nil {
		return nil, err
	}
	progress := o.Progress
	desc, err := remote.Get(nr, o.remote(ctx)...)
	if err != nil {
		return nil, remoteErr(ref, err)
	}
	res := &Pulled{}
	if desc.MediaType.IsIndex() {
		res.Index = digest.Digest(desc.Digest.String())
		if err := cs.WriteBlob(ctx, strings.NewReader(string(desc.Manifest)), res.Index, desc.Size); err != nil {
			return nil, err
		}
	}
	img, err := desc.Image()
	if err != nil {
		p := o.Platform
		if p.OS == "" {
			p = HostPlatform()
		}
		return nil, fmt.Errorf("%s: no image for platform %s: %v: %w", ref.Familiar(), p.String(), err, errdefs.ErrNotFound)
	}
	raw, err := img.RawManifest()
	if err != nil {
		return nil, remoteErr(ref, err)
	}
	md, err := img.Digest()
	if err != nil {
		return nil, err
	}
	mt, _ := img.MediaType()
	res.Manifest, res.MediaType = digest.Digest(md.String()), string(mt)
	if err := cs.WriteBlob(ctx, strings.NewReader(string(raw)), res.Manifest, int64(len(raw))); err != nil {
		return nil, err
	}
	cfgName, err := img.ConfigName()
	if err != nil {
		return nil, remoteErr(ref, err)
	}
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return nil, remoteErr(ref, err)
	}
	res.Config = digest.Digest(cfgName.String())
	if err := cs.WriteBlob(ctx, strings.NewReader(string(rawCfg)), res.Config, int64(len(rawCfg))); err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, remoteErr(ref, err)
	}
	res.Created = cf.Created.Time
	for _, d := range cf.RootFS.DiffIDs {
		res.DiffIDs = append(res.DiffIDs, digest.Digest(d.String()))
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, remoteErr(ref, err)
	}
	res.Layers = make([]Layer, len(layers))
	for i, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return nil, err
		}
		size, _ := l.Size()
		lmt, _ := l.MediaType()
		res.Layers[i] = Layer{Digest: digest.Digest(d.String()), Size: size, MediaType: string(lmt)}
	}
	if err := fetchLayers(ctx, cs, layers, res.Layers, o.Jobs, progress); err != nil {
		return nil, err
	}
	progress(Progress{Status: "Digest: " + res.Manifest.String()})
	return res, nil
}

// fetchLayers downloads the layers not yet stored, jobs at a time.
func fetchLayers(ctx context.Context, cs *content.Store, layers []v1.Layer, descs []Layer, jobs int, progress func(Progress)) error {
	if jobs <= 0 {
		jobs = 3
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, jobs)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for i, l := range layers {
		d := descs[i]
		id := short(d.Digest)
		if cs.Exists(d.Digest) {
			progress(Progress{ID: id, Status: "Already exists"})
			continue
		}
		progress(Progress{ID: id, Status: "Pulling fs layer"})
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			if err := fetchLayer(ctx, cs, l, d, progress); err != nil {
				mu.Lock()
				if first == nil {
					first = err
					cancel()
				}
				mu.Unlock()
				return
			}
			progress(Progress{ID: id, Status: "Pull complete"})
		}()
	}
	wg.Wait()
	return first
}

func fetchLayer(ctx context.Context, cs *content.Store, l v1.Layer, d Layer, progress func(Progress)) error {
	id := short(d.Digest)
	w, err := cs.Writer(ctx, d.Digest.String(), d.Digest, d.Size)
	if errdefs.IsAlreadyExists(err) {
		progress(Progress{ID: id, Status: "Already exists"})
		return nil
	}
	if err != nil {
		return err
	}
	defer w.Close()
	// A resumed ingest is restarted: a registry need not serve ranges.
	if w.Offset() > 0 {
		if err := w.Truncate(0); err != nil {
			return err
		}
	}
	rc, err := l.Compressed()
	if err != nil {
		return fmt.Errorf("layer %s: %w", d.Digest, err)
	}
	defer rc.Close()
	pw := &progressWriter{w: w, id: id, total: d.Size, progress: progress}
	if _, err := io.Copy(pw, rc); err != nil {
		return fmt.Errorf("layer %s: download: %w", d.Digest, err)
	}
	progress(Progress{ID: id, Status: "Download complete"})
	if err := w.Commit(ctx, d.Size, d.Digest); err != nil {
		return fmt.Errorf("layer %s: %w", d.Digest, err)
	}
	return nil
}

type progressWriter struct {
	w        io.Writer
	id       string
	n, total int64
	last     time.Time
	progress func(Progress)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.n += int64(n)
	if now := time.Now(); now.Sub(p.last) > 100*time.Millisecond || p.n == p.total {
		p.last = now
		p.progress(Progress{ID: p.id, Status: "Downloading", Current: p.n, Total: p.total})
	}
	return n, err
}

// serialize makes f safe to call from several goroutines (nil: no-op).
func serialize(f func(Progress)) func(Progress) {
	if f == nil {
		return func(Progress) {}
	}
	var mu sync.Mutex
	return func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		f(p)
	}
}

func short(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return e
}

func tagOrDigest(r reference.Ref) string {
	if r.Tag() != "" {
		return r.Tag()
	}
	return r.Digest().String()
}

// remoteErr maps registry errors to categories: an unknown name or
// manifest is NotFound, a refused login PermissionDenied.
func remoteErr(ref reference.Ref, err error) error {
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case 404:
			return fmt.Errorf("manifest for %s not found: manifest unknown: %w", ref.Familiar(), errdefs.ErrNotFound)
		case 401, 403:
			return fmt.Errorf("pull access denied for %s, repository does not exist or may require 'hako login': %w", ref.FamiliarName(), errdefs.ErrPermissionDenied)
		}
		for _, d := range te.Errors {
			if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
				return fmt.Errorf("manifest for %s not found: manifest unknown: %w", ref.Familiar(), errdefs.ErrNotFound)
			}
		}
	}
	return fmt.Errorf("%s: %w", ref.Familiar(), err)
}

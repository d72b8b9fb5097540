package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/hako-dev/hako/internal/daemon/container"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/image"
	"github.com/hako-dev/hako/internal/reference"
	"github.com/hako-dev/hako/internal/registry"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	eventtypes "github.com/moby/moby/api/types/events"
	imagetypes "github.com/moby/moby/api/types/image"
	regtypes "github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/api/types/storage"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// PullImage fetches ref from its registry for platform ("" = the host's)
// and records it under ref's name (and its repo@digest name).
func (d *Daemon) PullImage(ctx context.Context, refStr, platform string, auth authn.Authenticator, progress func(registry.Progress)) (*image.Image, error) {
	ref, err := reference.Parse(refStr)
	if err != nil {
		return nil, err
	}
	plat, err := registry.ParsePlatform(platform)
	if err != nil {
		return nil, err
	}
	eps, err := registry.HostsDir(d.cfg.RegistryHostsDir).Endpoints(ref.Domain())
	if err != nil {
		return nil, err
	}
	p, err := registry.Pull(ctx, d.content, ref, registry.Options{Platform: plat, Auth: auth, Progress: progress, Insecure: d.insecure(ref.Domain()), Endpoints: eps})
	if err != nil {
		return nil, err
	}
	img := &image.Image{ID: p.Config, Manifest: p.Manifest, MediaType: p.MediaType, DiffIDs: p.DiffIDs, Created: p.Created}
	for _, l := range p.Layers {
		img.Layers = append(img.Layers, l.Digest)
		img.Size += l.Size
	}
	dgst := p.Manifest
	if p.Index != "" {
		dgst = p.Index
	}
	byDigest, err := ref.WithDigest(dgst)
	if err != nil {
		return nil, err
	}
	names := []string{byDigest.String()}
	if ref.Digest() == "" {
		names = append(names, ref.String())
	}
	existed := false
	if prev, err := d.images.Get(ref.String()); err == nil && prev.ID == img.ID {
		existed = true
	}
	if err := d.unpack(ctx, img, progress); err != nil {
		return nil, err
	}
	if err := d.images.Put(img, names...); err != nil {
		return nil, err
	}
	if progress != nil {
		if existed {
			progress(registry.Progress{Status: "Status: Image is up to date for " + ref.Familiar()})
		} else {
			progress(registry.Progress{Status: "Status: Downloaded newer image for " + ref.Familiar()})
		}
	}
	d.imageEvent("pull", ref.Familiar(), img.ID)
	return img, nil
}

func (d *Daemon) imageEvent(action, name string, id digest.Digest) {
	d.events.Publish(eventtypes.Message{
		Type:   eventtypes.ImageEventType,
		Action: eventtypes.Action(action),
		Actor:  eventtypes.Actor{ID: name, Attributes: map[string]string{"name": name, "id": id.String()}},
	})
}

// imageConfig reads an image's config blob.
func (d *Daemon) imageConfig(img *image.Image) (*dockerspec.DockerOCIImage, error) {
	b, err := d.content.ReadAll(img.ID)
	if err != nil {
		return nil, fmt.Errorf("image %s: config: %w", img.ID, err)
	}
	var cfg dockerspec.DockerOCIImage
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("image %s: config: %v: %w", img.ID, err, errdefs.ErrInvalidArgument)
	}
	return &cfg, nil
}

// splitNames sorts an image's names into docker's RepoTags and RepoDigests,
// in familiar form.
func splitNames(img *image.Image) (tags, digests []string) {
	tags, digests = []string{}, []string{}
	for _, n := range img.Names {
		r, err := reference.Parse(n)
		if err != nil {
			continue
		}
		if r.Digest() != "" {
			digests = append(digests, r.Familiar())
		} else {
			tags = append(tags, r.Familiar())
		}
	}
	return tags, digests
}

// Images lists images as GET /images/json does, filtered. Unless all,
// a build's intermediate images (untagged, with children) are left out,
// as docker leaves them out.
func (d *Daemon) Images(ctx context.Context, f image.Filter, all bool) ([]imagetypes.Summary, error) {
	if err := f.Check(); err != nil {
		return nil, err
	}
	imgs, err := d.images.List()
	if err != nil {
		return nil, err
	}
	var before, since time.Time
	for key, dst := range map[string]*time.Time{"before": &before, "since": &since} {
		for _, n := range f[key] {
			ref, err := d.images.Get(n)
			if err != nil {
				return nil, err
			}
			*dst = ref.Created
		}
	}
	parents := parentIDs(imgs)
	out := []imagetypes.Summary{}
	for _, img := range imgs {
		if !all && len(img.Names) == 0 && parents[img.ID] {
			continue
		}
		if !before.IsZero() && !img.Created.Before(before) || !since.IsZero() && !img.Created.After(since) {
			continue
		}
		var labels map[string]string
		if cfg, err := d.imageConfig(img); err == nil {
			labels = cfg.Config.Labels
		}
		if !f.Match(img, labels) {
			continue
		}
		tags, digests := splitNames(img)
		if len(f["reference"]) > 0 {
			tags = familiar(f.Tags(img))
			// Digests only of the repositories the tags selected, as docker.
			repos := map[string]bool{}
			for _, t := range tags {
				if r, err := reference.Parse(t); err == nil {
					repos[r.Name()] = true
				}
			}
			var kept []string
			for _, dg := range digests {
				if r, err := reference.Parse(dg); err == nil && repos[r.Name()] {
					kept = append(kept, dg)
				}
			}
			digests = append([]string{}, kept...)
		}
		out = append(out, imagetypes.Summary{ID: img.ID.String(), RepoTags: tags, RepoDigests: digests, Created: img.Created.Unix(), Size: img.Size, Containers: -1, SharedSize: -1, Labels: labels})
	}
	return out, nil
}

// ImageInspect describes one image as GET /images/{name}/json does.
func (d *Daemon) ImageInspect(ctx context.Context, name string) (*imagetypes.InspectResponse, error) {
	img, err := d.images.Get(name)
	if err != nil {
		return nil, err
	}
	cfg, err := d.imageConfig(img)
	if err != nil {
		return nil, err
	}
	tags, digests := splitNames(img)
	r := &imagetypes.InspectResponse{
		ID: img.ID.String(), RepoTags: tags, RepoDigests: digests,
		Author: cfg.Author, Config: &cfg.Config,
		Architecture: cfg.Architecture, Variant: cfg.Variant, Os: cfg.OS, OsVersion: cfg.OSVersion,
		Size:       img.Size,
		RootFS:     imagetypes.RootFS{Type: cfg.RootFS.Type},
		Descriptor: &ocispec.Descriptor{MediaType: img.MediaType, Digest: img.Manifest},
	}
	if cfg.Created != nil {
		r.Created = cfg.Created.UTC().Format(time.RFC3339Nano)
	}
	for _, l := range cfg.RootFS.DiffIDs {
		r.RootFS.Layers = append(r.RootFS.Layers, l.String())
	}
	if sz, err := d.content.Info(img.Manifest); err == nil {
		r.Descriptor.Size = sz
	}
	if len(cfg.History) > 0 {
		r.Comment = cfg.History[len(cfg.History)-1].Comment
	}
	if dirs := image.LayerDirs(ctx, d.snapshots, img); len(dirs) > 0 {
		data := map[string]string{"UpperDir": dirs[0]}
		if len(dirs) > 1 {
			data["LowerDir"] = strings.Join(dirs[1:], ":")
		}
		r.GraphDriver = &storage.DriverData{Name: d.driver, Data: data}
	}
	return r, nil
}

// TagImage gives the image src the name repo:tag.
func (d *Daemon) TagImage(ctx context.Context, src, repo, tag string) error {
	target := repo
	if tag != "" {
		target += ":" + tag
	}
	ref, err := reference.Parse(target)
	if err != nil {
		return err
	}
	if err := d.images.Tag(src, ref.String()); err != nil {
		return err
	}
	img, _ := d.images.Get(ref.String())
	if img != nil {
		d.imageEvent("tag", ref.Familiar(), img.ID)
	}
	return nil
}

// RemoveImage removes a name, or an image by ID with all its names, and
// then the blobs no image uses any more. It keeps docker's rules for
// images in use:
//
//   - the last tag of an image a container uses goes only with force,
//     and then the image stays (without a name) while a container runs it;
//   - an image goes never while a container runs it or another image was
//     built from it, and with force only while a stopped container uses
//     it.
func (d *Daemon) RemoveImage(ctx context.Context, name string, force bool) ([]imagetypes.DeleteResponse, error) {
	var out []imagetypes.DeleteResponse
	img, err := d.images.Get(name)
	if err != nil {
		return nil, err
	}
	byID := reference.LooksLikeID(name) && strings.HasPrefix(img.ID.Encoded(), strings.TrimPrefix(name, "sha256:"))
	tags, _ := splitNames(img)
	quiet := false
	if !byID {
		if !force && len(tags) <= 1 {
			if c := d.imageUser(img.ID, false); c != nil {
				return nil, fmt.Errorf("conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s: %w", name, c.ID[:12], short(img.ID), errdefs.ErrConflict)
			}
		}
		var last bool
		img, last, err = d.images.Untag(name)
		if err != nil {
			return nil, err
		}
		r, _ := reference.Parse(name)
		out = append(out, imagetypes.DeleteResponse{Untagged: r.Familiar()})
		d.imageEvent("untag", r.Familiar(), img.ID)
		// Removing the last tag leaves digest names: they go too.
		if !last && !onlyDigests(img) {
			return out, nil
		}
		quiet = true
	} else {
		if len(tags) > 1 && !force {
			return nil, fmt.Errorf("conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories: %w", short(img.ID), errdefs.ErrConflict)
		}
		for _, t := range tags {
			out = append(out, imagetypes.DeleteResponse{Untagged: t})
		}
	}
	if used, err := d.deleteConflict(img, force); err != nil {
		if quiet && (used || d.hasChildren(img.ID)) {
			// The name went; the image stays for what uses it.
			return out, nil
		}
		return nil, err
	}
	_, digests := splitNames(img)
	for _, dn := range digests {
		out = append(out, imagetypes.DeleteResponse{Untagged: dn})
	}
	if err := d.images.Delete(img.ID); err != nil {
		return nil, err
	}
	out = append(out, imagetypes.DeleteResponse{Deleted: img.ID.String()})
	d.imageEvent("delete", img.ID.String(), img.ID)
	gone, err := d.removeParents(img.Parent)
	if err != nil {
		return nil, err
	}
	out = append(out, gone...)
	if err := d.collectBlobs(); err != nil {
		d.log().Warn("garbage collection of blobs failed", "error", err)
	}
	return out, nil
}

// parentIDs returns the images some image of imgs was built from.
func parentIDs(imgs []*image.Image) map[digest.Digest]bool {
	parents := map[digest.Digest]bool{}
	for _, img := range imgs {
		if img.Parent != "" {
			parents[img.Parent] = true
		}
	}
	return parents
}

// removeParents removes a removed image's build parents, as docker does:
// each untagged one no other image was built from, up the chain.
func (d *Daemon) removeParents(id digest.Digest) ([]imagetypes.DeleteResponse, error) {
	var out []imagetypes.DeleteResponse
	for id != "" {
		img, err := d.images.Get(id.String())
		if errdefs.IsNotFound(err) {
			break
		} else if err != nil {
			return out, err
		}
		imgs, err := d.images.List()
		if err != nil {
			return out, err
		}
		if len(img.Names) > 0 || parentIDs(imgs)[img.ID] || d.imageInUse(img.ID) {
			break
		}
		if err := d.images.Delete(img.ID); err != nil {
			return out, err
		}
		out = append(out, imagetypes.DeleteResponse{Deleted: img.ID.String()})
		d.imageEvent("delete", img.ID.String(), img.ID)
		id = img.Parent
	}
	return out, nil
}

// imageInUse reports whether a container was made from the image.
func (d *Daemon) imageInUse(id digest.Digest) bool { return d.imageUser(id, false) != nil }

// imageUser is a container that uses the image id (a running one when
// running), or nil.
func (d *Daemon) imageUser(id digest.Digest, running bool) *container.Container {
	for _, c := range d.containers.List() {
		if c.Image != id.String() {
			continue
		}
		if !running {
			return c
		}
		c.Lock()
		r := c.Running()
		c.Unlock()
		if r {
			return c
		}
	}
	return nil
}

// hasChildren reports whether an image was built from id.
func (d *Daemon) hasChildren(id digest.Digest) bool {
	imgs, _ := d.images.List()
	return parentIDs(imgs)[id]
}

// deleteConflict is what keeps img from being deleted, docker's checks
// in docker's order: an image built from it and a running container
// (never forced), a stopped container (unless force); used says a
// container holds it.
func (d *Daemon) deleteConflict(img *image.Image, force bool) (used bool, err error) {
	if d.hasChildren(img.ID) {
		return false, fmt.Errorf("conflict: unable to delete %s (cannot be forced) - image has dependent child images: %w", short(img.ID), errdefs.ErrConflict)
	}
	if c := d.imageUser(img.ID, true); c != nil {
		return true, fmt.Errorf("conflict: unable to delete %s (cannot be forced) - image is being used by running container %s: %w", short(img.ID), c.ID[:12], errdefs.ErrConflict)
	}
	if c := d.imageUser(img.ID, false); c != nil && !force {
		return true, fmt.Errorf("conflict: unable to delete %s (must be forced) - image is being used by stopped container %s: %w", short(img.ID), c.ID[:12], errdefs.ErrConflict)
	}
	return false, nil
}

func familiar(names []string) []string {
	out := []string{}
	for _, n := range names {
		if r, err := reference.Parse(n); err == nil {
			out = append(out, r.Familiar())
		}
	}
	return out
}

func onlyDigests(img *image.Image) bool {
	tags, _ := splitNames(img)
	return len(tags) == 0
}

// unpack unpacks img's layers into snapshots (each layer once).
func (d *Daemon) unpack(ctx context.Context, img *image.Image, progress func(registry.Progress)) error {
	if progress != nil {
		progress(registry.Progress{Status: "Extracting layers"})
	}
	return image.Unpack(ctx, d.content, d.snapshots, img, d.driver == "overlay")
}

// collectBlobs removes blobs no image refers to, and the layer snapshots
// no image uses.
func (d *Daemon) collectBlobs() error {
	if imgs, err := d.images.List(); err == nil {
		inUse := map[string]bool{}
		for _, img := range imgs {
			for _, c := range image.ChainIDs(img.DiffIDs) {
				inUse[c.String()] = true
			}
		}
		if err := image.GCSnapshots(context.Background(), d.snapshots, inUse); err != nil {
			d.log().Warn("garbage collection of snapshots failed", "error", err)
		}
	}
	used, err := d.images.BlobsInUse()
	if err != nil {
		return err
	}
	var errs []error
	err = d.content.Walk(func(dg digest.Digest, _ int64) error {
		if !used[dg] {
			if err := d.content.Delete(dg); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
		return nil
	})
	return errors.Join(append(errs, err)...)
}

func short(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		return e[:12]
	}
	return e
}

// PushImage uploads the image named name (with tag, if given, appended)
// to its registry.
func (d *Daemon) PushImage(ctx context.Context, name, tag string, auth authn.Authenticator, progress func(registry.Progress)) error {
	target := name
	if tag != "" {
		target += ":" + tag
	}
	ref, err := reference.Parse(target)
	if err != nil {
		return err
	}
	img, err := d.images.Get(ref.String())
	if err != nil {
		return fmt.Errorf("An image does not exist locally with the tag: %s: %w", ref.FamiliarName(), errdefs.ErrNotFound)
	}
	eps, err := registry.HostsDir(d.cfg.RegistryHostsDir).Endpoints(ref.Domain())
	if err != nil {
		return err
	}
	dg, err := registry.Push(ctx, d.content, img.Manifest, ref, registry.Options{Auth: auth, Progress: progress, Insecure: d.insecure(ref.Domain()), Endpoints: eps})
	if err != nil {
		return err
	}
	if byDigest, err := ref.WithDigest(dg); err == nil {
		d.images.Put(img, byDigest.String())
	}
	d.imageEvent("push", ref.Familiar(), img.ID)
	return nil
}

// SaveImages writes the named images to w as a docker-archive ("" or
// "docker-archive") or a tar of an OCI layout ("oci").
func (d *Daemon) SaveImages(ctx context.Context, names []string, format string, w io.Writer) error {
	if len(names) == 0 {
		return fmt.Errorf("save: no image named: %w", errdefs.ErrInvalidArgument)
	}
	byImage := map[digest.Digest]*registry.SaveItem{}
	var order []digest.Digest
	for _, n := range names {
		img, err := d.images.Get(n)
		if err != nil {
			return err
		}
		it, ok := byImage[img.ID]
		if !ok {
			it = &registry.SaveItem{Manifest: img.Manifest}
			byImage[img.ID] = it
			order = append(order, img.ID)
		}
		// A name saves that name; an ID saves every tag of the image.
		if ref, err := reference.Parse(n); err == nil && !reference.LooksLikeID(n) && ref.Digest() == "" {
			it.Names = append(it.Names, ref.String())
		} else if reference.LooksLikeID(n) {
			for _, nm := range img.Names {
				if r, err := reference.Parse(nm); err == nil && r.Digest() == "" {
					it.Names = append(it.Names, nm)
				}
			}
		}
	}
	items := make([]registry.SaveItem, 0, len(order))
	for _, id := range order {
		items = append(items, *byImage[id])
	}
	switch format {
	case "", "docker-archive", "docker":
		return registry.SaveDockerArchive(d.content, items, w)
	case "oci", "oci-archive":
		return registry.SaveOCILayout(d.content, items, w)
	}
	return fmt.Errorf("save: unknown format %q (docker-archive or oci): %w", format, errdefs.ErrInvalidArgument)
}

// LoadImages stores the images of a docker-archive or OCI-layout tarball
// and returns docker's "Loaded image" lines.
func (d *Daemon) LoadImages(ctx context.Context, r io.Reader) ([]string, error) {
	loaded, err := registry.Load(ctx, d.content, r)
	if err != nil {
		return nil, err
	}
	var msgs []string
	for _, l := range loaded {
		img := &image.Image{ID: l.Config, Manifest: l.Manifest, MediaType: l.MediaType, DiffIDs: l.DiffIDs, Created: l.Created}
		for _, ly := range l.Layers {
			img.Layers = append(img.Layers, ly.Digest)
			img.Size += ly.Size
		}
		if err := d.unpack(ctx, img, nil); err != nil {
			return nil, err
		}
		var names []reference.Ref
		var full []string
		for _, n := range l.Names {
			if r, err := reference.Parse(n); err == nil {
				names = append(names, r)
				full = append(full, r.String())
			}
		}
		if err := d.images.Put(img, full...); err != nil {
			return nil, err
		}
		if len(names) == 0 {
			msgs = append(msgs, "Loaded image ID: "+img.ID.String())
		}
		for _, r := range names {
			msgs = append(msgs, "Loaded image: "+r.Familiar())
			d.imageEvent("load", r.Familiar(), img.ID)
		}
	}
	return msgs, nil
}

// ImportImage makes a one-layer image from a root filesystem tarball
// and names it repo (with tag) when given; changes are -c instructions.
func (d *Daemon) ImportImage(ctx context.Context, r io.Reader, repo, tag string, changes []string, message string) (*image.Image, error) {
	cfg := &ocispec.ImageConfig{Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}}
	if err := image.ApplyChanges(cfg, changes); err != nil {
		return nil, err
	}
	var names []string
	if repo != "" {
		target := repo
		if tag != "" {
			target += ":" + tag
		}
		ref, err := reference.Parse(target)
		if err != nil {
			return nil, err
		}
		names = append(names, ref.String())
	}
	p, err := registry.Import(ctx, d.content, r, cfg, message)
	if err != nil {
		return nil, err
	}
	img := &image.Image{ID: p.Config, Manifest: p.Manifest, MediaType: p.MediaType, DiffIDs: p.DiffIDs, Created: p.Created, Layers: []digest.Digest{p.Layers[0].Digest}, Size: p.Layers[0].Size}
	if err := d.unpack(ctx, img, nil); err != nil {
		return nil, err
	}
	if err := d.images.Put(img, names...); err != nil {
		return nil, err
	}
	d.imageEvent("import", img.ID.String(), img.ID)
	return img, nil
}

// ImageHistory lists an image's history, newest first, as
// GET /images/{name}/history does.
func (d *Daemon) ImageHistory(ctx context.Context, name string) ([]imagetypes.HistoryResponseItem, error) {
	img, err := d.images.Get(name)
	if err != nil {
		return nil, err
	}
	cfg, err := d.imageConfig(img)
	if err != nil {
		return nil, err
	}
	tags, _ := splitNames(img)
	var out []imagetypes.HistoryResponseItem
	layer := 0
	for i, h := range cfg.History {
		item := imagetypes.HistoryResponseItem{ID: "<missing>", CreatedBy: h.CreatedBy, Comment: h.Comment, Tags: []string{}}
		if h.Created != nil {
			item.Created = h.Created.Unix()
		}
		if !h.EmptyLayer && layer < len(img.Layers) {
			if sz, err := d.content.Info(img.Layers[layer]); err == nil {
				item.Size = sz
			}
			layer++
		}
		if i == len(cfg.History)-1 {
			item.ID, item.Tags = img.ID.String(), tags
		}
		out = append([]imagetypes.HistoryResponseItem{item}, out...)
	}
	if len(out) == 0 {
		out = []imagetypes.HistoryResponseItem{{ID: img.ID.String(), Tags: tags, Size: img.Size, Created: img.Created.Unix()}}
	}
	return out, nil
}

// PruneImages removes the images no container uses: those without names
// (dangling=true, the default) or every one (dangling=false), created
// before until, with (label) or without (label!) the labels given; then
// the blobs they held. It returns what went and the bytes reclaimed.
func (d *Daemon) PruneImages(ctx context.Context, filters map[string][]string) (*imagetypes.PruneReport, error) {
	all := false
	for k, vs := range filters {
		switch k {
		case "dangling":
			for _, v := range vs {
				switch v {
				case "true", "1":
					all = false
				case "false", "0":
					all = true
				default:
					return nil, fmt.Errorf("invalid filter 'dangling=%s': %w", v, errdefs.ErrInvalidArgument)
				}
			}
		case "until", "label", "label!":
		default:
			return nil, fmt.Errorf("invalid filter '%s': %w", k, errdefs.ErrInvalidArgument)
		}
	}
	until, err := untilFilter(filters)
	if err != nil {
		return nil, err
	}
	imgs, err := d.images.List()
	if err != nil {
		return nil, err
	}
	var before int64
	d.content.Walk(func(_ digest.Digest, n int64) error { before += n; return nil })
	rep := &imagetypes.PruneReport{ImagesDeleted: []imagetypes.DeleteResponse{}}
	byID := map[digest.Digest]*image.Image{}
	for _, img := range imgs {
		byID[img.ID] = img
	}
	// The images containers use stay, with the images they were built
	// from; so do the build parents of a tagged image (its build cache,
	// as docker keeps them) unless every unused image goes.
	used := map[digest.Digest]bool{}
	for _, c := range d.containers.List() {
		used[digest.Digest(c.Image)] = true
	}
	keep := map[digest.Digest]bool{}
	for _, img := range imgs {
		tags, _ := splitNames(img)
		if !used[img.ID] && (len(tags) == 0 || all) {
			continue
		}
		keep[img.ID] = true
		for p := img.Parent; p != "" && !keep[p] && byID[p] != nil; p = byID[p].Parent {
			keep[p] = true
		}
	}
	// An image goes once no image is built on it: passes until one
	// removes nothing (a child goes before its parent).
	gone := map[digest.Digest]bool{}
	labeled := map[digest.Digest]bool{} // label filters' verdicts, read once per image
	for progress := true; progress; {
		progress = false
		children := map[digest.Digest]bool{}
		for _, img := range imgs {
			if !gone[img.ID] && img.Parent != "" {
				children[img.Parent] = true
			}
		}
		for _, img := range imgs {
			if gone[img.ID] || keep[img.ID] || children[img.ID] || !until.IsZero() && !img.Created.Before(until) {
				continue
			}
			if len(filters["label"]) > 0 || len(filters["label!"]) > 0 {
				ok, seen := labeled[img.ID]
				if !seen {
					cfg, err := d.imageConfig(img)
					ok = err == nil && labelsMatch(cfg.Config.Labels, filters["label"], filters["label!"])
					labeled[img.ID] = ok
				}
				if !ok {
					continue
				}
			}
			tags, digests := splitNames(img)
			for _, n := range append(tags, digests...) {
				rep.ImagesDeleted = append(rep.ImagesDeleted, imagetypes.DeleteResponse{Untagged: n})
			}
			if err := d.images.Delete(img.ID); err != nil {
				return nil, err
			}
			rep.ImagesDeleted = append(rep.ImagesDeleted, imagetypes.DeleteResponse{Deleted: img.ID.String()})
			d.imageEvent("delete", img.ID.String(), img.ID)
			gone[img.ID], progress = true, true
			// Its build parents go with it, as with rmi (those without a
			// name, another child or a container).
			parents, err := d.removeParents(img.Parent)
			if err != nil {
				return nil, err
			}
			for _, p := range parents {
				rep.ImagesDeleted = append(rep.ImagesDeleted, p)
				gone[digest.Digest(p.Deleted)] = true
			}
		}
	}
	if err := d.collectBlobs(); err != nil {
		return nil, err
	}
	var after int64
	d.content.Walk(func(_ digest.Digest, n int64) error { after += n; return nil })
	if before > after {
		rep.SpaceReclaimed = uint64(before - after)
	}
	return rep, nil
}

// DiskUsage reports the store's size: blobs, and each image with its size
// and how much of it is shared with other images.
func (d *Daemon) DiskUsage(ctx context.Context) (int64, []imagetypes.Summary, error) {
	var total int64
	if err := d.content.Walk(func(_ digest.Digest, n int64) error { total += n; return nil }); err != nil {
		return 0, nil, err
	}
	imgs, err := d.images.List()
	if err != nil {
		return 0, nil, err
	}
	users := map[digest.Digest]int{}
	for _, img := range imgs {
		for _, l := range img.Layers {
			users[l]++
		}
	}
	sums, err := d.Images(ctx, nil, true)
	if err != nil {
		return 0, nil, err
	}
	for _, img := range imgs {
		var shared int64
		for _, l := range img.Layers {
			if users[l] > 1 {
				if n, err := d.content.Info(l); err == nil {
					shared += n
				}
			}
		}
		for j := range sums {
			if sums[j].ID == img.ID.String() {
				sums[j].SharedSize = shared
				sums[j].Containers = 0
			}
		}
	}
	return total, sums, nil
}

// insecure reports whether the registry at host may be spoken to over
// plain HTTP: it is listed in Config.InsecureRegistries (host[:port], or
// a CIDR its address falls in). Loopback and private addresses always
// may, as go-containerregistry decides by itself.
// SearchImages asks the index term names (Docker Hub's unless its first
// component is a host) for matching repositories, keeping those the
// filters (is-official, is-automated, stars=N) allow.
func (d *Daemon) SearchImages(ctx context.Context, term string, limit int, filters map[string][]string, auth authn.Authenticator) ([]regtypes.SearchResult, error) {
	minStars := 0
	var official, automated *bool
	for k, vs := range filters {
		for _, v := range vs {
			switch k {
			case "stars":
				n, err := strconv.Atoi(v)
				if err != nil {
					return nil, fmt.Errorf("invalid filter 'stars=%s': %w", v, errdefs.ErrInvalidArgument)
				}
				minStars = max(minStars, n)
			case "is-official", "is-automated":
				b, err := strconv.ParseBool(v)
				if err != nil {
					return nil, fmt.Errorf("invalid filter '%s=%s': %w", k, v, errdefs.ErrInvalidArgument)
				}
				if k == "is-official" {
					official = &b
				} else {
					automated = &b
				}
			default:
				return nil, fmt.Errorf("invalid filter '%s': %w", k, errdefs.ErrInvalidArgument)
			}
		}
	}
	rs, err := registry.Search(ctx, term, registry.SearchOptions{Limit: limit, Auth: auth, Insecure: d.insecure})
	if err != nil {
		return nil, err
	}
	out := []regtypes.SearchResult{}
	for _, r := range rs {
		if r.StarCount < minStars || official != nil && r.IsOfficial != *official || automated != nil && r.IsAutomated != *automated {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

func (d *Daemon) insecure(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	for _, r := range d.cfg.InsecureRegistries {
		if r == host || r == h {
			return true
		}
		if _, n, err := net.ParseCIDR(r); err == nil {
			if ip := net.ParseIP(h); ip != nil && n.Contains(ip) {
				return true
			}
		}
	}
	return false
}

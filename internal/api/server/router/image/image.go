// Package image serves the Engine API's image endpoints: pull
// (POST /images/create), list, inspect, tag and remove.
package image

import (
	"context"
	"encoding/base64"
	"encoding/json"
	buildtypes "github.com/moby/moby/api/types/build"
	ctypes "github.com/moby/moby/api/types/container"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/hako-dev/hako/internal/api/server/httputil"
	img "github.com/hako-dev/hako/internal/image"
	"github.com/hako-dev/hako/internal/registry"
	imagetypes "github.com/moby/moby/api/types/image"
	regtypes "github.com/moby/moby/api/types/registry"
	volumetypes "github.com/moby/moby/api/types/volume"
)

// Backend is what the image endpoints need from the engine.
type Backend interface {
	PullImage(ctx context.Context, ref, platform string, auth authn.Authenticator, progress func(registry.Progress)) (*img.Image, error)
	Images(ctx context.Context, f img.Filter, all bool) ([]imagetypes.Summary, error)
	ImageInspect(ctx context.Context, name string) (*imagetypes.InspectResponse, error)
	TagImage(ctx context.Context, src, repo, tag string) error
	RemoveImage(ctx context.Context, name string, force bool) ([]imagetypes.DeleteResponse, error)
	PushImage(ctx context.Context, name, tag string, auth authn.Authenticator, progress func(registry.Progress)) error
	SaveImages(ctx context.Context, names []string, format string, w io.Writer) error
	LoadImages(ctx context.Context, r io.Reader) ([]string, error)
	ImportImage(ctx context.Context, r io.Reader, repo, tag string, changes []string, message string) (*img.Image, error)
	ImageHistory(ctx context.Context, name string) ([]imagetypes.HistoryResponseItem, error)
	PruneImages(ctx context.Context, filters map[string][]string) (*imagetypes.PruneReport, error)
	SearchImages(ctx context.Context, term string, limit int, filters map[string][]string, auth authn.Authenticator) ([]regtypes.SearchResult, error)
	DiskUsage(ctx context.Context) (int64, []imagetypes.Summary, error)
	// VolumesUsage is the volumes with their UsageData, for /system/df.
	VolumesUsage(ctx context.Context) ([]volumetypes.Volume, error)
	// BuildCacheUsage is the caches of RUN --mount, for /system/df.
	BuildCacheUsage(ctx context.Context) ([]buildtypes.CacheRecord, error)
	// ContainersUsage is every container with its sizes, for /system/df.
	ContainersUsage(ctx context.Context) ([]ctypes.Summary, error)
}

// Router serves the image endpoints.
type Router struct{ b Backend }

// New returns the image router.
func New(b Backend) *Router { return &Router{b: b} }

// Routes implements httputil.Router.
func (r *Router) Routes() []httputil.Route {
	return []httputil.Route{
		{Method: http.MethodPost, Path: "/images/create", Handler: r.create},
		{Method: http.MethodGet, Path: "/images/json", Handler: r.list},
		{Method: http.MethodGet, Path: "/images/search", Handler: r.search},
		{Method: http.MethodGet, Path: "/images/get", Handler: r.save},
		{Method: http.MethodPost, Path: "/images/load", Handler: r.load},
		{Method: http.MethodPost, Path: "/images/prune", Handler: r.prune},
		{Method: http.MethodGet, Path: "/system/df", Handler: r.df},
		{Method: http.MethodGet, Path: "/images/{name:.*}/get", Handler: r.saveOne},
		{Method: http.MethodGet, Path: "/images/{name:.*}/history", Handler: r.history},
		{Method: http.MethodGet, Path: "/images/{name:.*}/json", Handler: r.inspect},
		{Method: http.MethodPost, Path: "/images/{name:.*}/tag", Handler: r.tag},
		{Method: http.MethodPost, Path: "/images/{name:.*}/push", Handler: r.push},
		{Method: http.MethodDelete, Path: "/images/{name:.*}", Handler: r.remove},
	}
}

// jsonMessage is docker's progress stream line.
type jsonMessage struct {
	Stream         string          `json:"stream,omitempty"`
	Status         string          `json:"status,omitempty"`
	ID             string          `json:"id,omitempty"`
	ProgressDetail *progressDetail `json:"progressDetail,omitempty"`
	Error          string          `json:"error,omitempty"`
	ErrorDetail    *errorDetail    `json:"errorDetail,omitempty"`
}

type progressDetail struct {
	Current int64 `json:"current,omitempty"`
	Total   int64 `json:"total,omitempty"`
}

type errorDetail struct {
	Message string `json:"message"`
}

func (r *Router) create(ctx context.Context, w http.ResponseWriter, req *http.Request, _ map[string]string) error {
	from := req.FormValue("fromImage")
	if src := req.FormValue("fromSrc"); from == "" && src != "" {
		if src != "-" {
			return httpErr(http.StatusBadRequest, "fromSrc must be \"-\" (the archive in the request body): hako does not download archives from URLs")
		}
		i, err := r.b.ImportImage(ctx, req.Body, req.FormValue("repo"), req.FormValue("tag"), req.Form["changes"], req.FormValue("message"))
		if err != nil {
			return err
		}
		newStream(w).send(jsonMessage{Status: i.ID.String()})
		return nil
	}
	if from == "" {
		return httpErr(http.StatusBadRequest, "fromImage or fromSrc is required")
	}
	ref := from
	if tag := req.FormValue("tag"); tag != "" {
		if strings.HasPrefix(tag, "sha256:") {
			ref += "@" + tag
		} else {
			ref += ":" + tag
		}
	}
	auth, err := registryAuth(req.Header.Get("X-Registry-Auth"))
	if err != nil {
		return err
	}
	st := newStream(w)
	_, err = r.b.PullImage(ctx, ref, req.FormValue("platform"), auth, st.progress)
	return st.finish(err)
}

// search is GET /images/search: the index's repositories matching term.
func (r *Router) search(ctx context.Context, w http.ResponseWriter, req *http.Request, _ map[string]string) error {
	term := req.FormValue("term")
	if term == "" {
		return httpErr(http.StatusBadRequest, "term is required")
	}
	limit := 0
	if v := req.FormValue("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return httpErr(http.StatusBadRequest, "invalid limit "+strconv.Quote(v))
		}
		limit = n
	}
	f, err := httputil.ParseFilters(req.FormValue("filters"))
	if err != nil {
		return err
	}
	auth, err := registryAuth(req.Header.Get("X-Registry-Auth"))
	if err != nil {
		return err
	}
	rs, err := r.b.SearchImages(ctx, term, limit, f, auth)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, rs)
}

func (r *Router) push(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	auth, err := registryAuth(req.Header.Get("X-Registry-Auth"))
	if err != nil {
		return err
	}
	st := newStream(w)
	return st.finish(r.b.PushImage(ctx, vars["name"], req.FormValue("tag"), auth, st.progress))
}

// stream writes docker's JSON progress stream. Errors before it starts
// are plain API errors; after, they are a line of the stream, as docker
// sends them.
type stream struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	enc     *json.Encoder
	started bool
}

func newStream(w http.ResponseWriter) *stream {
	return &stream{w: w, enc: json.NewEncoder(w)}
}

func (s *stream) send(m jsonMessage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		s.w.Header().Set("Content-Type", "application/json")
		s.w.WriteHeader(http.StatusOK)
		s.started = true
	}
	s.enc.Encode(m)
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *stream) progress(p registry.Progress) {
	m := jsonMessage{Status: p.Status, ID: p.ID}
	if p.Total > 0 || p.Current > 0 {
		m.ProgressDetail = &progressDetail{Current: p.Current, Total: p.Total}
	}
	s.send(m)
}

func (s *stream) finish(err error) error {
	if err == nil {
		return nil
	}
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		return err
	}
	s.send(jsonMessage{Error: err.Error(), ErrorDetail: &errorDetail{Message: err.Error()}})
	return nil
}

// registryAuth decodes X-Registry-Auth: base64url JSON of docker's
// AuthConfig.
func registryAuth(h string) (authn.Authenticator, error) {
	if h == "" {
		return authn.Anonymous, nil
	}
	b, err := base64.URLEncoding.DecodeString(h)
	if err != nil {
		if b, err = base64.RawURLEncoding.DecodeString(h); err != nil {
			if b, err = base64.StdEncoding.DecodeString(h); err != nil {
				return nil, httpErr(http.StatusBadRequest, "X-Registry-Auth is not base64")
			}
		}
	}
	var a struct {
		Username, Password, Auth     string
		IdentityToken, RegistryToken string
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, httpErr(http.StatusBadRequest, "X-Registry-Auth is not JSON")
	}
	switch {
	case a.RegistryToken != "":
		return &authn.Bearer{Token: a.RegistryToken}, nil
	case a.IdentityToken != "":
		return authn.FromConfig(authn.AuthConfig{IdentityToken: a.IdentityToken}), nil
	case a.Username != "" || a.Password != "" || a.Auth != "":
		return authn.FromConfig(authn.AuthConfig{Username: a.Username, Password: a.Password, Auth: a.Auth}), nil
	}
	return authn.Anonymous, nil
}

func (r *Router) list(ctx context.Context, w http.ResponseWriter, req *http.Request, _ map[string]string) error {
	f, err := parseFilters(req.FormValue("filters"))
	if err != nil {
		return err
	}
	if ref := req.FormValue("filter"); ref != "" { // API < 1.41
		f["reference"] = append(f["reference"], ref)
	}
	l, err := r.b.Images(ctx, f, httputil.BoolValue(req, "all"))
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, l)
}

func (r *Router) inspect(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	i, err := r.b.ImageInspect(ctx, vars["name"])
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, i)
}

func (r *Router) tag(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	if err := r.b.TagImage(ctx, vars["name"], req.FormValue("repo"), req.FormValue("tag")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusCreated)
	return nil
}

func (r *Router) remove(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	l, err := r.b.RemoveImage(ctx, vars["name"], httputil.BoolValue(req, "force"))
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, l)
}

// save streams a tarball of the images in names; format (a hako
// extension) picks "oci" instead of docker-archive.
func (r *Router) save(ctx context.Context, w http.ResponseWriter, req *http.Request, _ map[string]string) error {
	return r.saveNames(ctx, w, req, req.Form["names"])
}

func (r *Router) saveOne(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	return r.saveNames(ctx, w, req, []string{vars["name"]})
}

func (r *Router) saveNames(ctx context.Context, w http.ResponseWriter, req *http.Request, names []string) error {
	// Resolve names before the first byte, so a missing image is a
	// plain 404; a failure mid-stream can only cut the stream.
	for _, n := range names {
		if _, err := r.b.ImageInspect(ctx, n); err != nil {
			return err
		}
	}
	w.Header().Set("Content-Type", "application/x-tar")
	return r.b.SaveImages(ctx, names, req.FormValue("format"), w)
}

func (r *Router) load(ctx context.Context, w http.ResponseWriter, req *http.Request, _ map[string]string) error {
	msgs, err := r.b.LoadImages(ctx, req.Body)
	if err != nil {
		return err
	}
	st := newStream(w)
	for _, m := range msgs {
		st.send(jsonMessage{Stream: m + "\n"})
	}
	if len(msgs) == 0 {
		w.WriteHeader(http.StatusOK)
	}
	return nil
}

func (r *Router) history(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	h, err := r.b.ImageHistory(ctx, vars["name"])
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, h)
}

// parseFilters reads docker's filters argument.
func parseFilters(v string) (img.Filter, error) {
	f, err := httputil.ParseFilters(v)
	return img.Filter(f), err
}

// prune removes the unused images: dangling ones, or with filters
// dangling=false every one (until, label and label! narrow it).
func (r *Router) prune(ctx context.Context, w http.ResponseWriter, req *http.Request, _ map[string]string) error {
	f, err := httputil.ParseFilters(req.FormValue("filters"))
	if err != nil {
		return err
	}
	rep, err := r.b.PruneImages(ctx, f)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, rep)
}

// df answers GET /system/df in the form docker CLIs up to API 1.51 read.
func (r *Router) df(ctx context.Context, w http.ResponseWriter, req *http.Request, _ map[string]string) error {
	total, imgs, err := r.b.DiskUsage(ctx)
	if err != nil {
		return err
	}
	vols, err := r.b.VolumesUsage(ctx)
	if err != nil {
		return err
	}
	caches, err := r.b.BuildCacheUsage(ctx)
	if err != nil {
		return err
	}
	ctrs, err := r.b.ContainersUsage(ctx)
	if err != nil {
		return err
	}
	// An image's Containers counts the containers made from it.
	for i := range imgs {
		imgs[i].Containers = 0
		for _, c := range ctrs {
			if c.ImageID == imgs[i].ID {
				imgs[i].Containers++
			}
		}
	}
	return httputil.WriteJSON(w, http.StatusOK, map[string]any{
		"LayersSize": total, "Images": imgs, "Containers": ctrs, "Volumes": vols, "BuildCache": caches,
	})
}

func httpErr(status int, msg string) error {
	return &httputil.StatusError{Status: status, Msg: msg}
}

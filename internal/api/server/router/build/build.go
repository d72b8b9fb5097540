// Package build serves the Engine API's POST /build with the classic
// builder's JSON stream.
package build

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/hako-dev/hako/internal/api/server/httputil"
	apitypes "github.com/hako-dev/hako/internal/api/types"
	"github.com/hako-dev/hako/internal/builder"
	"github.com/hako-dev/hako/internal/errdefs"
	buildtypes "github.com/moby/moby/api/types/build"
)

// Backend is what builds need from the engine.
type Backend interface {
	builder.Backend
	// BuildCachePrune removes the unused caches of RUN
	// --mount=type=cache and reports them and the space they took.
	BuildCachePrune(ctx context.Context) (deleted []string, reclaimed uint64, err error)
	// BuildTempDir is the directory builds keep their temporary files
	// in (builder.Options.TempDir).
	BuildTempDir() string
}

// Router serves POST /build and POST /build/prune.
type Router struct{ b Backend }

// New returns the build router.
func New(b Backend) *Router { return &Router{b: b} }

// Routes implements httputil.Router.
func (r *Router) Routes() []httputil.Route {
	return []httputil.Route{
		{Method: http.MethodPost, Path: "/build", Handler: r.build},
		{Method: http.MethodPost, Path: "/build/prune", Handler: r.prune},
	}
}

// prune is POST /build/prune. hako's build cache proper is the image
// store (image prune drops it); what this removes is the cache mounts'
// directories, whatever the filters and limits ask, as none applies to
// them but "all", which they all are.
func (r *Router) prune(ctx context.Context, w http.ResponseWriter, req *http.Request, _ map[string]string) error {
	deleted, reclaimed, err := r.b.BuildCachePrune(ctx)
	if err != nil {
		return err
	}
	if deleted == nil {
		deleted = []string{}
	}
	return httputil.WriteJSON(w, http.StatusOK, buildtypes.CachePruneReport{CachesDeleted: deleted, SpaceReclaimed: reclaimed})
}

type message struct {
	Stream      string       `json:"stream,omitempty"`
	Aux         *aux         `json:"aux,omitempty"`
	Error       string       `json:"error,omitempty"`
	ErrorDetail *errorDetail `json:"errorDetail,omitempty"`
}

type aux struct {
	ID string `json:"ID"`
}

type errorDetail struct {
	Message string `json:"message"`
}

func (r *Router) build(ctx context.Context, w http.ResponseWriter, req *http.Request, _ map[string]string) error {
	// The body is the context, whatever its Content-Type says: only the
	// query carries parameters.
	q := req.URL.Query()
	o := builder.Options{
		Context:    req.Body,
		Dockerfile: q.Get("dockerfile"),
		Tags:       q["t"],
		Quiet:      boolValue(q.Get("q")),
		NoCache:    boolValue(q.Get("nocache")),
		// rm (docker's default: on) removes the steps' containers,
		// forcerm even those of failed steps (hako always does).
		KeepContainers: q.Get("rm") != "" && !boolValue(q.Get("rm")) && !boolValue(q.Get("forcerm")),
		Pull:           boolValue(q.Get("pull")),
		Target:         q.Get("target"),
		Platform:       q.Get("platform"),
	}
	if v := q.Get("buildargs"); v != "" {
		if err := json.Unmarshal([]byte(v), &o.BuildArgs); err != nil {
			return fmt.Errorf("invalid buildargs: %v: %w", err, errdefs.ErrInvalidArgument)
		}
	}
	if v := req.Header.Get(apitypes.SecretsHeader); v != "" {
		secrets, err := apitypes.DecodeSecrets(v)
		if err != nil {
			return fmt.Errorf("%s: %v: %w", apitypes.SecretsHeader, err, errdefs.ErrInvalidArgument)
		}
		o.Secrets = secrets
	}
	if v := q.Get("cachefrom"); v != "" {
		if err := json.Unmarshal([]byte(v), &o.CacheFrom); err != nil {
			return fmt.Errorf("invalid cachefrom: %v: %w", err, errdefs.ErrInvalidArgument)
		}
	}
	if v := q.Get("labels"); v != "" {
		if err := json.Unmarshal([]byte(v), &o.Labels); err != nil {
			return fmt.Errorf("invalid labels: %v: %w", err, errdefs.ErrInvalidArgument)
		}
	}
	run, err := runHostConfig(q)
	if err != nil {
		return err
	}
	o.Run = run
	o.TempDir = r.b.BuildTempDir()
	if v := q.Get("remote"); v != "" {
		// A repository or a URL to fetch instead of the body.
		rc, err := builder.RemoteContext(ctx, v, o.TempDir)
		if err != nil {
			return fmt.Errorf("%v: %w", err, errdefs.ErrInvalidArgument)
		}
		defer rc.Close()
		o.Context = rc
	}
	st := &stream{w: w, enc: json.NewEncoder(w)}
	if _, err := builder.Build(ctx, r.b, o, st); err != nil {
		st.send(message{Error: err.Error(), ErrorDetail: &errorDetail{Message: err.Error()}})
	}
	return nil
}

// stream writes the build's JSON messages; it implements
// builder.Reporter.
type stream struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	enc     *json.Encoder
	started bool
}

func (s *stream) send(m message) {
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

func (s *stream) Stream(line string) { s.send(message{Stream: line}) }
func (s *stream) ImageID(id string)  { s.send(message{Aux: &aux{ID: id}}) }

// runHostConfig reads what a build gives its RUN steps' containers:
// networkmode (default, none, host: a user-defined network is refused, as
// docker refuses it), extrahosts, shmsize, memory, memswap, cpushares,
// cpusetcpus, cpusetmems, cpuquota, cpuperiod, cgroupparent, ulimits.
func runHostConfig(q url.Values) (builder.RunHostConfig, error) {
	var h builder.RunHostConfig
	switch v := q.Get("networkmode"); v {
	case "", "default", "bridge":
	case "none", "host":
		h.NetworkMode = v
	default:
		return h, fmt.Errorf("network mode %q is not supported for builds (default, none and host are): %w", v, errdefs.ErrInvalidArgument)
	}
	h.ExtraHosts = q["extrahosts"]
	ints := []struct {
		name string
		dst  *int64
	}{{"shmsize", &h.ShmSize}, {"memory", &h.Resources.Memory}, {"memswap", &h.Resources.MemorySwap}, {"cpushares", &h.Resources.CPUShares}, {"cpuquota", &h.Resources.CPUQuota}, {"cpuperiod", &h.Resources.CPUPeriod}}
	for _, f := range ints {
		v := q.Get(f.name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return h, fmt.Errorf("invalid %s %q: %w", f.name, v, errdefs.ErrInvalidArgument)
		}
		*f.dst = n
	}
	h.Resources.CpusetCpus, h.Resources.CpusetMems, h.Resources.CgroupParent = q.Get("cpusetcpus"), q.Get("cpusetmems"), q.Get("cgroupparent")
	if v := q.Get("ulimits"); v != "" {
		if err := json.Unmarshal([]byte(v), &h.Resources.Ulimits); err != nil {
			return h, fmt.Errorf("invalid ulimits: %v: %w", err, errdefs.ErrInvalidArgument)
		}
	}
	return h, nil
}

func boolValue(v string) bool {
	v = strings.ToLower(strings.TrimSpace(v))
	return v != "" && v != "0" && v != "no" && v != "false" && v != "none"
}

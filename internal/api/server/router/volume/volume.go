// Package volume serves the Engine API's volume endpoints: list, create,
// inspect, remove and prune.
package volume

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/hako-dev/hako/internal/api/server/httputil"
	"github.com/hako-dev/hako/internal/errdefs"
	volumetypes "github.com/moby/moby/api/types/volume"
)

// Backend is what the volume endpoints need from the engine.
type Backend interface {
	VolumeCreate(ctx context.Context, req volumetypes.CreateRequest) (*volumetypes.Volume, error)
	VolumeList(ctx context.Context, filters map[string][]string) (*volumetypes.ListResponse, error)
	VolumeInspect(ctx context.Context, name string) (*volumetypes.Volume, error)
	VolumeRemove(ctx context.Context, name string, force bool) error
	VolumesPrune(ctx context.Context, filters map[string][]string) (*volumetypes.PruneReport, error)
}

// Router serves the volume endpoints.
type Router struct{ b Backend }

// New returns the volume router.
func New(b Backend) *Router { return &Router{b: b} }

// Routes implements httputil.Router.
func (r *Router) Routes() []httputil.Route {
	return []httputil.Route{
		{Method: http.MethodGet, Path: "/volumes", Handler: r.list},
		{Method: http.MethodPost, Path: "/volumes/create", Handler: r.create},
		{Method: http.MethodPost, Path: "/volumes/prune", Handler: r.prune},
		{Method: http.MethodGet, Path: "/volumes/{name}", Handler: r.inspect},
		{Method: http.MethodPut, Path: "/volumes/{name}", Handler: r.update},
		{Method: http.MethodDelete, Path: "/volumes/{name}", Handler: r.remove},
	}
}

func (r *Router) list(ctx context.Context, w http.ResponseWriter, req *http.Request, _ map[string]string) error {
	f, err := httputil.ParseFilters(req.FormValue("filters"))
	if err != nil {
		return err
	}
	out, err := r.b.VolumeList(ctx, f)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, out)
}

func (r *Router) create(ctx context.Context, w http.ResponseWriter, req *http.Request, _ map[string]string) error {
	var body volumetypes.CreateRequest
	if req.Body != nil {
		if err := json.NewDecoder(req.Body).Decode(&body); err != nil && err != io.EOF {
			return fmt.Errorf("invalid JSON in the request body: %v: %w", err, errdefs.ErrInvalidArgument)
		}
	}
	if body.ClusterVolumeSpec != nil {
		return fmt.Errorf("cluster volumes need swarm, which hako does not run: %w", errdefs.ErrNotImplemented)
	}
	v, err := r.b.VolumeCreate(ctx, body)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusCreated, v)
}

func (r *Router) inspect(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	v, err := r.b.VolumeInspect(ctx, vars["name"])
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, v)
}

// update is for cluster volumes only.
func (r *Router) update(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	if _, err := r.b.VolumeInspect(ctx, vars["name"]); err != nil {
		return err
	}
	return fmt.Errorf("volume %s: only cluster volumes can be updated: %w", vars["name"], errdefs.ErrNotImplemented)
}

func (r *Router) remove(ctx context.Context, w http.ResponseWriter, req *http.Request, vars map[string]string) error {
	if err := r.b.VolumeRemove(ctx, vars["name"], httputil.BoolValue(req, "force")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (r *Router) prune(ctx context.Context, w http.ResponseWriter, req *http.Request, _ map[string]string) error {
	f, err := httputil.ParseFilters(req.FormValue("filters"))
	if err != nil {
		return err
	}
	// Before API 1.42 prune removed every unused volume, named ones too.
	if _, ok := f["all"]; !ok && versionBefore(httputil.VersionFromContext(ctx), 1, 42) {
		f["all"] = []string{"true"}
	}
	rep, err := r.b.VolumesPrune(ctx, f)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, rep)
}

func versionBefore(v string, major, minor int) bool {
	a, b, _ := strings.Cut(v, ".")
	x, _ := strconv.Atoi(a)
	y, _ := strconv.Atoi(b)
	return x < major || x == major && y < minor
}

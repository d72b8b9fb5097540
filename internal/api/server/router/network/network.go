// Package network serves the Engine API's network endpoints: list,
// inspect, create, remove, connect, disconnect and prune.
package network

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/hako-dev/hako/internal/api/server/httputil"
	"github.com/hako-dev/hako/internal/errdefs"
	nettypes "github.com/moby/moby/api/types/network"
)

// Backend is what the network endpoints need from the engine.
type Backend interface {
	NetworkCreate(ctx context.Context, req nettypes.CreateRequest) (nettypes.CreateResponse, error)
	NetworkList(ctx context.Context, filters map[string][]string) ([]nettypes.Summary, error)
	NetworkInspect(ctx context.Context, ref string) (nettypes.Inspect, error)
	NetworkRemove(ctx context.Context, ref string) error
	NetworkConnect(ctx context.Context, ref string, req nettypes.ConnectRequest) error
	NetworkDisconnect(ctx context.Context, ref string, req nettypes.DisconnectRequest) error
	NetworksPrune(ctx context.Context, filters map[string][]string) (nettypes.PruneReport, error)
}

// Router serves the network endpoints.
type Router struct{ b Backend }

// New returns the network router.
func New(b Backend) *Router { return &Router{b: b} }

// Routes implements httputil.Router.
func (r *Router) Routes() []httputil.Route {
	return []httputil.Route{
		{Method: http.MethodGet, Path: "/networks", Handler: r.list},
		{Method: http.MethodPost, Path: "/networks/create", Handler: r.create},
		{Method: http.MethodPost, Path: "/networks/prune", Handler: r.prune},
		{Method: http.MethodGet, Path: "/networks/{id}", Handler: r.inspect},
		{Method: http.MethodDelete, Path: "/networks/{id}", Handler: r.remove},
		{Method: http.MethodPost, Path: "/networks/{id}/connect", Handler: r.connect},
		{Method: http.MethodPost, Path: "/networks/{id}/disconnect", Handler: r.disconnect},
	}
}

func decodeBody(req *http.Request, v any) error {
	if req.Body == nil {
		return nil
	}
	if err := json.NewDecoder(req.Body).Decode(v); err != nil && err != io.EOF {
		return fmt.Errorf("invalid JSON in the request body: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	return nil
}

func (r *Router) list(ctx context.Context, w http.ResponseWriter, req *http.Request, _ map[string]string) error {
	f, err := httputil.ParseFilters(req.FormValue("filters"))
	if err != nil {
		return err
	}
	out, err := r.b.NetworkList(ctx, f)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, out)
}

func (r *Router) create(ctx context.Context, w http.ResponseWriter, req *http.Request, _ map[string]string) error {
	var body nettypes.CreateRequest
	if err := decodeBody(req, &body); err != nil {
		return err
	}
	out, err := r.b.NetworkCreate(ctx, body)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusCreated, out)
}

func (r *Router) prune(ctx context.Context, w http.ResponseWriter, req *http.Request, _ map[string]string) error {
	f, err := httputil.ParseFilters(req.FormValue("filters"))
	if err != nil {
		return err
	}
	out, err := r.b.NetworksPrune(ctx, f)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, out)
}

func (r *Router) inspect(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	out, err := r.b.NetworkInspect(ctx, v["id"])
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, out)
}

func (r *Router) remove(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	if err := r.b.NetworkRemove(ctx, v["id"]); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (r *Router) connect(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	var body nettypes.ConnectRequest
	if err := decodeBody(req, &body); err != nil {
		return err
	}
	if err := r.b.NetworkConnect(ctx, v["id"], body); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func (r *Router) disconnect(ctx context.Context, w http.ResponseWriter, req *http.Request, v map[string]string) error {
	var body nettypes.DisconnectRequest
	if err := decodeBody(req, &body); err != nil {
		return err
	}
	if err := r.b.NetworkDisconnect(ctx, v["id"], body); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

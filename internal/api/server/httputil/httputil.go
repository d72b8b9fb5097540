// Package httputil holds what every Engine API router shares: the handler
// signature, JSON replies, and the one place where error categories become
// HTTP status codes.
package httputil

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/hako-dev/hako/internal/errdefs"
)

// Handler serves one API route. vars holds the path's named parts. A
// returned error is written as the API's JSON error with its status.
type Handler func(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error

// Route is one endpoint: a method, a path pattern (segments, where
// "{name}" matches one segment and "{name:.*}" one or more) and a handler.
type Route struct {
	Method  string
	Path    string
	Handler Handler
}

// Router is what a resource package (system, images, containers, ...)
// gives the server.
type Router interface {
	Routes() []Route
}

// WriteJSON replies with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// StatusOf maps an error category to an HTTP status. It is the only such
// mapping of the Engine API.
func StatusOf(err error) int {
	var se *StatusError
	switch {
	case errors.As(err, &se):
		return se.Status
	case errors.Is(err, errdefs.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, errdefs.ErrInvalidArgument):
		return http.StatusBadRequest
	case errors.Is(err, errdefs.ErrAlreadyExists), errors.Is(err, errdefs.ErrConflict):
		return http.StatusConflict
	case errors.Is(err, errdefs.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, errdefs.ErrNotImplemented):
		return http.StatusNotImplemented
	case errors.Is(err, errdefs.ErrPermissionDenied):
		return http.StatusForbidden
	case errors.Is(err, errdefs.ErrNotModified):
		return http.StatusNotModified
	}
	return http.StatusInternalServerError
}

// StatusError carries an explicit status, for errors of the protocol
// itself (a bad API version, an unknown route).
type StatusError struct {
	Status int
	Msg    string
}

func (e *StatusError) Error() string { return e.Msg }

// WriteError writes err as the API's error reply: {"message": "..."}. The
// category suffix errdefs adds (": not found") is dropped from the message,
// as docker's messages have none.
func WriteError(w http.ResponseWriter, err error) {
	if errors.Is(err, errdefs.ErrNotModified) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	msg := err.Error()
	for _, cat := range []error{errdefs.ErrNotFound, errdefs.ErrInvalidArgument, errdefs.ErrAlreadyExists, errdefs.ErrConflict, errdefs.ErrUnavailable, errdefs.ErrNotImplemented, errdefs.ErrPermissionDenied} {
		if errors.Is(err, cat) {
			msg = strings.TrimSuffix(msg, ": "+cat.Error())
			break
		}
	}
	WriteJSON(w, StatusOf(err), map[string]string{"message": msg})
}

// BoolValue reads a boolean query parameter as docker does: "", "0",
// "false" and "no" are false, anything else true.
func BoolValue(r *http.Request, k string) bool {
	switch strings.ToLower(strings.TrimSpace(r.FormValue(k))) {
	case "", "0", "false", "no", "none":
		return false
	}
	return true
}

// Int64Value reads an integer query parameter, def when absent.
func Int64Value(r *http.Request, k string, def int64) (int64, error) {
	v := r.FormValue(k)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, &StatusError{http.StatusBadRequest, "invalid value for " + k + ": " + v}
	}
	return n, nil
}

// VersionFromContext returns the API version of the request (set by the
// server from the URL's /vX.Y prefix, or the default).
func VersionFromContext(ctx context.Context) string {
	v, _ := ctx.Value(versionKey{}).(string)
	return v
}

type versionKey struct{}

// WithVersion returns ctx carrying the API version v.
func WithVersion(ctx context.Context, v string) context.Context {
	return context.WithValue(ctx, versionKey{}, v)
}

// ParseFilters reads docker's "filters" query argument, in its current
// form {"key": {"value": true}} or the older {"key": ["value"]}, as key →
// values. An empty argument is an empty map.
func ParseFilters(v string) (map[string][]string, error) {
	f := map[string][]string{}
	if v == "" {
		return f, nil
	}
	var m map[string]map[string]bool
	if err := json.Unmarshal([]byte(v), &m); err == nil {
		for k, vs := range m {
			for x, on := range vs {
				if on {
					f[k] = append(f[k], x)
				}
			}
		}
		return f, nil
	}
	var l map[string][]string
	if err := json.Unmarshal([]byte(v), &l); err != nil {
		return nil, &StatusError{Status: http.StatusBadRequest, Msg: "invalid filters: " + v}
	}
	for k, vs := range l {
		f[k] = vs
	}
	return f, nil
}

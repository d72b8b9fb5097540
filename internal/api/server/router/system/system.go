// Package system serves the Engine API's system endpoints: /_ping,
// /version, /info and /events.
package system

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hako-dev/hako/internal/api/server/httputil"
	"github.com/hako-dev/hako/internal/errdefs"
	eventtypes "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/system"
)

// Backend is what the system endpoints need from the engine.
type Backend interface {
	Info(ctx context.Context) (*system.Info, error)
	Version(ctx context.Context) *system.VersionResponse
	// SubscribeEvents returns the remembered events at or after since,
	// the stream of new ones, and a cancel function.
	SubscribeEvents(since time.Time) ([]eventtypes.Message, <-chan eventtypes.Message, func())
}

// Router serves the system endpoints.
type Router struct {
	b              Backend
	apiMin, apiMax string
}

// New returns the system router. apiMin and apiMax are the API versions
// the server accepts, for /version and the ping headers.
func New(b Backend, apiMin, apiMax string) *Router {
	return &Router{b: b, apiMin: apiMin, apiMax: apiMax}
}

// Routes implements httputil.Router.
func (s *Router) Routes() []httputil.Route {
	routes := []httputil.Route{
		{Method: http.MethodGet, Path: "/_ping", Handler: s.ping},
		{Method: http.MethodGet, Path: "/version", Handler: s.version},
		{Method: http.MethodGet, Path: "/info", Handler: s.info},
		{Method: http.MethodGet, Path: "/events", Handler: s.events},
		// No plugins: an empty list, as a daemon without any gives.
		{Method: http.MethodGet, Path: "/plugins", Handler: func(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
			return httputil.WriteJSON(w, http.StatusOK, []struct{}{})
		}},
	}
	// Swarm mode: this node is not (and cannot become) a manager; docker's
	// answer for a node outside a swarm, with what hako lacks.
	for _, p := range []string{"/swarm", "/swarm/{op}", "/nodes", "/nodes/{id:.*}", "/services", "/services/{id:.*}", "/tasks", "/tasks/{id:.*}", "/secrets", "/secrets/{id:.*}", "/configs", "/configs/{id:.*}"} {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			routes = append(routes, httputil.Route{Method: m, Path: p, Handler: notSwarm})
		}
	}
	return routes
}

// notSwarm answers the swarm endpoints.
func notSwarm(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	msg := "This node is not a swarm manager. hako does not support swarm mode (services, nodes, secrets, configs)."
	if strings.HasSuffix(r.URL.Path, "/swarm/init") || strings.HasSuffix(r.URL.Path, "/swarm/join") {
		msg = "hako does not support swarm mode: this node cannot start or join a swarm."
	}
	return &httputil.StatusError{Status: http.StatusServiceUnavailable, Msg: msg}
}

func (s *Router) ping(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	h := w.Header()
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Docker-Experimental", "false")
	h.Set("Ostype", "linux")
	// The classic builder protocol: hako builds Dockerfiles itself.
	h.Set("Builder-Version", "1")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write([]byte("OK"))
	}
	return nil
}

func (s *Router) version(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	v := s.b.Version(ctx)
	v.APIVersion, v.MinAPIVersion = s.apiMax, s.apiMin
	for i := range v.Components {
		if v.Components[i].Name == "Engine" {
			if v.Components[i].Details == nil {
				v.Components[i].Details = map[string]string{}
			}
			v.Components[i].Details["ApiVersion"] = s.apiMax
			v.Components[i].Details["MinAPIVersion"] = s.apiMin
		}
	}
	return httputil.WriteJSON(w, http.StatusOK, v)
}

func (s *Router) info(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	info, err := s.b.Info(ctx)
	if err != nil {
		return err
	}
	return httputil.WriteJSON(w, http.StatusOK, info)
}

// events streams events as JSON lines: the remembered ones since "since",
// then new ones until "until" (or until the client goes away).
func (s *Router) events(ctx context.Context, w http.ResponseWriter, r *http.Request, _ map[string]string) error {
	since, err := parseTime(r.FormValue("since"))
	if err != nil {
		return err
	}
	until, err := parseTime(r.FormValue("until"))
	if err != nil {
		return err
	}
	f, err := parseFilters(r.FormValue("filters"))
	if err != nil {
		return err
	}
	past, ch, cancel := s.b.SubscribeEvents(since)
	defer cancel()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush()
	}
	enc := json.NewEncoder(w)
	legacy := apiBefore(httputil.VersionFromContext(ctx), 1, 52)
	send := func(m eventtypes.Message) error {
		if !until.IsZero() && m.TimeNano > until.UnixNano() {
			return errStop
		}
		if !f.match(m) {
			return nil
		}
		var v any = m
		if legacy {
			v = legacyEvent(m)
		}
		if err := enc.Encode(v); err != nil {
			return err
		}
		if flusher != nil {
			flusher.Flush()
		}
		return nil
	}
	for _, m := range past {
		if err := send(m); err != nil {
			return nil
		}
	}
	var timeout <-chan time.Time
	if !until.IsZero() {
		d := time.Until(until)
		if d <= 0 {
			return nil
		}
		timer := time.NewTimer(d)
		defer timer.Stop()
		timeout = timer.C
	}
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				return nil
			}
			if err := send(m); err != nil {
				return nil
			}
		case <-timeout:
			return nil
		case <-ctx.Done():
			return nil
		}
	}
}

var errStop = fmt.Errorf("stop")

// oldEvent is a message with the fields API 1.51 and older still send
// (docker's CLI formats {{.Status}}, {{.ID}}, {{.From}} from them).
type oldEvent struct {
	Status string `json:"status,omitempty"`
	ID     string `json:"id,omitempty"`
	From   string `json:"from,omitempty"`
	eventtypes.Message
}

// legacyEvent fills the old fields as docker did: for containers and
// images, the action, the actor and (containers) the image.
func legacyEvent(m eventtypes.Message) oldEvent {
	e := oldEvent{Message: m}
	switch m.Type {
	case eventtypes.ContainerEventType:
		e.Status, e.ID, e.From = string(m.Action), m.Actor.ID, m.Actor.Attributes["image"]
	case eventtypes.ImageEventType:
		e.Status, e.ID = string(m.Action), m.Actor.ID
	}
	return e
}

// apiBefore reports whether the API version v ("1.51"; "" is the latest)
// is older than major.minor.
func apiBefore(v string, major, minor int) bool {
	if v == "" {
		return false
	}
	a, b, _ := strings.Cut(v, ".")
	x, _ := strconv.Atoi(a)
	y, _ := strconv.Atoi(b)
	return x < major || x == major && y < minor
}

// parseTime reads docker's timestamps: Unix seconds with an optional
// fraction ("1700000000.5"), or RFC 3339.
func parseTime(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if sec, frac, ok := strings.Cut(v, "."); ok || !strings.ContainsAny(v, "-:T") {
		s, err1 := strconv.ParseInt(sec, 10, 64)
		var ns int64
		var err2 error
		if ok {
			frac = (frac + "000000000")[:9]
			ns, err2 = strconv.ParseInt(frac, 10, 64)
		}
		if err1 == nil && err2 == nil {
			return time.Unix(s, ns), nil
		}
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid timestamp %q: %w", v, errdefs.ErrInvalidArgument)
	}
	return t, nil
}

// filters is docker's filter argument: {"type": {"image": true}} (or the
// older {"type": ["image"]}).
type filters map[string][]string

func parseFilters(v string) (filters, error) {
	f, err := httputil.ParseFilters(v)
	return filters(f), err
}

func (f filters) match(m eventtypes.Message) bool {
	for k, vals := range f {
		ok := false
		for _, v := range vals {
			switch k {
			case "type":
				ok = string(m.Type) == v
			case "event":
				ok = string(m.Action) == v || strings.HasPrefix(string(m.Action), v+":")
			case "container", "image", "network", "volume", "daemon":
				ok = string(m.Type) == k && (m.Actor.ID == v || strings.HasPrefix(m.Actor.ID, v) || m.Actor.Attributes["name"] == v)
			case "label":
				lk, lv, hasV := strings.Cut(v, "=")
				av, present := m.Actor.Attributes[lk]
				ok = present && (!hasV || av == lv)
			default:
				ok = true
			}
			if ok {
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// Package server serves the Docker Engine API over HTTP: it strips and
// checks the /vX.Y version prefix, routes requests to the resource routers
// (router/system, ...), and writes errors in the API's JSON form. Routers
// see the daemon only through the small Backend interfaces they declare.
package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/hako-dev/hako/internal/api/server/httputil"
)

// API versions served. The types come from github.com/moby/moby/api, whose
// module version is the API version it describes.
const (
	// MaxAPIVersion is the newest API version understood, and the one
	// used by requests without a version prefix.
	MaxAPIVersion = "1.51"
	// MinAPIVersion is the oldest: docker CLIs from 19.03 on.
	MinAPIVersion = "1.40"
)

// Server routes Engine API requests.
type Server struct {
	routes []compiled
	log    *slog.Logger
}

type compiled struct {
	method string
	re     *regexp.Regexp
	names  []string
	h      httputil.Handler
}

// New returns a server serving the routes of rs.
func New(log *slog.Logger, rs ...httputil.Router) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{log: log}
	for _, r := range rs {
		for _, rt := range r.Routes() {
			s.routes = append(s.routes, compile(rt))
		}
	}
	return s
}

// compile turns "/images/{name:.*}/json" into a regexp.
func compile(rt httputil.Route) compiled {
	var b strings.Builder
	var names []string
	b.WriteString("^")
	for _, seg := range strings.Split(strings.TrimPrefix(rt.Path, "/"), "/") {
		b.WriteString("/")
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			name, pat, _ := strings.Cut(seg[1:len(seg)-1], ":")
			if pat == "" {
				pat = "[^/]+"
			}
			names = append(names, name)
			b.WriteString("(" + pat + ")")
			continue
		}
		b.WriteString(regexp.QuoteMeta(seg))
	}
	b.WriteString("$")
	return compiled{method: rt.Method, re: regexp.MustCompile(b.String()), names: names, h: rt.Handler}
}

var versionPrefix = regexp.MustCompile(`^/v([0-9]+\.[0-9]+)(/.*)$`)

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Server", "hako (linux)")
	w.Header().Set("Api-Version", MaxAPIVersion)
	path := r.URL.Path
	version := MaxAPIVersion
	if m := versionPrefix.FindStringSubmatch(path); m != nil {
		version, path = m[1], m[2]
		if CompareVersions(version, MaxAPIVersion) > 0 {
			httputil.WriteError(w, &httputil.StatusError{Status: http.StatusBadRequest, Msg: fmt.Sprintf("client version %s is too new. Maximum supported API version is %s", version, MaxAPIVersion)})
			return
		}
		if CompareVersions(version, MinAPIVersion) < 0 {
			httputil.WriteError(w, &httputil.StatusError{Status: http.StatusBadRequest, Msg: fmt.Sprintf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", version, MinAPIVersion)})
			return
		}
	}
	ctx := httputil.WithVersion(r.Context(), version)
	methodMatched := false
	for _, rt := range s.routes {
		m := rt.re.FindStringSubmatch(path)
		if m == nil {
			continue
		}
		if rt.method != r.Method && !(rt.method == http.MethodGet && r.Method == http.MethodHead) {
			methodMatched = true
			continue
		}
		vars := make(map[string]string, len(rt.names))
		for i, n := range rt.names {
			vars[n] = m[i+1]
		}
		if err := r.ParseForm(); err != nil {
			httputil.WriteError(w, &httputil.StatusError{Status: http.StatusBadRequest, Msg: err.Error()})
			return
		}
		if err := rt.h(ctx, w, r.WithContext(ctx), vars); err != nil {
			status := httputil.StatusOf(err)
			if status >= 500 {
				s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
			}
			httputil.WriteError(w, err)
		}
		return
	}
	if methodMatched {
		httputil.WriteError(w, &httputil.StatusError{Status: http.StatusMethodNotAllowed, Msg: "method " + r.Method + " not allowed for " + path})
		return
	}
	httputil.WriteError(w, &httputil.StatusError{Status: http.StatusNotFound, Msg: "page not found"})
}

// CompareVersions compares API versions "1.41" and "1.5" numerically: -1,
// 0 or 1.
func CompareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

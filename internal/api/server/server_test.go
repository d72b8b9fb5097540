package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hako-dev/hako/internal/api/server/httputil"
	"github.com/hako-dev/hako/internal/errdefs"
)

type testRouter struct{}

func (testRouter) Routes() []httputil.Route {
	return []httputil.Route{
		{Method: http.MethodGet, Path: "/images/{name:.*}/json", Handler: func(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
			if vars["name"] == "missing" {
				return fmt.Errorf("No such image: missing: %w", errdefs.ErrNotFound)
			}
			return httputil.WriteJSON(w, 200, map[string]string{"name": vars["name"], "version": httputil.VersionFromContext(ctx)})
		}},
		{Method: http.MethodDelete, Path: "/containers/{id}", Handler: func(ctx context.Context, w http.ResponseWriter, r *http.Request, vars map[string]string) error {
			return fmt.Errorf("container %s is running: %w", vars["id"], errdefs.ErrConflict)
		}},
	}
}

func TestRouting(t *testing.T) {
	s := New(nil, testRouter{})
	for _, tc := range []struct {
		method, path string
		status       int
		body         string
	}{
		{"GET", "/v1.45/images/localhost:5000/a/b:1/json", 200, `{"name":"localhost:5000/a/b:1","version":"1.45"}`},
		{"GET", "/images/busybox/json", 200, `{"name":"busybox","version":"` + MaxAPIVersion + `"}`},
		{"HEAD", "/images/busybox/json", 200, ""},
		{"GET", "/v1.45/images/missing/json", 404, `{"message":"No such image: missing"}`},
		{"DELETE", "/v1.45/containers/abc", 409, `{"message":"container abc is running"}`},
		{"POST", "/v1.45/containers/abc", 405, ""},
		{"GET", "/v1.45/nothing", 404, `{"message":"page not found"}`},
		{"GET", "/v9.0/images/x/json", 400, "client version 9.0 is too new"},
		{"GET", "/v1.12/images/x/json", 400, "client version 1.12 is too old"},
	} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if rec.Code != tc.status {
			t.Errorf("%s %s: status %d, want %d (%s)", tc.method, tc.path, rec.Code, tc.status, rec.Body)
		}
		if got := strings.TrimSpace(rec.Body.String()); tc.body != "" && !strings.Contains(got, tc.body) {
			t.Errorf("%s %s: body %s, want %s", tc.method, tc.path, got, tc.body)
		}
		if rec.Code == 200 && rec.Header().Get("Api-Version") != MaxAPIVersion {
			t.Errorf("no Api-Version header")
		}
		if rec.Code >= 400 {
			var m map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || m["message"] == "" {
				t.Errorf("%s %s: error body %q is not {message}", tc.method, tc.path, rec.Body)
			}
		}
	}
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{{"1.40", "1.5", 1}, {"1.5", "1.40", -1}, {"1.51", "1.51", 0}, {"2.0", "1.99", 1}} {
		if got := CompareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("%s vs %s: %d", tc.a, tc.b, got)
		}
	}
}

func TestListenRefusesRemoteTCP(t *testing.T) {
	if _, err := Listen("tcp://0.0.0.0:0", false); !errdefs.IsPermissionDenied(err) {
		t.Fatalf("got %v", err)
	}
	l, err := Listen("tcp://127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := Listen("ftp://x", false); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("got %v", err)
	}
}

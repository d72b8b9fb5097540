package registry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/hako-dev/hako/internal/errdefs"
)

func TestSearchIndex(t *testing.T) {
	for _, c := range []struct{ term, host, query string }{
		{"busybox", "index.docker.io", "busybox"},
		{"library/busybox", "index.docker.io", "library/busybox"},
		{"127.0.0.1:5000/team/app", "127.0.0.1:5000", "team/app"},
		{"localhost/app", "localhost", "app"},
		{"registry.example/app", "registry.example", "app"},
	} {
		if h, q := SearchIndex(c.term); h != c.host || q != c.query {
			t.Errorf("SearchIndex(%q) = %q, %q", c.term, h, q)
		}
	}
}

// Search asks the index's /v1/search over plain HTTP on loopback (once
// HTTPS fails), with the limit and credentials given.
func TestSearch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, _ := r.BasicAuth()
		if r.URL.Path != "/v1/search" || r.URL.Query().Get("q") != "app" || r.URL.Query().Get("n") != "5" || u != "me" || p != "pw" {
			http.Error(w, "unexpected "+r.URL.String(), http.StatusBadRequest)
			return
		}
		w.Write([]byte(`{"num_results":2,"query":"app","results":[{"name":"team/app","description":"the app","star_count":7,"is_official":true},{"name":"team/app2","star_count":1}]}`))
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	auth := authn.FromConfig(authn.AuthConfig{Username: "me", Password: "pw"})
	rs, err := Search(context.Background(), host+"/app", SearchOptions{Limit: 5, Auth: auth})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Name != "team/app" || rs[0].StarCount != 7 || !rs[0].IsOfficial || rs[0].Description != "the app" {
		t.Fatalf("results: %+v", rs)
	}
	if _, err := Search(context.Background(), host+"/app", SearchOptions{Limit: 101}); !errdefs.IsInvalidArgument(err) {
		t.Fatalf("limit 101: %v", err)
	}
	// A registry without the search API.
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	if _, err := Search(context.Background(), strings.TrimPrefix(plain.URL, "http://")+"/app", SearchOptions{}); !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "no search API") {
		t.Fatalf("no search API: %v", err)
	}
}

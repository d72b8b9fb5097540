package registry

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/hako-dev/hako/internal/content"
	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/reference"
)

func writeHosts(t *testing.T, dir, registry, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, registry), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, registry, "hosts.toml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestHostsDirEndpoints(t *testing.T) {
	dir := t.TempDir()
	writeHosts(t, dir, "registry.k8s.io", `
server = "https://registry.k8s.io"

[host."http://127.0.0.1:5001"]
  capabilities = ["pull", "resolve"]
  [host."http://127.0.0.1:5001".header]
    x-mirror = "one"

[host."mirror.example/prefix"]
  capabilities = ["pull"]
  skip_verify = true

[host."https://raw.example/api"]
  override_path = true
`)
	eps, err := HostsDir(dir).Endpoints("registry.k8s.io")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ep := range eps {
		got = append(got, ep.URL.String())
	}
	want := []string{"http://127.0.0.1:5001/v2", "https://mirror.example/prefix/v2", "https://raw.example/api", "https://registry.k8s.io/v2"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("endpoints %v, want %v (in the file's order, server last)", got, want)
	}
	if !eps[0].Pull || !eps[0].Resolve || eps[0].Push || eps[0].Header.Get("X-Mirror") != "one" {
		t.Errorf("first mirror %+v", eps[0])
	}
	if !eps[1].Pull || eps[1].Resolve || eps[1].TLS == nil || !eps[1].TLS.InsecureSkipVerify {
		t.Errorf("second mirror %+v", eps[1])
	}
	if !eps[3].Pull || !eps[3].Resolve || !eps[3].Push {
		t.Errorf("the server has every capability by default: %+v", eps[3])
	}

	if eps, err := HostsDir(dir).Endpoints("quay.io"); err != nil || eps != nil {
		t.Errorf("no configuration: %v %v", eps, err)
	}
	writeHosts(t, dir, "_default", `[host."http://127.0.0.1:5002"]`+"\n")
	eps, err = HostsDir(dir).Endpoints("docker.io")
	if err != nil || len(eps) != 2 || eps[0].URL.Host != "127.0.0.1:5002" || eps[1].URL.String() != "https://registry-1.docker.io/v2" {
		t.Errorf("_default: %+v %v", eps, err)
	}
	if eps, err := HostsDir("").Endpoints("docker.io"); err != nil || eps != nil {
		t.Errorf("no directory: %v %v", eps, err)
	}
}

func TestHostsDirErrors(t *testing.T) {
	for _, body := range []string{
		`server = `,
		`sevrer = "https://x"`,
		`[host."http://a"]` + "\n" + `capabilities = ["pul"]`,
		`[host."ftp://a"]`,
		`[host."http://a"]` + "\n" + `ca = "missing.crt"`,
	} {
		dir := t.TempDir()
		writeHosts(t, dir, "r.example", body)
		_, err := HostsDir(dir).Endpoints("r.example")
		if !errors.Is(err, errdefs.ErrInvalidArgument) || !strings.Contains(err.Error(), "hosts.toml") {
			t.Errorf("%q: %v", body, err)
		}
	}
}

// TestPullThroughMirror pulls an image named after a registry that is
// never contacted: the first mirror is down, the second serves it, and
// the server itself (a local one too, so that nothing leaves the host)
// is the last resort.
func TestPullThroughMirror(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("X-Mirror")+" "+r.URL.Path)
		mu.Unlock()
		reg.ServeHTTP(w, r)
	}))
	defer mirror.Close()
	server := httptest.NewServer(http.NotFoundHandler())
	defer server.Close()

	img, err := random.Image(512, 2)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := name.ParseReference(strings.TrimPrefix(mirror.URL, "http://")+"/e2e-test-images/busybox:1.29", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(dst, img); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	seen = nil
	mu.Unlock()

	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL
	down.Close()
	dir := t.TempDir()
	writeHosts(t, dir, "registry.k8s.io", `server = "`+server.URL+`"

[host."`+downURL+`"]
[host."`+mirror.URL+`"]
  capabilities = ["pull", "resolve"]
  header = { x-mirror = "yes" }
`)
	eps, err := HostsDir(dir).Endpoints("registry.k8s.io")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := content.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ref, err := reference.Parse("registry.k8s.io/e2e-test-images/busybox:1.29")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Pull(context.Background(), cs, ref, Options{Endpoints: eps})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	if p.Manifest.String() != want.String() {
		t.Errorf("pulled %s, want %s", p.Manifest, want)
	}
	for _, l := range p.Layers {
		if !cs.Exists(l.Digest) {
			t.Errorf("layer %s not stored", l.Digest)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Fatal("the mirror was not asked")
	}
	for _, s := range seen {
		if !strings.HasPrefix(s, "yes /v2/") {
			t.Errorf("mirror request %q: want the configured header and the /v2 root", s)
		}
	}

	// A host without resolve is not asked for a tag; with no other
	// host left, the error says so.
	writeHosts(t, dir, "registry.k8s.io", `server = "`+server.URL+`"
capabilities = ["pull"]
`)
	eps, _ = HostsDir(dir).Endpoints("registry.k8s.io")
	if _, err := Pull(context.Background(), cs, ref, Options{Endpoints: eps}); !errors.Is(err, errdefs.ErrInvalidArgument) {
		t.Errorf("pull by tag from pull-only hosts: %v", err)
	}
}

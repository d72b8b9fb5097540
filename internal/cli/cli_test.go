package cli

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// run runs the CLI in-process and returns stdout, stderr and the error.
func run(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &CLI{Out: &out, Err: &errOut}
	root := NewRoot(c)
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	err := root.Execute()
	return out.String(), errOut.String(), err
}

// registryWithAuth is an in-process registry on 127.0.0.1 that wants
// basic auth user:secret.
func registryWithAuth(t *testing.T) string {
	reg := registry.New()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "user" || p != "secret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestLoginManifestLogout(t *testing.T) {
	cfgDir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", cfgDir)
	host := registryWithAuth(t)

	if _, _, err := run(t, "wrong\n", "login", "-u", "user", "--password-stdin", host); err == nil || !strings.Contains(err.Error(), "incorrect username or password") {
		t.Fatalf("bad password: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfgDir, "config.json")); err == nil {
		t.Fatal("a failed login wrote credentials")
	}
	// Keys hako does not know survive a login.
	os.WriteFile(filepath.Join(cfgDir, "config.json"), []byte(`{"psFormat": "table {{.ID}}"}`), 0o600)
	out, _, err := run(t, "secret\n", "login", "-u", "user", "--password-stdin", host)
	if err != nil || !strings.Contains(out, "Login Succeeded") {
		t.Fatalf("login: %q %v", out, err)
	}
	b, _ := os.ReadFile(filepath.Join(cfgDir, "config.json"))
	var cfg struct {
		PsFormat string                       `json:"psFormat"`
		Auths    map[string]map[string]string `json:"auths"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil || cfg.PsFormat == "" || cfg.Auths[host]["auth"] != "dXNlcjpzZWNyZXQ=" {
		t.Fatalf("config.json: %s (%v)", b, err)
	}
	if st, _ := os.Stat(filepath.Join(cfgDir, "config.json")); st.Mode().Perm() != 0o600 {
		t.Errorf("config.json mode %v", st.Mode())
	}

	// An index with two platforms, pushed with the credentials.
	img1, _ := random.Image(64, 1)
	img2, _ := random.Image(64, 1)
	idx, _ := random.Index(64, 1, 0)
	idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img1}, mutate.IndexAddendum{Add: img2})
	ref, _ := name.ParseReference(host + "/test/multi:1")
	if err := remote.WriteIndex(ref, idx, remote.WithAuthFromKeychain(keychain{})); err != nil {
		t.Fatal(err)
	}
	out, _, err = run(t, "", "manifest", "inspect", host+"/test/multi:1")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := idx.RawManifest()
	var want, got any
	json.Unmarshal(raw, &want)
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not JSON: %q", out)
	}
	if gb, _ := json.Marshal(got); string(gb) != string(mustJSON(want)) {
		t.Errorf("manifest inspect printed %s, want %s", gb, mustJSON(want))
	}
	if _, _, err := run(t, "", "manifest", "inspect", host+"/test/none:1"); err == nil {
		t.Error("a missing manifest was found")
	}

	out, _, err = run(t, "", "logout", host)
	if err != nil || !strings.Contains(out, "Removing login credentials for "+host) {
		t.Fatalf("logout: %q %v", out, err)
	}
	if _, _, err := run(t, "", "manifest", "inspect", host+"/test/multi:1"); err == nil {
		t.Error("manifest inspect worked without credentials")
	}
	out, _, _ = run(t, "", "logout", host)
	if !strings.Contains(out, "Not logged in") {
		t.Errorf("second logout: %q", out)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

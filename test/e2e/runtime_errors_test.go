package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hako-dev/hako/internal/testutil"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Bad bundles get a one-line error that names the field or object, a
// non-zero exit, and leave nothing behind.
func TestRuntimeBadBundles(t *testing.T) {
	r := newRT(t)
	existing := id(t)
	r.must("create", "--bundle", testutil.Bundle(t, testutil.Spec(t, "sleep", "100")), existing)
	defer r.must("delete", "-f", existing)

	tests := []struct {
		name  string
		setup func(t *testing.T) string // returns the bundle
		id    string
		want  string
	}{
		{"missing config.json", func(t *testing.T) string { return t.TempDir() }, "", "config.json not found"},
		{"invalid JSON", func(t *testing.T) string {
			d := t.TempDir()
			os.WriteFile(filepath.Join(d, "config.json"), []byte("{\"ociVersion\": \"1.0.0\",\n\"process\": }"), 0o644)
			return d
		}, "", "invalid JSON at line 2"},
		{"unknown namespace type", func(t *testing.T) string {
			s := testutil.Spec(t, "true")
			s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: "bogus"})
			return testutil.Bundle(t, s)
		}, "", `linux.namespaces[6].type: unknown namespace type "bogus"`},
		{"missing rootfs", func(t *testing.T) string {
			s := testutil.Spec(t, "true")
			s.Root.Path = "/nonexistent-rootfs"
			return testutil.Bundle(t, s)
		}, "", `root.path "/nonexistent-rootfs": no such directory`},
		{"relative mount destination", func(t *testing.T) string {
			s := testutil.Spec(t, "true")
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "data", Type: "tmpfs", Source: "tmpfs"})
			return testutil.Bundle(t, s)
		}, "", `mounts[7].destination "data": must be an absolute path`},
		{"unknown capability", func(t *testing.T) string {
			s := testutil.Spec(t, "true")
			s.Process.Capabilities.Effective = append(s.Process.Capabilities.Effective, "CAP_BOGUS")
			return testutil.Bundle(t, s)
		}, "", `process.capabilities.effective[3]: unknown capability "CAP_BOGUS"`},
		{"existing id", func(t *testing.T) string { return testutil.Bundle(t, testutil.Spec(t, "true")) }, existing,
			"already exists"},
		{"bad mount source", func(t *testing.T) string {
			s := testutil.Spec(t, "true")
			s.Mounts = append(s.Mounts, specs.Mount{Destination: "/data", Type: "bind", Source: "/nonexistent-source", Options: []string{"rbind"}})
			return testutil.Bundle(t, s)
		}, "", "mounts[7] (/nonexistent-source on /data): source: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cid := tt.id
			if cid == "" {
				cid = id(t)
			}
			_, errOut, code := r.run("create", "--bundle", tt.setup(t), cid)
			if code == 0 {
				t.Fatal("accepted")
			}
			msg := strings.TrimSpace(errOut)
			if !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not name %q", msg, tt.want)
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			if cid != existing {
				r.assertGone(cid)
			}
		})
	}
	if st := r.state(existing); st.Status != "created" {
		t.Errorf("the existing container was disturbed: %s", st.Status)
	}
}

func TestRuntimeUnknownFlag(t *testing.T) {
	r := newRT(t)
	_, errOut, code := r.run("create", "--bogus", "x")
	if code == 0 || !strings.Contains(errOut, "unknown flag: --bogus") {
		t.Errorf("unknown flag: %d %q", code, errOut)
	}
}

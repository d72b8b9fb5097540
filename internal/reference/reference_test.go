package reference

import (
	"testing"

	"github.com/hako-dev/hako/internal/errdefs"
)

func TestParse(t *testing.T) {
	const d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		in, full, familiar, domain, path, tag string
		digest                                string
	}{
		{"busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io", "library/busybox", "latest", ""},
		{"busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36", "docker.io", "library/busybox", "1.36", ""},
		{"docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest", "docker.io", "library/busybox", "latest", ""},
		{"foo/bar", "docker.io/foo/bar:latest", "foo/bar:latest", "docker.io", "foo/bar", "latest", ""},
		{"localhost:5000/x/y:1", "localhost:5000/x/y:1", "localhost:5000/x/y:1", "localhost:5000", "x/y", "1", ""},
		{"127.0.0.1:5000/x@" + d, "127.0.0.1:5000/x@" + d, "127.0.0.1:5000/x@" + d, "127.0.0.1:5000", "x", "", d},
		{"busybox:1@" + d, "docker.io/library/busybox:1@" + d, "busybox:1@" + d, "docker.io", "library/busybox", "1", d},
	} {
		r, err := Parse(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if r.String() != tc.full || r.Familiar() != tc.familiar || r.Domain() != tc.domain || r.Path() != tc.path || r.Tag() != tc.tag || string(r.Digest()) != tc.digest {
			t.Errorf("%s: %s %s %s %s %s %s", tc.in, r, r.Familiar(), r.Domain(), r.Path(), r.Tag(), r.Digest())
		}
	}
	for _, bad := range []string{"", "BusyBox", "busybox:", "a b", "busybox@sha256:123", ":tag", "-x"} {
		if _, err := Parse(bad); !errdefs.IsInvalidArgument(err) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestWith(t *testing.T) {
	r, _ := Parse("localhost:5000/app:1")
	r2, err := r.WithTag("2")
	if err != nil || r2.String() != "localhost:5000/app:2" {
		t.Fatalf("%s %v", r2, err)
	}
	if _, err := r.WithTag("bad tag"); err == nil {
		t.Error("bad tag accepted")
	}
	if r.Name() != "localhost:5000/app" || r.FamiliarName() != "localhost:5000/app" {
		t.Errorf("name %s %s", r.Name(), r.FamiliarName())
	}
	repo, err := ParseRepository("busybox")
	if err != nil || repo.Name() != "docker.io/library/busybox" || repo.Tag() != "" {
		t.Errorf("repository: %s %v", repo, err)
	}
	if _, err := ParseRepository("busybox:1"); err == nil {
		t.Error("a tag accepted as a repository")
	}
}

func TestLooksLikeID(t *testing.T) {
	for s, want := range map[string]bool{"abc123": true, "sha256:abc": true, "busybox": false, "": false, "ABC": false} {
		if LooksLikeID(s) != want {
			t.Errorf("%q: %v", s, !want)
		}
	}
}

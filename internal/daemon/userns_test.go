package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hako-dev/hako/internal/daemon/container"
	"github.com/hako-dev/hako/internal/errdefs"
)

func TestParseUsernsRemap(t *testing.T) {
	dir := t.TempDir()
	oldU, oldG := subuidFile, subgidFile
	subuidFile, subgidFile = filepath.Join(dir, "subuid"), filepath.Join(dir, "subgid")
	t.Cleanup(func() { subuidFile, subgidFile = oldU, oldG })
	os.WriteFile(subuidFile, []byte("alice:100000:65536\nbob:165536:65536\n"), 0o644)
	os.WriteFile(subgidFile, []byte("alice:100000:65536\nstaff:300000:1000\n"), 0o644)
	for _, c := range []struct {
		v    string
		want *container.IDMap
		err  error
	}{
		{"", nil, nil},
		{"200000:210000:5000", &container.IDMap{UID: 200000, GID: 210000, Size: 5000}, nil},
		{"0:0:65536", nil, errdefs.ErrInvalidArgument},
		{"alice", &container.IDMap{UID: 100000, GID: 100000, Size: 65536}, nil},
		{"bob:staff", &container.IDMap{UID: 165536, GID: 300000, Size: 1000}, nil},
		{"carol", nil, errdefs.ErrNotFound},
	} {
		got, err := ParseUsernsRemap(c.v)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("%q: %v, want %v", c.v, err, c.err)
			}
			continue
		}
		if err != nil || (got == nil) != (c.want == nil) || got != nil && *got != *c.want {
			t.Errorf("%q: %+v %v, want %+v", c.v, got, err, c.want)
		}
	}
	// default: the user hako gets a range after the others, once.
	for range 2 {
		got, err := ParseUsernsRemap("default")
		if err != nil || *got != (container.IDMap{UID: 262144, GID: 327680, Size: 65536}) {
			t.Fatalf("default: %+v %v", got, err)
		}
	}
	b, _ := os.ReadFile(subuidFile)
	if strings.Count(string(b), "hako:") != 1 || !strings.HasSuffix(string(b), "hako:262144:65536\n") {
		t.Fatalf("subuid: %q", b)
	}
}

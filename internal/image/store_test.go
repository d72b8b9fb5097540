package image

import (
	"path/filepath"
	"testing"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
)

func newStore(t *testing.T) *Store {
	db, err := bolt.Open(filepath.Join(t.TempDir(), "m.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNamesMoveAndResolve(t *testing.T) {
	s := newStore(t)
	a := &Image{ID: digest.FromString("a")}
	b := &Image{ID: digest.FromString("b")}
	if err := s.Put(a, "docker.io/library/busybox:latest"); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(b, "docker.io/library/busybox:1"); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]digest.Digest{"busybox": a.ID, "busybox:latest": a.ID, "docker.io/library/busybox:1": b.ID, a.ID.Encoded()[:6]: a.ID, b.ID.String(): b.ID} {
		img, err := s.Get(name)
		if err != nil || img.ID != want {
			t.Errorf("%s: %v %v", name, img, err)
		}
	}
	// "latest" moves to b: a keeps no names.
	if err := s.Tag("busybox:1", "busybox"); err != nil {
		t.Fatal(err)
	}
	if img, _ := s.Get("busybox"); img.ID != b.ID {
		t.Errorf("tag did not move")
	}
	if img, _ := s.Get(a.ID.String()); len(img.Names) != 0 {
		t.Errorf("a still named %v", img.Names)
	}
	img, last, err := s.Untag("busybox:1")
	if err != nil || last || img.ID != b.ID {
		t.Errorf("untag: %v %v %v", img, last, err)
	}
	if _, _, err := s.Untag("busybox:1"); !errdefs.IsNotFound(err) {
		t.Errorf("second untag: %v", err)
	}
	if err := s.Delete(b.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("busybox"); !errdefs.IsNotFound(err) {
		t.Errorf("after delete: %v", err)
	}
	if err := s.Tag("busybox", "x@sha256:"+a.ID.Encoded()); err == nil {
		t.Error("tag with a digest accepted")
	}
}

func TestAmbiguousPrefix(t *testing.T) {
	s := newStore(t)
	// Two IDs sharing a first hex digit.
	var ids []digest.Digest
	for i := 0; len(ids) < 2; i++ {
		d := digest.FromString(string(rune('a' + i)))
		if len(ids) == 0 || d.Encoded()[0] == ids[0].Encoded()[0] {
			ids = append(ids, d)
		}
		if i > 1000 {
			t.Skip("no shared prefix found")
		}
	}
	for _, id := range ids {
		s.Put(&Image{ID: id})
	}
	if _, err := s.Get(ids[0].Encoded()[:1]); !errdefs.IsInvalidArgument(err) {
		t.Errorf("ambiguous prefix: %v", err)
	}
}

// Package testsuite is the conformance suite every snapshotter passes:
// call Run from the driver's tests with a factory.
package testsuite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/hako-dev/hako/internal/mount"
	"github.com/hako-dev/hako/internal/snapshot"
)

// Factory makes a snapshotter rooted at root.
type Factory func(root string) (snapshot.Snapshotter, error)

// Run runs the suite. It mounts for real: the caller must be root.
func Run(t *testing.T, f Factory) {
	for name, test := range map[string]func(*testing.T, snapshot.Snapshotter, string){
		"layers and copy-up":   layersAndCopyUp,
		"whiteout via delete":  deleteHidesLower,
		"remove with children": removeWithChildren,
		"errors":               errorsTest,
		"usage":                usage,
		"many layers":          manyLayers,
		"cleanup orphans":      cleanup,
	} {
		t.Run(name, func(t *testing.T) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to mount")
			}
			// Not tmpfs: overlay upper dirs want a real filesystem.
			root, err := os.MkdirTemp("/var/tmp", "hako-snap-test-")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(root) })
			s, err := f(filepath.Join(root, "store"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			test(t, s, root)
		})
	}
}

// mountAt mounts ms on a fresh dir under root, unmounted at cleanup.
func mountAt(t *testing.T, root string, ms []mount.Mount) string {
	t.Helper()
	dir, err := os.MkdirTemp(root, "mnt-")
	if err != nil {
		t.Fatal(err)
	}
	if err := mount.All(ms, dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mount.Unmount(dir) })
	return dir
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(dir, name string) string {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

// commitLayer prepares key on parent, lets fill write into it, commits.
func commitLayer(t *testing.T, s snapshot.Snapshotter, root, name, parent string, fill func(dir string)) {
	t.Helper()
	ctx := context.Background()
	ms, err := s.Prepare(ctx, name+"-active", parent)
	if err != nil {
		t.Fatal(err)
	}
	dir := mountAt(t, root, ms)
	fill(dir)
	mount.Unmount(dir)
	if err := s.Commit(ctx, name, name+"-active"); err != nil {
		t.Fatal(err)
	}
}

func layersAndCopyUp(t *testing.T, s snapshot.Snapshotter, root string) {
	ctx := context.Background()
	commitLayer(t, s, root, "base", "", func(d string) { write(t, d, "etc/os", "base"); write(t, d, "bin/sh", "sh") })
	commitLayer(t, s, root, "top", "base", func(d string) { write(t, d, "etc/app", "app") })
	ms, err := s.Prepare(ctx, "ctr", "top")
	if err != nil {
		t.Fatal(err)
	}
	c := mountAt(t, root, ms)
	if read(c, "etc/os") != "base" || read(c, "etc/app") != "app" || read(c, "bin/sh") != "sh" {
		t.Fatalf("lower files not visible: %q %q", read(c, "etc/os"), read(c, "etc/app"))
	}
	write(t, c, "etc/os", "changed")
	write(t, c, "new", "n")
	// The committed layers did not change: a view of top sees the originals.
	vm, err := s.View(ctx, "view", "top")
	if err != nil {
		t.Fatal(err)
	}
	v := mountAt(t, root, vm)
	if read(v, "etc/os") != "base" || read(v, "new") == "n" {
		t.Errorf("copy-up changed a lower layer: %q", read(v, "etc/os"))
	}
	if err := os.WriteFile(filepath.Join(v, "x"), []byte("x"), 0o644); err == nil {
		t.Error("a view is writable")
	}
	// The container's own changes are in its own directory.
	own, err := s.Dir(ctx, "ctr")
	if err != nil {
		t.Fatal(err)
	}
	if read(own, "new") != "n" {
		t.Errorf("the active snapshot's dir %s lacks its file", own)
	}
	info, err := s.Stat(ctx, "ctr")
	if err != nil || info.Kind != snapshot.Active || info.Parent != "top" {
		t.Errorf("stat: %+v %v", info, err)
	}
	ms2, err := s.Mounts(ctx, "ctr")
	if err != nil || len(ms2) != len(ms) {
		t.Errorf("mounts: %v %v", ms2, err)
	}
}

func deleteHidesLower(t *testing.T, s snapshot.Snapshotter, root string) {
	ctx := context.Background()
	commitLayer(t, s, root, "base", "", func(d string) { write(t, d, "a", "1"); write(t, d, "dir/b", "2") })
	commitLayer(t, s, root, "del", "base", func(d string) {
		os.Remove(filepath.Join(d, "a"))
		os.RemoveAll(filepath.Join(d, "dir"))
	})
	vm, err := s.View(ctx, "v", "del")
	if err != nil {
		t.Fatal(err)
	}
	v := mountAt(t, root, vm)
	if _, err := os.Stat(filepath.Join(v, "a")); err == nil {
		t.Error("deleted file visible")
	}
	if _, err := os.Stat(filepath.Join(v, "dir")); err == nil {
		t.Error("deleted dir visible")
	}
}

func removeWithChildren(t *testing.T, s snapshot.Snapshotter, root string) {
	ctx := context.Background()
	commitLayer(t, s, root, "base", "", func(d string) { write(t, d, "a", "1") })
	if _, err := s.Prepare(ctx, "child", "base"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, "base"); !errdefs.IsConflict(err) {
		t.Fatalf("remove with a child: %v", err)
	}
	dir, _ := s.Dir(ctx, "child")
	if err := s.Remove(ctx, "child"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("dir of a removed snapshot left: %v", err)
	}
	if err := s.Remove(ctx, "base"); err != nil {
		t.Fatal(err)
	}
	n := 0
	s.Walk(ctx, func(snapshot.Info) error { n++; return nil })
	if n != 0 {
		t.Errorf("%d snapshots left", n)
	}
}

func errorsTest(t *testing.T, s snapshot.Snapshotter, root string) {
	ctx := context.Background()
	if _, err := s.Prepare(ctx, "x", "nope"); !errdefs.IsNotFound(err) {
		t.Errorf("missing parent: %v", err)
	}
	if _, err := s.Prepare(ctx, "x", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prepare(ctx, "x", ""); !errdefs.IsAlreadyExists(err) {
		t.Errorf("duplicate key: %v", err)
	}
	if _, err := s.Prepare(ctx, "y", "x"); !errdefs.IsInvalidArgument(err) {
		t.Errorf("active parent: %v", err)
	}
	if err := s.Commit(ctx, "z", "nope"); !errdefs.IsNotFound(err) {
		t.Errorf("commit of a missing key: %v", err)
	}
	if _, err := s.Stat(ctx, "nope"); !errdefs.IsNotFound(err) {
		t.Errorf("stat: %v", err)
	}
}

func usage(t *testing.T, s snapshot.Snapshotter, root string) {
	ctx := context.Background()
	commitLayer(t, s, root, "base", "", func(d string) { write(t, d, "big", strings.Repeat("x", 1<<20)) })
	u, err := s.Usage(ctx, "base")
	if err != nil || u.Size < 1<<20 || u.Inodes < 2 {
		t.Errorf("usage: %+v %v", u, err)
	}
}

func manyLayers(t *testing.T, s snapshot.Snapshotter, root string) {
	ctx := context.Background()
	parent := ""
	const n = 130 // with this root's long paths, past mount(2)'s one page of options
	for i := range n {
		name := fmt.Sprintf("layer-%03d", i)
		commitLayer(t, s, root, name, parent, func(d string) { write(t, d, fmt.Sprintf("f%03d", i), name) })
		parent = name
	}
	ms, err := s.Prepare(ctx, "top", parent)
	if err != nil {
		t.Fatal(err)
	}
	c := mountAt(t, root, ms)
	if read(c, "f000") != "layer-000" || read(c, fmt.Sprintf("f%03d", n-1)) != fmt.Sprintf("layer-%03d", n-1) {
		t.Errorf("files of %d layers: %q", n, read(c, "f000"))
	}
}

func cleanup(t *testing.T, s snapshot.Snapshotter, root string) {
	ctx := context.Background()
	commitLayer(t, s, root, "keep", "", func(d string) { write(t, d, "a", "1") })
	keep, _ := s.Dir(ctx, "keep")
	orphan := filepath.Join(filepath.Dir(filepath.Dir(keep)), "999999")
	os.MkdirAll(filepath.Join(orphan, "fs"), 0o755)
	if err := s.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Error("orphan kept")
	}
	if read(keep, "a") != "1" {
		t.Error("owned snapshot removed")
	}
}

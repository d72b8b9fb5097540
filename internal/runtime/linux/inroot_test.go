package linux

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func openRoot(t *testing.T, dir string) int {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

func fdTarget(t *testing.T, fd int) string {
	t.Helper()
	p, err := os.Readlink(FdPath(fd))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMkdirAllInRootConfined(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	// An absolute symlink and a relative ..-symlink both try to escape.
	if err := os.Symlink(outside, filepath.Join(root, "abs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../../"+filepath.Base(outside), filepath.Join(root, "rel")); err != nil {
		t.Fatal(err)
	}
	rfd := openRoot(t, root)
	for _, p := range []string{"/abs/x/y", "rel/z", "/../../etc/hako-escape"} {
		fd, err := MkdirAllInRoot(rfd, p, 0o755)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		got := fdTarget(t, fd)
		unix.Close(fd)
		if rel, err := filepath.Rel(root, got); err != nil || rel == ".." || filepath.IsAbs(rel) || len(rel) >= 2 && rel[:2] == ".." {
			t.Errorf("%s resolved outside the root: %s", p, got)
		}
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 0 {
		t.Fatalf("something was created outside the root: %v", entries)
	}
}

func TestMkfileInRoot(t *testing.T) {
	root := t.TempDir()
	rfd := openRoot(t, root)
	// A dangling symlink to an absolute path is created inside the root.
	if err := os.Symlink("/etc/resolv.conf", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	fd, err := MkfileInRoot(rfd, "/link")
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if _, err := os.Stat(filepath.Join(root, "etc/resolv.conf")); err != nil {
		t.Fatalf("symlink target not created inside root: %v", err)
	}
	fd, err = MkfileInRoot(rfd, "/a/b/c")
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	if fi, err := os.Stat(filepath.Join(root, "a/b/c")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("file not created: %v", err)
	}
}

func TestMkdirAllInRootNotDir(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rfd := openRoot(t, root)
	if _, err := MkdirAllInRoot(rfd, "/f/sub", 0o755); err == nil {
		t.Fatal("mkdir through a file succeeded")
	}
}

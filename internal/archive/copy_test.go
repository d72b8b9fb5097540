package archive

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hako-dev/hako/internal/errdefs"
	"golang.org/x/sys/unix"
)

// hostileRoot builds a container root full of symlinks that lead out of
// it if followed on the host, next to a host file they must never reach.
func hostileRoot(t *testing.T) (root, outside string) {
	t.Helper()
	needRoot(t)
	dir := t.TempDir()
	root, outside = filepath.Join(dir, "root"), filepath.Join(dir, "outside")
	up := strings.Repeat("../", 20)
	files := map[string]string{
		"etc/passwd": "container passwd\n",
		"etc/hosts":  "container hosts\n",
		"bin/sh":     "sh",
	}
	for rel, body := range files {
		os.MkdirAll(filepath.Join(root, filepath.Dir(rel)), 0o755)
		if err := os.WriteFile(filepath.Join(root, rel), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(root, "work"), 0o755)
	os.MkdirAll(outside, 0o755)
	os.WriteFile(filepath.Join(outside, "secret"), []byte("host secret"), 0o600)
	links := map[string]string{
		"abs":        "/etc/passwd",
		"climb":      up + "etc/passwd",
		"dirlink":    "/etc",
		"dangling":   "/nonexistent/x",
		"esc":        "../outside",
		"loop":       "loop",
		"work/up":    up,
		"work/hosts": "/etc/hosts",
	}
	for rel, target := range links {
		if err := os.Symlink(target, filepath.Join(root, rel)); err != nil {
			t.Fatal(err)
		}
	}
	return root, outside
}

// bothResolvers runs f with openat2 and with the userspace walk used on
// kernels without it.
func bothResolvers(t *testing.T, f func(t *testing.T)) {
	t.Run("openat2", f)
	t.Run("walk", func(t *testing.T) {
		useOpenat2 = false
		defer func() { useOpenat2 = true }()
		f(t)
	})
}

func TestStatPath(t *testing.T) {
	bothResolvers(t, func(t *testing.T) {
		root, _ := hostileRoot(t)
		for _, tc := range []struct {
			path, name, link string
			mode             os.FileMode
		}{
			{"/etc/passwd", "passwd", "", 0o644},
			{"etc/passwd", "passwd", "", 0o644},
			{"/abs", "abs", "/etc/passwd", os.ModeSymlink | 0o777},
			{"/climb", "climb", "/etc/passwd", os.ModeSymlink | 0o777},
			{"/dangling", "dangling", "/nonexistent/x", os.ModeSymlink | 0o777},
			{"/dirlink/", "dirlink", "", os.ModeDir | 0o755},
			{"/dirlink/passwd", "passwd", "", 0o644},
			{"/etc/.", ".", "", os.ModeDir | 0o755},
			{"/", "/", "", os.ModeDir | 0o755},
			{"/work/../etc/hosts", "hosts", "", 0o644},
		} {
			ps, err := StatPath(root, tc.path)
			if err != nil {
				t.Errorf("%s: %v", tc.path, err)
				continue
			}
			if ps.Name != tc.name || ps.LinkTarget != tc.link || ps.Mode != tc.mode {
				t.Errorf("%s: name %q link %q mode %v; want %q %q %v", tc.path, ps.Name, ps.LinkTarget, ps.Mode, tc.name, tc.link, tc.mode)
			}
		}
		if ps, _ := StatPath(root, "/etc/passwd"); ps.Size != int64(len("container passwd\n")) || ps.Mtime.IsZero() {
			t.Errorf("size %d mtime %v", ps.Size, ps.Mtime)
		}
		for _, p := range []string{"/nope", "/esc/secret", "/../outside/secret", "/climb/x", "/dangling/"} {
			if _, err := StatPath(root, p); !errdefs.IsNotFound(err) {
				t.Errorf("%s: %v, want not found", p, err)
			}
		}
		if _, err := StatPath(root, "/loop/"); err == nil || errdefs.IsNotFound(err) {
			t.Errorf("loop: %v", err)
		}
	})
}

func tarNames(t *testing.T, root, path string) ([]tarEnt, error) {
	t.Helper()
	var buf bytes.Buffer
	if err := TarPath(&buf, root, path); err != nil {
		return nil, err
	}
	return readTar(t, buf.Bytes()), nil
}

func TestTarPath(t *testing.T) {
	bothResolvers(t, func(t *testing.T) {
		root, _ := hostileRoot(t)
		for _, tc := range []struct {
			path string
			want []string
		}{
			{"/abs", []string{"2 abs -> /etc/passwd"}},
			{"/etc/passwd", []string{"0 passwd"}},
			{"/climb", []string{"2 climb -> " + strings.Repeat("../", 20) + "etc/passwd"}},
			{"/etc", []string{"5 etc/", "0 etc/hosts", "0 etc/passwd"}},
			{"/dirlink", []string{"2 dirlink -> /etc"}},
			{"/dirlink/", []string{"5 dirlink/", "0 dirlink/hosts", "0 dirlink/passwd"}},
			{"/dirlink/.", []string{"5 ./", "0 ./hosts", "0 ./passwd"}},
			{"/work/up/etc/hosts", []string{"0 hosts"}},
		} {
			ents, err := tarNames(t, root, tc.path)
			if err != nil {
				t.Errorf("%s: %v", tc.path, err)
				continue
			}
			if got := entryLines(ents); !slices.Equal(got, tc.want) {
				t.Errorf("%s: %q, want %q", tc.path, got, tc.want)
			}
			for _, e := range ents {
				if strings.Contains(e.body, "host") && !strings.Contains(e.body, "container") {
					t.Errorf("%s: read a host file: %q", tc.path, e.body)
				}
			}
		}
		ents, err := tarNames(t, root, "/")
		if err != nil {
			t.Fatal(err)
		}
		if ents[0].name != "/" || !slices.ContainsFunc(ents, func(e tarEnt) bool { return e.name == "/etc/passwd" && e.body == "container passwd\n" }) {
			t.Errorf("root: %q", entryLines(ents))
		}
		for _, p := range []string{"/esc/secret", "/../outside/secret", "/abs/x"} {
			if _, err := tarNames(t, root, p); !errdefs.IsNotFound(err) {
				t.Errorf("%s: %v, want not found", p, err)
			}
		}
		if _, err := tarNames(t, root, "/abs/"); !errdefs.IsInvalidArgument(err) {
			t.Errorf("/abs/: %v, want not a directory", err)
		}
	})
}

func TestExtractTo(t *testing.T) {
	bothResolvers(t, func(t *testing.T) {
		root, outside := hostileRoot(t)
		data := layer(t,
			ent{name: "./", typ: tar.TypeDir, mode: 0o700},
			ent{name: "/abs.txt", body: "abs"},
			ent{name: "owned", body: "o", uid: 1234, gid: 4321, mode: 0o640},
			ent{name: "sub/deep/f", body: "deep"},
			ent{name: "sub/link", typ: tar.TypeSymlink, link: "/etc/shadow"},
			ent{name: "sub/hard", typ: tar.TypeLink, link: "owned"},
			ent{name: "up/hako-extract-escape", body: "x"},
			ent{name: "viaroot", typ: tar.TypeLink, link: "up/etc/passwd"},
			ent{name: "pipe", typ: tar.TypeFifo, mode: 0o641},
			ent{name: ".wh.keep", body: "an ordinary file here"},
		)
		if err := ExtractTo(root, "/work", bytes.NewReader(data), false); err != nil {
			t.Fatal(err)
		}
		w := filepath.Join(root, "work")
		var st unix.Stat_t
		unix.Stat(w, &st)
		if st.Mode&0o777 != 0o755 {
			t.Errorf("the top entry changed the target directory: %o", st.Mode&0o777)
		}
		if b, _ := os.ReadFile(filepath.Join(w, "abs.txt")); string(b) != "abs" {
			t.Errorf("abs.txt: %q", b)
		}
		unix.Lstat(filepath.Join(w, "owned"), &st)
		if st.Uid != 1234 || st.Gid != 4321 || st.Mode&0o777 != 0o640 || st.Nlink != 2 {
			t.Errorf("owned: uid %d gid %d mode %o nlink %d", st.Uid, st.Gid, st.Mode&0o777, st.Nlink)
		}
		if l, _ := os.Readlink(filepath.Join(w, "sub/link")); l != "/etc/shadow" {
			t.Errorf("sub/link -> %q", l)
		}
		// "up" leads to the container's root, not the host's.
		if _, err := os.Stat(filepath.Join(root, "hako-extract-escape")); err != nil {
			t.Errorf("write through work/up: %v", err)
		}
		if _, err := os.Lstat("/hako-extract-escape"); err == nil {
			os.Remove("/hako-extract-escape")
			t.Fatal("wrote to the host's root directory")
		}
		var cst, hst unix.Stat_t
		unix.Stat(filepath.Join(root, "etc/passwd"), &cst)
		unix.Stat(filepath.Join(w, "viaroot"), &hst)
		if cst.Ino != hst.Ino {
			t.Error("viaroot is not a hardlink of the container's /etc/passwd")
		}
		unix.Lstat(filepath.Join(w, "pipe"), &st)
		if st.Mode != unix.S_IFIFO|0o641 {
			t.Errorf("pipe mode %o", st.Mode)
		}
		if _, err := os.Stat(filepath.Join(w, ".wh.keep")); err != nil {
			t.Error(err)
		}

		// Into a symlink to a directory: resolved inside the root.
		if err := ExtractTo(root, "/dirlink", bytes.NewReader(layer(t, ent{name: "fromcp", body: "c"})), false); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(root, "etc/fromcp")); err != nil {
			t.Error(err)
		}
		if _, err := os.Lstat("/etc/fromcp"); err == nil {
			t.Fatal("wrote to the host's /etc")
		}

		// Hostile entries.
		for name, l := range map[string][]byte{
			"dotdot":       layer(t, ent{name: "../../escape", body: "x"}),
			"abs dotdot":   layer(t, ent{name: "/../escape", body: "x"}),
			"hardlink out": layer(t, ent{name: "h", typ: tar.TypeLink, link: "../../outside/secret"}),
		} {
			if err := ExtractTo(root, "/work", bytes.NewReader(l), false); !errors.Is(err, ErrUnsafePath) {
				t.Errorf("%s: %v, want unsafe path", name, err)
			}
		}
		if err := ExtractTo(root, "/work", bytes.NewReader(layer(t, ent{name: "h2", typ: tar.TypeLink, link: "/etc/passwd"})), false); err == nil {
			t.Error("a hardlink to a name outside the archive's directory worked")
		}
		if err := ExtractTo(root, "/esc", bytes.NewReader(layer(t, ent{name: "x", body: "x"})), false); !errdefs.IsNotFound(err) {
			t.Errorf("into a symlink out of the root: %v", err)
		}
		ents, _ := os.ReadDir(outside)
		if len(ents) != 1 {
			t.Errorf("the host directory next to the root changed: %v", ents)
		}

		// The target directory.
		if err := ExtractTo(root, "/nope", bytes.NewReader(data), false); !errdefs.IsNotFound(err) {
			t.Errorf("missing directory: %v", err)
		}
		if err := ExtractTo(root, "/etc/passwd", bytes.NewReader(data), false); !errdefs.IsInvalidArgument(err) {
			t.Errorf("a file: %v", err)
		}
	})
}

func TestExtractToOverwrite(t *testing.T) {
	needRoot(t)
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "d/keep"), 0o755)
	os.WriteFile(filepath.Join(root, "f"), []byte("f"), 0o644)
	fileOverDir := layer(t, ent{name: "d", body: "now a file"})
	dirOverFile := layer(t, ent{name: "f/", typ: tar.TypeDir})
	for _, l := range [][]byte{fileOverDir, dirOverFile} {
		if err := ExtractTo(root, "/", bytes.NewReader(l), true); !errdefs.IsInvalidArgument(err) {
			t.Errorf("noOverwriteDirNonDir: %v", err)
		}
	}
	if fi, _ := os.Stat(filepath.Join(root, "d")); !fi.IsDir() {
		t.Error("d was replaced")
	}
	// A directory merges into a directory, whatever the flag.
	if err := ExtractTo(root, "/", bytes.NewReader(layer(t, ent{name: "d/", typ: tar.TypeDir}, ent{name: "d/new", body: "n"})), true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "d/keep")); err != nil {
		t.Error("merging lost d/keep")
	}
	for _, l := range [][]byte{fileOverDir, dirOverFile} {
		if err := ExtractTo(root, "/", bytes.NewReader(l), false); err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "d")); string(b) != "now a file" {
		t.Errorf("d: %q", b)
	}
	if fi, _ := os.Stat(filepath.Join(root, "f")); !fi.IsDir() {
		t.Error("f is not a directory")
	}

	// copyUIDGID: the container user's IDs instead of the tar's.
	err := ExtractToWithOptions(root, "/", bytes.NewReader(layer(t, ent{name: "mine", body: "m", uid: 7})), ExtractOptions{Owner: &Owner{UID: 1000, GID: 1001}})
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	unix.Lstat(filepath.Join(root, "mine"), &st)
	if st.Uid != 1000 || st.Gid != 1001 {
		t.Errorf("mine: %d:%d", st.Uid, st.Gid)
	}
}

// TestCopyRoundTrip copies a tree out with TarPath and back in with
// ExtractTo, as `docker cp` does between two containers.
func TestCopyRoundTrip(t *testing.T) {
	_, _, merged := overlay(t)
	mutate(t, merged)
	var buf bytes.Buffer
	if err := TarPath(&buf, merged, "/."); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	if err := ExtractTo(dst, "/", &buf, false); err != nil {
		t.Fatal(err)
	}
	compareTrees(t, merged, dst)
}

func TestContainerPath(t *testing.T) {
	for in, want := range map[string]string{
		"/":          "/",
		".":          "/.",
		"/etc/.":     "/etc/.",
		"etc/./":     "/etc/./",
		"/etc/":      "/etc/",
		"/etc//x/":   "/etc/x/",
		"/../../etc": "/etc",
		"a/b/../c":   "/a/c",
	} {
		if got, _ := containerPath(in); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
	if _, err := containerPath(""); !errdefs.IsInvalidArgument(err) {
		t.Error("empty path accepted")
	}
}

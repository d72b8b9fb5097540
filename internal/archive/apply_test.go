package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hako-dev/hako/internal/errdefs"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// ent is one tar entry of a test layer.
type ent struct {
	name, link, body string
	typ              byte
	mode             int64
	uid, gid         int
	mtime            time.Time
	xattrs           map[string]string
	major, minor     int64
}

func layer(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: e.mtime, Devmajor: e.major, Devminor: e.minor, Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if h.Typeflag == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if h.ModTime.IsZero() {
			h.ModTime = time.Unix(1700000000, 0)
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		for k, v := range e.xattrs {
			if h.PAXRecords == nil {
				h.PAXRecords = map[string]string{}
			}
			h.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func zst(b []byte) []byte {
	var buf bytes.Buffer
	w, _ := zstd.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

func apply(t *testing.T, dir string, data []byte, o ApplyOptions) error {
	t.Helper()
	_, err := Apply(context.Background(), dir, bytes.NewReader(data), o)
	return err
}

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown, mknod)")
	}
}

func TestApplyEntryTypes(t *testing.T) {
	needRoot(t)
	mt := time.Unix(1600000000, 123456789)
	l := layer(t,
		ent{name: "etc/", typ: tar.TypeDir, mtime: mt},
		ent{name: "etc/passwd", body: "root:x:0:0::/root:/bin/sh\n", uid: 0, mtime: mt},
		ent{name: "bin/prog", body: "#!/bin/sh\n", mode: 0o4755, uid: 1000, gid: 1000},
		ent{name: "bin/link", typ: tar.TypeLink, link: "bin/prog"},
		ent{name: "bin/sh", typ: tar.TypeSymlink, link: "busybox"},
		ent{name: "abs", typ: tar.TypeSymlink, link: "/etc/passwd"},
		ent{name: "dev/null", typ: tar.TypeChar, major: 1, minor: 3, mode: 0o666},
		ent{name: "run/fifo", typ: tar.TypeFifo, mode: 0o600},
		ent{name: "tmp/", typ: tar.TypeDir, mode: 0o1777},
		ent{name: "x/attr", body: "a", xattrs: map[string]string{"user.hako": "yes"}},
	)
	for name, data := range map[string][]byte{"tar": l, "gzip": gz(l), "zstd": zst(l)} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			n, err := Apply(context.Background(), dir, bytes.NewReader(data), ApplyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(len("root:x:0:0::/root:/bin/sh\n")+len("#!/bin/sh\n")+1) {
				t.Errorf("size %d", n)
			}
			var st unix.Stat_t
			unix.Lstat(filepath.Join(dir, "bin/prog"), &st)
			if st.Mode&0o7777 != 0o4755 || st.Uid != 1000 || st.Gid != 1000 || st.Nlink != 2 {
				t.Errorf("bin/prog: mode %o uid %d gid %d nlink %d", st.Mode&0o7777, st.Uid, st.Gid, st.Nlink)
			}
			if l, _ := os.Readlink(filepath.Join(dir, "bin/sh")); l != "busybox" {
				t.Errorf("symlink %q", l)
			}
			if l, _ := os.Readlink(filepath.Join(dir, "abs")); l != "/etc/passwd" {
				t.Errorf("symlink %q", l)
			}
			unix.Lstat(filepath.Join(dir, "dev/null"), &st)
			if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 || st.Mode&0o777 != 0o666 {
				t.Errorf("dev/null: %o %d:%d", st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
			}
			unix.Lstat(filepath.Join(dir, "run/fifo"), &st)
			if st.Mode&unix.S_IFMT != unix.S_IFIFO {
				t.Errorf("fifo: %o", st.Mode)
			}
			unix.Lstat(filepath.Join(dir, "tmp"), &st)
			if st.Mode&0o7777 != 0o1777 {
				t.Errorf("tmp mode %o", st.Mode&0o7777)
			}
			for _, p := range []string{"etc", "etc/passwd"} {
				fi, _ := os.Lstat(filepath.Join(dir, p))
				if !fi.ModTime().Equal(mt) {
					t.Errorf("%s mtime %v, want %v", p, fi.ModTime(), mt)
				}
			}
			buf := make([]byte, 16)
			if n, err := unix.Lgetxattr(filepath.Join(dir, "x/attr"), "user.hako", buf); err != nil || string(buf[:n]) != "yes" {
				t.Errorf("xattr: %q %v", buf[:n], err)
			}
		})
	}
}

func listing(t *testing.T, dir string) []string {
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func TestWhiteoutsDirect(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	if err := apply(t, dir, layer(t,
		ent{name: "a/keep", body: "1"}, ent{name: "a/gone", body: "2"},
		ent{name: "b/old1", body: "3"}, ent{name: "b/old2/deep", body: "4"},
		ent{name: "c", body: "5"},
	), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	// The opaque marker comes after the layer's own file in b: that file
	// stays. The whiteout of c comes after the layer re-adds c: it stays.
	if err := apply(t, dir, layer(t,
		ent{name: "a/.wh.gone", body: ""},
		ent{name: "b/new", body: "6"},
		ent{name: "b/.wh..wh..opq", body: ""},
		ent{name: "c", body: "7"},
		ent{name: ".wh.c", body: ""},
		ent{name: "missing/.wh.x", body: ""},
	), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(listing(t, dir), " ")
	if got != ". a a/keep b b/new c" {
		t.Fatalf("after whiteouts: %s", got)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "c")); string(b) != "7" {
		t.Errorf("c = %q", b)
	}
}

func TestWhiteoutsOverlay(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	if err := apply(t, dir, layer(t,
		ent{name: "a/.wh.gone", body: ""},
		ent{name: "b/.wh..wh..opq", body: ""},
		ent{name: "b/new", body: "6"},
	), ApplyOptions{Whiteouts: WhiteoutOverlay}); err != nil {
		if strings.Contains(err.Error(), "opaque") {
			t.Skipf("trusted xattrs unsupported here: %v", err)
		}
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(dir, "a/gone"), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 {
		t.Errorf("whiteout device: %o %d %v", st.Mode, st.Rdev, err)
	}
	buf := make([]byte, 4)
	if n, err := unix.Lgetxattr(filepath.Join(dir, "b"), "trusted.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque xattr %q %v", buf[:n], err)
	}
	if _, err := os.Stat(filepath.Join(dir, "b/new")); err != nil {
		t.Error(err)
	}
}

// Hostile layers are refused and change nothing outside the target.
func TestHostileLayers(t *testing.T) {
	needRoot(t)
	cases := map[string]struct {
		lower []ent // applied first (a trusted lower layer)
		evil  []byte
		want  string
	}{
		"dotdot":              {evil: layer(t, ent{name: "../escape", body: "x"}), want: "climbs out"},
		"dotdot deep":         {evil: layer(t, ent{name: "a/../../escape", body: "x"}), want: "climbs out"},
		"absolute":            {evil: layer(t, ent{name: "/abs/../../escape", body: "x"}), want: "absolute"},
		"symlink to /":        {evil: layer(t, ent{name: "evil", typ: tar.TypeSymlink, link: "/"}, ent{name: "evil/escape", body: "x"}), want: "symlink that leads outside"},
		"symlink up":          {evil: layer(t, ent{name: "evil", typ: tar.TypeSymlink, link: "../../../../.."}, ent{name: "evil/escape", body: "x"}), want: "symlink that leads outside"},
		"symlink in lower":    {lower: []ent{{name: "etc", typ: tar.TypeSymlink, link: "/etc"}}, evil: layer(t, ent{name: "etc/escape", body: "x"}), want: "symlink that leads outside"},
		"hardlink absolute":   {evil: layer(t, ent{name: "pw", typ: tar.TypeLink, link: "/etc/passwd"}), want: "absolute"},
		"hardlink up":         {evil: layer(t, ent{name: "pw", typ: tar.TypeLink, link: "../outside/sentinel"}), want: "climbs out"},
		"hardlink via link":   {evil: layer(t, ent{name: "up", typ: tar.TypeSymlink, link: ".."}, ent{name: "pw", typ: tar.TypeLink, link: "up/outside/sentinel"}), want: "symlink that leads outside"},
		"whiteout up":         {evil: layer(t, ent{name: "../.wh.outside", body: ""}), want: "climbs out"},
		"opaque via symlink":  {evil: layer(t, ent{name: "up", typ: tar.TypeSymlink, link: "../outside"}, ent{name: "up/.wh..wh..opq", body: ""}), want: "symlink that leads outside"},
		"device, no devices":  {evil: layer(t, ent{name: "sda", typ: tar.TypeBlock, major: 8, minor: 0}), want: "device nodes are not allowed"},
		"truncated gzip":      {evil: gz(layer(t, ent{name: "big", body: strings.Repeat("x", 100000)}))[:200], want: "layer"},
		"corrupt zstd":        {evil: append(zst(layer(t, ent{name: "f", body: "x"}))[:12], 0xff, 0xff, 0xff), want: "layer"},
		"unknown compression": {evil: []byte("PK\x03\x04 not a tar"), want: "unknown compression"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			top := t.TempDir()
			dir, outside := filepath.Join(top, "root"), filepath.Join(top, "outside")
			os.Mkdir(dir, 0o755)
			os.Mkdir(outside, 0o755)
			os.WriteFile(filepath.Join(outside, "sentinel"), []byte("safe"), 0o644)
			if tc.lower != nil {
				if err := apply(t, dir, layer(t, tc.lower...), ApplyOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			before := listing(t, top)
			err := apply(t, dir, tc.evil, ApplyOptions{NoDevices: true})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error about %q", err, tc.want)
			}
			if !errdefs.IsInvalidArgument(err) && !errdefs.IsPermissionDenied(err) {
				t.Errorf("error category: %v", err)
			}
			after := listing(t, top)
			var outsideBefore, outsideAfter []string
			for _, p := range before {
				if !strings.HasPrefix(p, "root") {
					outsideBefore = append(outsideBefore, p)
				}
			}
			for _, p := range after {
				if !strings.HasPrefix(p, "root") {
					outsideAfter = append(outsideAfter, p)
				}
			}
			if strings.Join(outsideBefore, " ") != strings.Join(outsideAfter, " ") {
				t.Errorf("outside changed: %v → %v", outsideBefore, outsideAfter)
			}
			if b, _ := os.ReadFile(filepath.Join(outside, "sentinel")); string(b) != "safe" {
				t.Error("sentinel changed")
			}
			if _, err := os.Lstat("/escape"); err == nil {
				t.Fatal("/escape exists!")
			}
		})
	}
}

// A relative symlink that stays inside is followed, as images need
// (lib -> usr/lib).
func TestRelativeSymlinkInside(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	if err := apply(t, dir, layer(t,
		ent{name: "usr/lib/", typ: tar.TypeDir},
		ent{name: "lib", typ: tar.TypeSymlink, link: "usr/lib"},
		ent{name: "lib/libc.so", body: "elf"},
	), ApplyOptions{}); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "usr/lib/libc.so")); err != nil || string(b) != "elf" {
		t.Fatalf("%q %v", b, err)
	}
}

func FuzzApply(f *testing.F) {
	f.Add(layer(f, ent{name: "a/b", body: "x"}, ent{name: "l", typ: tar.TypeSymlink, link: "/"}, ent{name: "l/c", body: "y"}))
	f.Add(gz(layer(f, ent{name: "../x", body: "x"})))
	f.Add(layer(f, ent{name: "h", typ: tar.TypeLink, link: "a/b"}, ent{name: ".wh.h"}, ent{name: "d/.wh..wh..opq"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		if os.Geteuid() != 0 {
			t.Skip("needs root")
		}
		top := t.TempDir()
		dir := filepath.Join(top, "root")
		os.Mkdir(dir, 0o755)
		os.WriteFile(filepath.Join(top, "sentinel"), []byte("safe"), 0o644)
		Apply(context.Background(), dir, bytes.NewReader(data), ApplyOptions{NoDevices: true, IgnoreXattrErrors: true})
		ents, _ := os.ReadDir(top)
		if len(ents) != 2 {
			t.Fatalf("something appeared beside the root: %v", ents)
		}
		if b, _ := os.ReadFile(filepath.Join(top, "sentinel")); string(b) != "safe" {
			t.Fatal("sentinel changed")
		}
	})
}
